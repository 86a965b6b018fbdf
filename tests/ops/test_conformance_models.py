"""The live conformance kit's AWS calls, checked against botocore's service models.

The live code path (``LiveWorld``: a boto3 Session, ``iot-data`` for publishes) runs every probe against plain moto
(``mock_aws``), with the network parts faked: MQTT sessions (a claim's fleet provisioning answered by a fake that
registers the signed certificate in moto), TLS handshakes, DNS, and time. botocore validates every call's parameters
against the service model before moto (or, for what moto 5.2.5 lacks, a canned answer below) sees it; the world's
ledger records each validated call with its parameters. The observations are meaningless here (moto runs no rules);
what is checked is that each probe runs to its end through the live path, that every operation it calls exists in
the service model, and that every resource the kit creates is tagged in its create request.
"""
from __future__ import annotations

import json

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from localcloud import fixes
from ops.conformance import certs
from ops.conformance.expectations import expectations
from ops.conformance.probes import PROBES
from ops.conformance.resources import TAG_KEY, Run
from ops.conformance.runner import run_probes
from ops.conformance.world import LiveWorld, Refused

REGION, PARTNER = "eu-west-1", "us-west-2"
RUN = Run("0123abcd")

#: Operations moto 5.2.5 does not implement (or routes nowhere: iot-data on the account's own endpoint host), answered
#: here after botocore's validation.
CANNED = ("iot-data.Publish", "iot.CreateProvisioningTemplate", "iot.DeleteProvisioningTemplate",
          "iot.ListProvisioningTemplates", "iot.CreateCertificateProvider", "iot.DeleteCertificateProvider",
          "iot.ListCertificateProviders", "iot.ListCACertificates", "iot.ListTagsForResource",
          "iot.DescribeDomainConfiguration")  # moto's has no domainName for an AWS-managed domain


class Canned:
    """Stateful answers for the operations moto lacks; templates and providers must be deletable once created."""

    def __init__(self) -> None:
        self.templates: dict[str, str] = {}
        self.providers: dict[str, str] = {}  # name -> region

    def __call__(self, model, params, context, **kwargs):  # botocore's before-call, after param validation
        if f"{model.service_model.service_name}.{model.name}" not in CANNED:
            return None  # moto answers
        operation, region = model.name, context.get("client_region") or REGION
        path_name = params["url_path"].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        body = json.loads(params.get("body") or b"{}") if params.get("body") else {}
        answer: dict = {}
        if operation == "CreateProvisioningTemplate":
            arn = f"arn:aws:iot:{region}:123456789012:provisioningtemplate/{body['templateName']}"
            self.templates[body["templateName"]] = arn
            answer = {"templateArn": arn, "templateName": body["templateName"], "defaultVersionId": 1}
        elif operation == "DeleteProvisioningTemplate":
            self.templates.pop(path_name, None)
        elif operation == "ListProvisioningTemplates":
            answer = {"templates": [{"templateName": t, "templateArn": a} for t, a in self.templates.items()]}
        elif operation == "CreateCertificateProvider":
            self.providers[path_name] = region
            answer = {"certificateProviderName": path_name,
                      "certificateProviderArn": f"arn:aws:iot:{region}:123456789012:certificateprovider/{path_name}"}
        elif operation == "DeleteCertificateProvider":
            self.providers.pop(path_name, None)
        elif operation == "ListCertificateProviders":
            answer = {"certificateProviders": [{"certificateProviderName": p} for p, r in self.providers.items()
                                               if r == region]}
        elif operation == "DescribeDomainConfiguration":
            answer = {"domainConfigurationName": path_name, "domainName": f"abc123-ats.iot.{region}.amazonaws.com",
                      "domainType": "AWS_MANAGED", "domainConfigurationStatus": "ENABLED"}
        elif operation == "ListCACertificates":
            answer = {"certificates": []}
        elif operation == "ListTagsForResource":  # moto keeps no IoT tags; the create requests carried them
            arn = (params.get("query_string") or {}).get("resourceArn", "")
            answer = {"tags": [{"Key": TAG_KEY, "Value": RUN.id}] if RUN.id in arn else []}
        return AWSResponse("https://canned", 200, {}, None), answer


