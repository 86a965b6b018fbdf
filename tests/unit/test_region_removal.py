"""The README's "Removing a region" works as written: every command of its block, parsed from the README as pasted,
is run here. ``pulumi config set/rm`` edit a stack's config (``--path`` included), ``pulumi up`` runs the program
under Pulumi mocks with that config (a secondary reads the primary's latest outputs), ``pulumi destroy`` must find
nothing deletion-protected in the stack, and ``python -m ops ...`` runs the ops CLI against moto, holding the
region's device policy, its certificates and a running execution.

What the order guarantees (issue 20): once the stack is ``retiring`` nothing attaches the device policy in the region
any more (no DNS record, CA auto-registration off, the JITR rule and the fleet template disabled, the pipe stopped),
so after ``detach-all --wait-executions`` nothing is attached when ``pulumi destroy`` deletes the policy. The
primary's replicas go only after the region's stack, and every step is a config the program accepts."""

from __future__ import annotations

import json
import re
import shlex
import threading
from copy import deepcopy
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from components.config import ConfigError
from components.naming import Names
from localcloud.mockrun import StackRun, run_stack
from tests.unit.conftest import PRIMARY_REF

ROOT = Path(__file__).resolve().parents[2]
PRIMARY, REGION = "eu-west-1", "us-west-2"
NAMES = Names("multi-region-iot")


def key(region: str) -> str:
    return f"arn:aws:kms:{region}:123456789012:key/mrk-" + "0" * 32


def protected(run: StackRun) -> list[str]:
    """Resources `pulumi destroy` would refuse to delete, or delete only after someone turns protection off."""
    found = []
    for r in run.resources:
        replicas = r.inputs.get("replicas") or []
        if r.protect or r.inputs.get("deletionProtectionEnabled") is True:
            found.append(r.name)
        found += [f"{r.name} replica in {rep['regionName']}" for rep in replicas
                  if rep.get("deletionProtectionEnabled") is True]
    return found


def attachers(run: StackRun) -> dict[str, Any]:
    """What can attach the device policy in the region, and whether it can."""
    def one(type_: str, contains: str):
        (found,) = [r for r in run.of_type(type_) if contains in r.name]
        return found.inputs

    records = [r.inputs["name"] for r in run.of_type("aws:route53/record:Record") if "validation" not in r.name]
    return {"records": sorted(records),
            "autoRegistration": one("aws:iot/caCertificate:CaCertificate", "registration")["allowAutoRegistration"],
            "jitrRule": one("aws:iot/topicRule:TopicRule", "jitr")["enabled"],
            "fleetTemplate": one("aws:iot/provisioningTemplate:ProvisioningTemplate", "fleet")["enabled"],
            "pipe": one("aws:pipes/pipe:Pipe", "replication")["desiredState"]}


