"""The deployer's registry: every resource type the program declares (both stacks, every provisioning mode, with
canaries and the provisioning API) has exactly one creator, or is on the list of types the local cloud deliberately
does not create, with a reason. Runs the program under FakeCloud (no moto), so it is quick."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pki
from builders import canary
from localcloud import deploy
from localcloud.deploy import registry
from localcloud.mockrun import run_stack
from pki.claim import issue_claim

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
PRIMARY_REF = f"organization/multi-region-iot/{PRIMARY}"
DEPLOY_DIR = Path(deploy.__file__).parent


def signing_key(region: str) -> str:
    return f"arn:aws:kms:{region}:123456789012:key/mrk-" + "0" * 32


@pytest.fixture(scope="module")
def declared_types(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Type token -> the configurations that declare it, over both stacks of every configuration."""
    out = tmp_path_factory.mktemp("registry") / "pki"
    pki.init_pki(out, "iot.example.com")
    pki.issue_device_certificates(out, [canary.thing_name(PRIMARY), canary.thing_name(SECONDARY)])  # canaries on
    issue_claim(out)  # fleet provisioning's claim
    found: dict[str, set[str]] = {}
    # (provisioning, with the provisioning API): fleet needs the API's signing key
    for provisioning, api in ((None, False), (None, True), ("jitp", True), ("fleet,jitr", True)):
        label = f"provisioning={provisioning or 'default'}, provisioning API {'on' if api else 'off'}"
        config = {"pkiDir": str(out), **({"provisioning": provisioning} if provisioning else {})}
        primary = run_stack(PRIMARY, config_overrides={
            **config, **({"provisioningSigningKeyArn": signing_key(PRIMARY)} if api else {})})
        secondary = run_stack(SECONDARY, config_overrides={
            **config, **({"provisioningSigningKeyArn": signing_key(SECONDARY)} if api else {})},
            stack_outputs={PRIMARY_REF: primary.outputs})
        for run in (primary, secondary):
            for resource in run.resources:
                if resource.custom:  # components are not created by anyone
                    found.setdefault(resource.type, set()).add(label)
    return found


def test_every_type_the_program_declares_has_a_creator_or_a_reason_not_to(declared_types: dict[str, set[str]]) -> None:
    missing = {t: sorted(where) for t, where in declared_types.items()
               if t not in registry.CREATORS and t not in registry.NOT_CREATED}
    assert missing == {}, "register a creator in localcloud/deploy/ (@creates) or list the type in NOT_CREATED"
    assert len(declared_types) > 40  # the configurations above really reach the optional features
    assert {"aws-native:iot:CertificateProvider", "aws:apigatewayv2/api:Api", "aws:route53/healthCheck:HealthCheck",
            "pulumi-python:dynamic/canary:KeyVersion"} <= set(declared_types)


def test_no_type_is_both_created_and_deliberately_not_created() -> None:
    assert set(registry.CREATORS) & set(registry.NOT_CREATED) == set()
    assert all(reason.strip() for reason in registry.NOT_CREATED.values())


def test_no_creator_is_registered_twice() -> None:
    tokens: list[str] = []
    for module in sorted(DEPLOY_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "creates":
                tokens += [ast.unparse(a) for a in node.args]
    assert len(tokens) == len(set(tokens)) == len(registry.CREATORS), sorted(tokens)
    with pytest.raises(ValueError, match=r"aws:iot/thing:Thing already has a creator \(localcloud\.deploy\.iot\.thing\)"):
        registry.creates("aws:iot/thing:Thing")(lambda ctx, args, inputs, region: ("", {}))
    assert registry.CREATORS["aws:iot/thing:Thing"] is deploy.iot.thing


def test_an_unregistered_dynamic_resource_runs_its_own_provider_and_anything_else_has_no_creator() -> None:
    assert registry.creator_for("pulumi-python:dynamic/test:Probe") is deploy.pulumi_.dynamic
    assert registry.creator_for("aws:ec2/vpc:Vpc") is None