class FakeClaimSession:
    """A claim's MQTT connection: CreateCertificateFromCsr signs with a throw-away CA and registers the certificate
    in moto (PENDING_ACTIVATION, as AWS does); RegisterThing makes the thing."""

    authority = certs.new_ca("fake fleet CA")

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id

    def subscribe(self, topic_filter: str) -> None:
        pass

    def request(self, topic, payload, timeout_s=10.0):
        iot = boto3.client("iot", region_name=REGION)
        if topic.endswith("create-from-csr/json"):
            pem = certs.sign_csr(self.authority, payload["certificateSigningRequest"])
            created = iot.register_certificate_without_ca(certificatePem=pem, status="INACTIVE")
            return f"{topic}/accepted", {"certificateId": created["certificateId"], "certificatePem": pem,
                                         "certificateOwnershipToken": "token"}
        iot.create_thing(thingName=payload["parameters"]["SerialNumber"])
        return f"{topic}/accepted", {"thingName": payload["parameters"]["SerialNumber"], "deviceConfiguration": {}}

    def close(self) -> None:
        pass


def connect(host, certificate_pem, key_pem, client_id, chain_pem):
    if "jitr" in client_id:
        raise Refused("closed before CONNACK (fake: JITR)")
    return FakeClaimSession(client_id)


@pytest.fixture(scope="module")
def live_on_moto():
    from ops.conformance.local import _aws_managed_policy

    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    # moto with the local cloud's named fixes (docs/emulator.md): e.g. a forced DeleteCertificate also drops its
    # policy attachments, as AWS does, so the kit's cleanup works here as it does in AWS
    with fixes.patched(), mock_aws(config={"iot": {"use_valid_cert": True}}):
        session = boto3.Session(region_name=REGION)
        canned = Canned()
        session.events.register("before-call", canned)  # after the world's ledger (registered first per client)
        world = LiveWorld(session, REGION, PARTNER, sleep=sleep, clock=lambda: clock[0], connect=connect,
                          tls=lambda target, version: ("refused", "fake"), resolve=lambda host: True)
        with world:
            _aws_managed_policy(world.account_id, "AWSIoTThingsRegistration")
            report = run_probes(world, RUN, list(PROBES), expectations())
        yield world, report


def test_every_probe_runs_to_its_end_through_the_live_path(live_on_moto):
    _, report = live_on_moto
    assert [r.probe.register_row for r in report.results] == [p.register_row for p in PROBES]
    failed = {r.probe.register_row: r.observed["error"] for r in report.results if "error" in r.observed}
    assert not failed
    assert not report.left  # and everything it created was deleted again


def test_every_operation_called_exists_in_its_service_model(live_on_moto):
    world, report = live_on_moto
    models = botocore.session.get_session()
    for result in report.results:
        assert result.calls, f"{result.probe.register_row} made no AWS call"
        for call in result.calls:
            assert call.operation in models.get_service_model(call.service).operation_names, call
    called = {f"{c.service}.{c.operation}" for c in world.calls}
    # the live path's own calls, which the local run answers elsewhere, were made (and so validated)
    assert {"iot-data.Publish", "iot.DescribeEndpoint", "iot.CreateProvisioningTemplate",
            "iot.CreateCertificateProvider", "iot.ListCertificateProviders", "lambda.CreateFunction",
            "lambda.AddPermission", "iot.CreateDomainConfiguration", "iot.DescribeDomainConfiguration",
            "iot.UpdateDomainConfiguration", "iot.DeleteDomainConfiguration", "iot.RegisterCACertificate"} <= called


def test_every_create_request_names_the_run_and_tags_it(live_on_moto):
    world, _ = live_on_moto
    tag = {"Key": TAG_KEY, "Value": RUN.id}
    creates = [c for c in world.calls if c.operation.startswith(("Create", "Register")) and c.service != "sts"]
    assert creates
    for call in creates:
        p = call.params
        if call.operation in ("CreateKeysAndCertificate", "RegisterCertificateWithoutCA", "CreateThing"):
            # certificates take no tags (the run's marker policy is attached); things carry the run attribute
            if call.operation == "CreateThing":
                assert p["attributePayload"]["attributes"]["iotmr_conformance_run"] == f"run-{RUN.id}"
            continue
        tags = p.get("Tags", p.get("tags"))
        assert tags in ([tag], [{"Key": TAG_KEY, "Value": RUN.id}], {TAG_KEY: RUN.id}, f"{TAG_KEY}={RUN.id}"), call
        name = next(v for k, v in p.items() if k in ("RoleName", "TableName", "QueueName", "ruleName", "policyName",
                                                     "FunctionName", "templateName", "certificateProviderName",
                                                     "domainConfigurationName", "caCertificate"))
        assert RUN.id in name or call.operation == "RegisterCACertificate", call