def readme_commands() -> list[str]:
    """The commands of the README's "Removing a region" block, comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("**Removing a region**", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines() if line.strip()]


def _path(expression: str) -> tuple[str, int | None]:
    found = re.fullmatch(r"(\w+)(?:\[(\d+)\])?", expression)
    assert found, expression
    return found.group(1), int(found.group(2)) if found.group(2) is not None else None


class Operator:
    """Runs the README's commands: config per stack, the program under mocks, ops against moto."""

    def __init__(self, pki_dir: Path):
        base = {"pkiDir": str(pki_dir), "provisioning": "fleet,jitr"}
        self.config: dict[str, dict[str, Any]] = {}
        for stack in (PRIMARY, REGION):
            shipped = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
            own = {k.split(":", 1)[1]: v for k, v in shipped.items() if k.startswith("multi-region-iot:")}
            self.config[stack] = {**own, **base, "provisioningSigningKeyArn": key(stack)}
        self.runs: dict[str, StackRun] = {}
        self.destroyed: set[str] = set()
        self.log: list[tuple[str, str]] = []
        self.moto: Any = None

    def run(self, command: str) -> None:
        argv = shlex.split(command)
        if argv[0] == "pulumi":
            getattr(self, f"pulumi_{argv[1]}")(argv[2:])
        else:
            assert argv[:3] == [".venv/bin/python", "-m", "ops"], command
            self.ops(argv[3:])

    # -- pulumi ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _stack(args: list[str]) -> tuple[str, list[str]]:
        index = args.index("--stack")
        return args[index + 1], args[:index] + args[index + 2:]

    def pulumi_config(self, args: list[str]) -> None:
        action, args = args[0], args[1:]
        stack, args = self._stack(args)
        config = self.config[stack]
        use_path = "--path" in args
        args = [a for a in args if a != "--path"]
        name, index = _path(args[0]) if use_path else (args[0], None)
        if action == "set":
            value = args[1]
            if index is None:
                config[name] = value
            else:
                listed = list(config.get(name) or [])
                listed[index:index + 1] = [value]
                config[name] = listed
        else:
            assert action == "rm" and len(args) == 1, args
            if index is None:
                config.pop(name, None)
            else:
                listed = list(config[name])
                del listed[index]
                config[name] = listed
        self.log.append(("config", stack))

    def pulumi_up(self, args: list[str]) -> None:
        stack, rest = self._stack(args)
        assert not rest and stack not in self.destroyed, (stack, rest)
        config = deepcopy(self.config[stack])
        overrides = {k: config.get(k) for k in {*config, "regions", "removableRegions", "retiring"}}
        outputs = {} if stack == PRIMARY else {PRIMARY_REF: self.runs[PRIMARY].outputs}
        self.runs[stack] = run_stack(stack, config_overrides=overrides, stack_outputs=outputs)
        self.log.append(("up", stack))

    def pulumi_destroy(self, args: list[str]) -> None:
        stack, rest = self._stack(args)
        assert not rest
        assert protected(self.runs[stack]) == [], "pulumi destroy would stop on a protected resource"
        assert self.moto is not None, "nothing detached the device policy before pulumi destroy"
        self.targets_at_destroy = self.moto.targets()
        assert self.targets_at_destroy == [], "pulumi destroy would stop on the device policy"
        self.destroyed.add(stack)
        self.log.append(("destroy", stack))

    # -- ops ------------------------------------------------------------------------------------------------------
    def ops(self, argv: list[str]) -> None:
        from ops import cli

        self.moto = self.moto or MotoRegion()
        assert cli.main(["--json", *argv], clients=self.moto.clients) == 0
        self.log.append(("ops", argv[0]))


