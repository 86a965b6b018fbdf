"""A device revoked with `python -m pki revoke` before it ever connected (a key stolen at the factory) is refused
by JITR in every region, end to end in the local cloud: the CRL is published per region by the program, the
inspector reads it from S3 and the JITR machine revokes the certificate (`CertificateRevokedByCa`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

import pki
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud.fixes import s3_secure_transport
from localcloud.services import ConnectionRefused

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
REGIONS = (PRIMARY, SECONDARY)


@pytest.fixture(scope="module")
def devices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, dict[str, pki.IssuedCertificate]]]:
    """The local PKI issues two devices and revokes one of them before the stacks are deployed."""
    with LocalCloud(state_dir=tmp_path_factory.mktemp("localcloud-crl")) as cloud:
        issued = {d.name: d for d in pki.issue_device_certificates(cloud.pki_dir, ["stolen-0001", "honest-0001"])}
        pki.revoke_device(cloud.pki_dir, "stolen-0001")
        cloud.deploy()
        yield cloud, issued


def jitr_failures(region: str, certificate_id: str) -> list[str]:
    """The error of every failed JITR execution started for ``certificate_id`` in ``region``."""
    errors = []
    sfn = boto3.client("stepfunctions", region_name=region)
    for execution in observe.executions(region):
        if execution.machine != "multi-region-iot-jitr" or certificate_id not in execution.input:
            continue
        described = sfn.describe_execution(executionArn=execution.arn)
        if described["status"] == "FAILED":
            errors.append(described.get("error", ""))
    return errors


def test_the_crl_is_published_in_every_region(devices) -> None:
    cloud, _ = devices
    for region in REGIONS:
        body = boto3.client("s3", region_name=region).get_object(
            Bucket=cloud.outputs(region)["crlBucket"], Key="crl.pem")["Body"].read()
        assert body == (cloud.pki_dir / "crl.pem").read_bytes()


@pytest.mark.parametrize("region", REGIONS)
def test_a_device_revoked_before_its_first_connection_is_refused_by_jitr(devices, region: str) -> None:
    cloud, issued = devices
    stolen = issued["stolen-0001"]
    with pytest.raises(ConnectionRefused):
        cloud.engines.iot.connect(region, stolen.certificate_pem, stolen.name)
    cloud.settle()
    assert observe.certificate_status(region, stolen.certificate_id) == "REVOKED"
    assert jitr_failures(region, stolen.certificate_id) == ["CertificateRevokedByCa"]
    with pytest.raises(ConnectionRefused, match="REVOKED"):
        cloud.engines.iot.connect(region, stolen.certificate_pem, stolen.name)
    table = cloud.primary_outputs["inventoryTableName"]
    assert [i for i in observe.table_items(region, table) if i["ThingName"] == stolen.name] == []


def test_a_device_not_on_the_crl_is_onboarded_as_usual(devices) -> None:
    cloud, issued = devices
    honest = issued["honest-0001"]
    connection = cloud.connect(PRIMARY, honest.certificate_pem, honest.name)
    assert connection.attempts == 2 and connection.thing_name == honest.name
    cloud.settle()
    assert cloud.connect(SECONDARY, honest.certificate_pem, honest.name, attempts=1).open


def test_tls_only_bucket_policies_deny_only_requests_without_tls() -> None:
    """The s3_secure_transport fix: the policy pack's TLS-only statement leaves TLS requests (all local ones) alone."""
    deny = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    allow_tls = {**deny, "Effect": "Allow", "Condition": {"Bool": {"aws:SecureTransport": ["true"]},
                                                          "StringEquals": {"aws:SourceAccount": "123456789012"}}}
    kept = json.loads(s3_secure_transport.applicable_policy(json.dumps({"Version": "2012-10-17",
                                                                          "Statement": [deny, allow_tls]})))
    assert kept["Statement"] == [{**allow_tls, "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}]
