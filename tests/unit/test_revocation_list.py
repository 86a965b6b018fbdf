"""The certificate revocation list, published per region for the certificate inspector (under Pulumi mocks).

`python -m pki revoke NAME` writes `<pkiDir>/crl.pem`; each region gets a private bucket for it, the object when
the file exists, and the inspector its CRL_* variables and read access to exactly that object."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import pki
from components.config import ConfigError
from localcloud.mockrun import StackRun, run_stack

PRIMARY_REF = "organization/multi-region-iot/eu-west-1"
RUNS = [("primary_run", "eu-west-1"), ("secondary_run", "us-west-2")]


@pytest.fixture(scope="module")
def revoked_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki-with-crl") / "pki"
    pki.init_pki(out, "iot.example.com")
    pki.issue_device_certificates(out, ["stolen-0001"])
    pki.revoke_device(out, "stolen-0001")
    return out


@pytest.fixture(scope="module")
def published(revoked_pki: Path) -> dict[str, StackRun]:
    primary = run_stack("eu-west-1", config_overrides={"pkiDir": str(revoked_pki)})
    secondary = run_stack("us-west-2", config_overrides={"pkiDir": str(revoked_pki)},
                          stack_outputs={PRIMARY_REF: primary.outputs})
    return {"eu-west-1": primary, "us-west-2": secondary}


def crl_resources(run: StackRun, type_: str) -> list:
    return [r for r in run.of_type(type_) if "-crl-" in r.name]


def inspector(run: StackRun):
    (function,) = [f for f in run.of_type("aws:lambda/function:Function")
                   if f.inputs["name"] == "multi-region-iot-certificate-inspector"]
    return function


def inspector_policy(run: StackRun) -> dict:
    (policy,) = [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "inspector" in p.name]
    return json.loads(policy.inputs["policy"])


def s3_statements(document: dict) -> list[dict]:
    return [s for s in document["Statement"] if any(a.startswith("s3:") for a in s["Action"])]


@pytest.mark.parametrize("run_name, region", RUNS)
def test_each_region_has_a_private_encrypted_tls_only_crl_bucket(request, run_name, region):
    run = request.getfixturevalue(run_name)
    (bucket,) = crl_resources(run, "aws:s3/bucket:Bucket")
    name = f"multi-region-iot-crl-{region}-123456789012"
    assert bucket.inputs["bucket"] == name and not bucket.inputs.get("forceDestroy")
    assert "iotmr:regional:RevocationList" in bucket.parent
    (pab,) = crl_resources(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(pab.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                       "restrictPublicBuckets"))
    (sse,) = crl_resources(run, "aws:s3/bucketServerSideEncryptionConfiguration:"
                                "BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    (policy,) = crl_resources(run, "aws:s3/bucketPolicy:BucketPolicy")
    (deny,) = json.loads(policy.inputs["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    (ownership,) = crl_resources(run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    assert run.outputs["crlBucket"] == name


@pytest.mark.parametrize("run_name, region", RUNS)
def test_without_a_crl_nothing_is_published_and_the_inspector_checks_none(request, run_name, region):
    run = request.getfixturevalue(run_name)
    assert not run.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert not {k for k in inspector(run).inputs["environment"]["variables"] if k.startswith("CRL_")}
    assert s3_statements(inspector_policy(run)) == []


@pytest.mark.parametrize("region", ["eu-west-1", "us-west-2"])
def test_a_crl_is_uploaded_to_every_region_and_wired_into_the_inspector(published, revoked_pki, region):
    run = published[region]
    bucket = f"multi-region-iot-crl-{region}-123456789012"
    (obj,) = run.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    assert (obj.inputs["bucket"], obj.inputs["key"]) == (bucket, "crl.pem")
    assert Path(obj.inputs["source"].path) == revoked_pki / "crl.pem"
    assert obj.inputs["serverSideEncryption"] == "AES256"
    function = inspector(run)
    variables = function.inputs["environment"]["variables"]
    assert variables["CRL_BUCKET"] == bucket and variables["CRL_KEY"] == "crl.pem"
    assert variables["CRL_ISSUER_CERTIFICATE"] == (revoked_pki / "intermediate-ca.crt").read_text()
    (statement,) = s3_statements(inspector_policy(run))
    assert (statement["Action"], statement["Resource"]) == (["s3:GetObject"], [f"arn:aws:s3:::{bucket}/crl.pem"])
    assert obj.urn in function.dependencies  # the function never runs before its CRL is there
    assert run.outputs["crlBucket"] == bucket


def test_a_crl_not_signed_by_the_registered_ca_stops_the_program(revoked_pki, tmp_path):
    other = tmp_path / "other"
    pki.init_pki(other, "iot.example.com")
    shutil.copy(revoked_pki / "crl.pem", other / "crl.pem")
    with pytest.raises(ConfigError, match=re.escape("pkiDir: ")):
        run_stack("eu-west-1", config_overrides={"pkiDir": str(other)})