class MotoRegion:
    """The region as ops sees it: the device policy attached to two certificates, and a replication execution
    still running (it ends while detach-all waits)."""

    def __init__(self):
        from ops.clients import client_factory

        self._mock = mock_aws()
        self._mock.start()
        self.clients = client_factory(boto3.Session())
        iot = self.clients("iot", REGION)
        iot.create_policy(policyName=NAMES.device_policy, policyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}))
        for _ in range(2):
            certificate = iot.create_keys_and_certificate(setAsActive=True)
            iot.attach_policy(policyName=NAMES.device_policy, target=certificate["certificateArn"])
        sfn = self.clients("stepfunctions", REGION)
        machine = sfn.create_state_machine(
            name=NAMES.replication_state_machine, roleArn="arn:aws:iam::123456789012:role/x",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
        self.execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")["executionArn"]

    def targets(self) -> list[str]:
        return self.clients("iot", REGION).list_targets_for_policy(policyName=NAMES.device_policy)["targets"]

    def stop(self) -> None:
        self._mock.stop()


@pytest.fixture(scope="module")
def fleet_pki(tmp_path_factory) -> Path:
    import pki
    from pki.claim import issue_claim

    out = tmp_path_factory.mktemp("pki")
    pki.init_pki(out, "iot.example.com")
    issue_claim(out)
    return out


@pytest.fixture(scope="module")
def removal(fleet_pki, monkeypatch_module) -> Operator:
    """The deployed system (primary, then secondary), then the README's block, command by command."""
    from ops import detach

    operator = Operator(fleet_pki)
    operator.pulumi_up(["--stack", PRIMARY])
    operator.pulumi_up(["--stack", REGION])
    operator.before = attachers(operator.runs[REGION])

    operator.waits = 0
    real_sleep, waiting_thread = detach.time.sleep, threading.current_thread()

    def sleep(seconds: float) -> None:  # the running execution ends while detach-all waits
        if threading.current_thread() is not waiting_thread:  # time.sleep is global: other threads sleep as ever
            real_sleep(seconds)
            return
        operator.waits += 1
        assert operator.moto.targets(), "detach-all detached before the executions ended"
        operator.moto.clients("stepfunctions", REGION).stop_execution(executionArn=operator.moto.execution)

    monkeypatch_module.setattr(detach.time, "sleep", sleep)
    try:
        for command in readme_commands():
            operator.run(command)
    finally:
        if operator.moto is not None:
            operator.moto.stop()
    return operator


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_block_is_the_order_that_leaves_nothing_to_attach_the_policy(removal):
    assert removal.log == [
        ("up", PRIMARY), ("up", REGION),  # the deployed system
        ("config", REGION), ("up", REGION), ("ops", "detach-all"), ("destroy", REGION),
        ("config", PRIMARY), ("up", PRIMARY), ("config", PRIMARY), ("up", PRIMARY), ("config", PRIMARY),
        ("up", PRIMARY)]


def test_step_1_a_retiring_region_has_nothing_that_attaches_the_device_policy(removal):
    assert removal.before == {"records": ["iot.example.com", "provision.iot.example.com"], "autoRegistration": True,
                              "jitrRule": True, "fleetTemplate": True, "pipe": "RUNNING"}
    assert attachers(removal.runs[REGION]) == {"records": [], "autoRegistration": False, "jitrRule": False,
                                               "fleetTemplate": False, "pipe": "STOPPED"}


def test_step_2_detaches_only_after_the_running_execution_ended(removal):
    assert removal.waits == 1  # the execution was still running: detach-all waited once, then detached
    assert removal.targets_at_destroy == []


def test_step_3_the_regions_own_stack_has_nothing_deletion_protected(removal):
    secondary = removal.runs[REGION]
    assert secondary.of_type("aws:dynamodb/table:Table"), "the secondary has regional tables (nonces, leases, ...)"
    assert protected(secondary) == []
    assert not [r.name for r in secondary.resources if r.retain_on_delete]


def test_steps_4_to_6_leave_the_primary_alone_with_its_protected_tables(removal):
    primary = removal.runs[PRIMARY]
    assert primary.outputs["regions"] == [PRIMARY]
    assert all(not t.inputs.get("replicas") for t in primary.of_type("aws:dynamodb/table:Table"))
    assert len(protected(primary)) == 3
    assert "removableRegions" not in removal.config[PRIMARY]


def test_step_4_turns_protection_off_for_the_removed_regions_replicas_only(fleet_pki):
    config = {"pkiDir": str(fleet_pki)}
    before = run_stack(PRIMARY, config_overrides=config)
    assert set(protected(before)) == {f"multi-region-iot-{t}" for t in ("device-inventory", "data", "allow-list")} | {
        f"multi-region-iot-{t} replica in {REGION}" for t in ("device-inventory", "data", "allow-list")}
    step4 = run_stack(PRIMARY, config_overrides={**config, "removableRegions": [REGION]})
    assert [n for n in protected(step4) if REGION in n] == [] and len(protected(step4)) == 3


def test_the_primary_cannot_retire():
    with pytest.raises(ConfigError, match="retiring = true on the primary"):
        run_stack(PRIMARY, config_overrides={"retiring": "true"})
