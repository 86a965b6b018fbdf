"""Our metrics, end to end on the Lambda side: the embedded metric format is written as its specification says
(contract/emf.py), the catalog (contract/metrics.py) is consistent with the code it describes, and every metric of the
catalog is really written by the function that owns it: each scenario below runs that function's handler (or the
pure function that writes the line) and parses what it printed, as CloudWatch Logs would.

Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""
from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from builders import canary as canary_builders
from contract import emf, errors, items, metrics
from functions.canary import handler as canary_handler
from functions.canary.probe import Outcome
from functions.certificate_inspector import handler as inspector_handler
from functions.fleet_provisioning import certificate_provider, hook
from functions.pacer import handler as pacer_handler
from functions.provisioning_api import handler as api_handler
from functions.provisioning_api import service
from localcloud.statemachines.certs import TestCA

ROOT = Path(__file__).resolve().parents[2]
APPLICATION = "iot-test"
REGION = "eu-west-1"


def printed(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def data(lines: list[dict]) -> list[emf.Datum]:
    return emf.parse_lines(json.dumps(line) for line in lines)


@pytest.fixture
def namespace(monkeypatch):
    monkeypatch.setenv(metrics.NAMESPACE_VARIABLE, metrics.namespace(APPLICATION))
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return metrics.namespace(APPLICATION)


# ---- the format ---------------------------------------------------------------------------------------------------

def test_a_document_is_one_json_object_with_the_metadata_and_its_target_members():
    root = emf.document("app", [("Registrations", 1, "Count"), ("Wait", 2.5, "Seconds")],
                        dimensions={"Verdict": "NEW"}, fields={"thingName": "dev-1", "skipped": None},
                        timestamp_ms=1_700_000_000_123)
    assert root == {"Verdict": "NEW", "Registrations": 1, "Wait": 2.5, "thingName": "dev-1", "_aws": {
        "Timestamp": 1_700_000_000_123, "CloudWatchMetrics": [{
            "Namespace": "app", "Dimensions": [["Verdict"]],
            "Metrics": [{"Name": "Registrations", "Unit": "Count"}, {"Name": "Wait", "Unit": "Seconds"}]}]}}
    text = emf.line(root)
    assert "\n" not in text and json.loads(text) == root
    assert emf.parse(text) == [
        emf.Datum("app", "Registrations", "Count", {"Verdict": "NEW"}, 1.0, 1_700_000_000_123),
        emf.Datum("app", "Wait", "Seconds", {"Verdict": "NEW"}, 2.5, 1_700_000_000_123)]
    assert emf.parse('{"message": "not a metric"}') == [] and emf.parse("plain text") == []


@pytest.mark.parametrize("change, message", [
    (dict(metrics=[(f"m{i}", 1, "Count") for i in range(101)]), "allows 100"),
    (dict(dimensions={f"d{i}": "v" for i in range(31)}), "1 to 30"),
    (dict(dimensions={}), "1 to 30"),
    (dict(dimensions={"Verdict": 7}), "non-empty ASCII string"),
    (dict(dimensions={"Verdict": ""}), "non-empty ASCII string"),
    (dict(metrics=[("m", float("nan"), "Count")]), "finite number"),
    (dict(metrics=[("m", True, "Count")]), "finite number"),
    (dict(metrics=[("m", 1, "Things")]), "not a CloudWatch unit"),
    (dict(metrics=[("Verdict", 1, "Count")]), "name of a dimension"),
    (dict(fields={"m": "x"}), "overwrite"),
    (dict(fields={"_aws": {}}), "overwrite"),
    (dict(namespace=""), "non-empty string"),
])
def test_what_the_specification_forbids_is_refused_before_a_line_is_written(change, message):
    arguments = {"namespace": "app", "metrics": [("m", 1, "Count")], "dimensions": {"Verdict": "NEW"}, "fields": {}}
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        emf.document(arguments.pop("namespace"), arguments.pop("metrics"), **arguments)


def test_a_line_over_the_event_size_is_refused():
    with pytest.raises(ValueError, match="event limit"):
        emf.line({"x": "a" * emf.MAX_EVENT_BYTES})


def test_without_a_namespace_the_line_is_a_log_record_and_no_metric(monkeypatch, capsys):
    monkeypatch.delenv(metrics.NAMESPACE_VARIABLE, raising=False)
    metrics.emit([(metrics.REGISTRATIONS, 1)], dimensions={"Verdict": "NEW"}, fields={"thingName": "dev-1"})
    (line,) = printed(capsys)
    assert line == {"Verdict": "NEW", "Registrations": 1, "thingName": "dev-1"} and data([line]) == []


def test_emit_refuses_dimensions_other_than_the_catalogs():
    with pytest.raises(ValueError, match="has dimensions"):
        metrics.emit([(metrics.REGISTRATIONS, 1)], dimensions={"Reason": "x"}, environ={})


# ---- the catalog --------------------------------------------------------------------------------------------------

def test_the_catalog_names_each_metric_once_with_valid_units_and_dimension_sets():
    names = [m.name for m in metrics.CATALOG]
    assert len(names) == len(set(names))
    for metric in metrics.CATALOG:
        assert metric.unit in emf.UNITS and 1 <= len(metric.dimensions) <= emf.MAX_DIMENSIONS
        assert set(metric.values) <= set(metric.dimensions)
        assert (ROOT / "functions" / metric.emitted_by / "__init__.py").is_file(), metric


def test_every_function_writes_some_metric():
    folders = {p.parent.name for p in (ROOT / "functions").glob("*/__init__.py")}
    assert {m.emitted_by for m in metrics.CATALOG} == folders


def test_the_dimension_values_are_the_codes():
    assert set(metrics.REGISTRATION_VERDICTS) == set(items.CLAIM_CONDITIONS) | {"KNOWN"}
    assert set(metrics.REFUSAL_REASONS) == {name for names in errors.INSPECTOR.values() for name in names}
    assert set(metrics.PACER_REFUSAL_REASONS) == {pacer_handler.QueueTooLong.__name__,
                                                  pacer_handler.PacingContention.__name__}
    # Every error the provisioning API answers with: service.refuse(status, "<error>", ...) and the handler's 400.
    tree = ast.parse((ROOT / "functions/provisioning_api/service.py").read_text(encoding="utf-8"))
    refused = {call.args[1].value for call in ast.walk(tree) if isinstance(call, ast.Call)
               and getattr(call.func, "id", None) == "refuse" and isinstance(call.args[1], ast.Constant)}
    assert refused and refused | {"BadRequest", "Provisioned"} == set(metrics.PROVISIONING_OUTCOMES)


# ---- every metric, written by its function --------------------------------------------------------------------------

class _NotFound(Exception):
    pass


class _ConditionFailed(Exception):
    pass


class _Iot:
    class exceptions:
        ResourceNotFoundException = _NotFound

    def __init__(self, pem: str, ca_id: str) -> None:
        self.pem, self.ca_id = pem, ca_id

    def describe_certificate(self, certificateId):
        return {"certificateDescription": {"certificatePem": self.pem, "certificateId": certificateId,
                                           "certificateArn": f"arn:aws:iot:{REGION}:1:cert/{certificateId}",
                                           "caCertificateId": self.ca_id}}


class _DynamoDb:
    class exceptions:
        ConditionalCheckFailedException = _ConditionFailed

    def __init__(self, item=None) -> None:
        self.item = item

    def get_item(self, **request):
        return {"Item": self.item} if self.item else {}

    def update_item(self, **request):
        return {}


def _inspect(monkeypatch, capsys, *, owner_item: bool) -> tuple[list[dict], str | None, str]:
    ca = TestCA()
    device = ca.device("sensor-0042")
    item = {"ThingName": {"S": device.name}, "CertificateId": {"S": "f" * 64}, "Status": {"S": "ACTIVE"}} \
        if owner_item else None
    monkeypatch.setenv("INVENTORY_TABLE", "inventory")
    monkeypatch.setenv("EXPECTED_CA_CERTIFICATE_ID", ca.certificate_id)
    monkeypatch.delenv("REGISTRATION_LEASE_TABLE", raising=False)
    monkeypatch.setattr(inspector_handler, "_clients", lambda region: (_Iot(device.pem, ca.certificate_id),
                                                                       _DynamoDb(item)))
    event = {"Event": {"certificateId": device.certificate_id, "caCertificateId": ca.certificate_id},
             "ExecutionId": "arn:aws:states:eu-west-1:1:execution:iot-test-jitr:jitr-1"}
    try:
        inspector_handler.handler(event, None)
    except inspector_handler.InspectionError:
        pass
    return printed(capsys), device.name, device.certificate_id


def registration(monkeypatch, capsys):
    lines, thing, certificate = _inspect(monkeypatch, capsys, owner_item=False)
    (line,) = lines
    assert (line["thingName"], line["certificateId"], line["executionId"]) == (
        thing, certificate, "arn:aws:states:eu-west-1:1:execution:iot-test-jitr:jitr-1")
    return lines


def refusal(monkeypatch, capsys):
    lines, thing, certificate = _inspect(monkeypatch, capsys, owner_item=True)
    (line,) = lines
    assert (line["Reason"], line["thingName"], line["certificateId"], line["level"]) == (
        "ThingNameClaimedByAnotherCertificate", thing, certificate, "WARNING")
    return lines


def _pacer(monkeypatch, capsys, events: list[dict]) -> list[dict]:
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="pacing", KeySchema=[{"AttributeName": "Api", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "Api", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        monkeypatch.setenv("PACING_TABLE", "pacing")
        pacer_handler._dynamodb.cache_clear()
        for event in events:
            try:
                pacer_handler.handler(event, None)
            except pacer_handler.QueueTooLong:
                pass
        pacer_handler._dynamodb.cache_clear()
    return printed(capsys)


def pacer_slots(monkeypatch, capsys):
    lines = _pacer(monkeypatch, capsys, [{"Api": "iot:AttachPolicy", "Rate": 2, "HorizonSeconds": 900}] * 3)
    assert [line["Api"] for line in lines] == ["iot:AttachPolicy"] * 3
    waits = [line["PacerWait"] for line in lines]
    assert waits[-1] > waits[0]  # the third slot wakes a whole second after the first (rate 2/s): the backlog
    return lines


def pacer_refusal(monkeypatch, capsys):
    lines = _pacer(monkeypatch, capsys, [{"Api": "iot:AttachPolicy", "Rate": 1, "HorizonSeconds": 1}] * 4)
    assert lines[-1]["Reason"] == "QueueTooLong" and lines[-1]["level"] == "WARNING"
    return lines


def provisioning(monkeypatch, capsys):
    answers = iter([service.Answer(200, {"thingName": "sensor-1", "certificateId": "c" * 64}),
                    service.Answer(403, {"error": "NotAuthorized", "message": "..."})])
    monkeypatch.setattr(api_handler.service, "provision", lambda *args: next(answers))
    monkeypatch.setattr(api_handler, "_clients", lambda *args: (None, None, None, None))
    for name, value in {"INVENTORY_TABLE": "i", "ALLOW_LIST_TABLE": "a", "NONCE_TABLE": "n", "DEVICE_POLICY_NAME": "p",
                        "CA_CERTIFICATE_ID": "c", "DEVICE_ENDPOINT": "e", "CA_SIGNING_KEY_ARN": "k",
                        "REGIONS": REGION, "DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    from tests.provisioning import kit

    body = kit.Device.new("sensor-1").body()
    for event in ({"no": "request context"}, kit.event(body), kit.event(body)):
        api_handler.handler(event, None)
    lines = printed(capsys)
    assert [line["Outcome"] for line in lines] == ["BadRequest", "Provisioned", "NotAuthorized"]
    assert lines[1]["certificateId"] == "c" * 64 and lines[1]["thingName"] == "sensor-1"
    assert not any("signature" in line or "csr" in line for line in lines)  # nothing secret in the records
    return lines


def fleet_hook(monkeypatch, capsys):
    ca = TestCA()
    for name, value in {"ALLOW_LIST_TABLE": "a", "INVENTORY_TABLE": "i", "CA_CERTIFICATE_ID": ca.certificate_id,
                        "CA_CERTIFICATE_PEM": ca.pem}.items():
        monkeypatch.setenv(name, value)
    answer = hook.handler({"parameters": {"SerialNumber": "canary-eu-west-1"}, "clientId": "claim-1",
                           "certificateId": "d" * 64}, None)
    assert answer == {"allowProvisioning": False}
    lines = printed(capsys)
    assert [(line["Verdict"], line["thingName"], line["certificateId"]) for line in lines] == [
        ("Refused", "canary-eu-west-1", "d" * 64)] and "reserved" in lines[0]["reason"]
    return lines


def fleet_certificate(monkeypatch, capsys):
    ca = TestCA()
    for name, value in {"CA_SIGNING_KEY_ARN": "arn:aws:kms:eu-west-1:1:key/k", "CA_CERTIFICATE_PEM": ca.pem,
                        "ALLOW_LIST_TABLE": "a"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(certificate_provider.CertificateRequestRefused):
        certificate_provider.handler({"certificateSigningRequest": "not a CSR"}, None)
    lines = printed(capsys)
    assert [line["Verdict"] for line in lines] == ["Refused"] and "PEM CSR" in lines[0]["reason"]
    return lines


def canary_round_trip(monkeypatch, capsys):
    monkeypatch.setenv("METRIC_REGION", REGION)
    monkeypatch.setenv("CLIENT_ID", "canary-eu-west-1")
    monkeypatch.setattr(canary_handler.boto3, "client", lambda *args, **kwargs: None)
    outcomes = iter([{"success": True, "step": "done", "detail": "", "seconds": 0.4321},
                     {"success": False, "step": "connect", "detail": "refused", "seconds": 8.0}])
    monkeypatch.setattr(canary_handler, "run", lambda *args, **kwargs: next(outcomes))
    canary_handler.handler({}, None)
    canary_handler.handler({}, None)
    lines = printed(capsys)
    assert lines[0]["CanaryRoundTrip"] == 432.1 and lines[0]["thingName"] == "canary-eu-west-1"
    assert "_aws" not in lines[1] and lines[1]["step"] == "connect"  # a failed probe: a record, Success 0 counts it
    return lines


SCENARIOS: dict[str, Callable] = {
    metrics.REGISTRATIONS.name: registration, metrics.REFUSALS.name: refusal,
    metrics.PACER_SLOTS.name: pacer_slots, metrics.PACER_WAIT.name: pacer_slots,
    metrics.PACER_REFUSALS.name: pacer_refusal, metrics.PROVISIONING_REQUESTS.name: provisioning,
    metrics.FLEET_HOOK_VERDICTS.name: fleet_hook, metrics.FLEET_CERTIFICATES.name: fleet_certificate,
    metrics.CANARY_ROUND_TRIP.name: canary_round_trip,
}


def test_every_metric_of_the_catalog_has_a_scenario():
    assert set(SCENARIOS) == {m.name for m in metrics.CATALOG}


@pytest.mark.parametrize("metric", metrics.CATALOG, ids=lambda m: m.name)
def test_the_function_writes_the_metric_as_the_catalog_names_it(metric, namespace, monkeypatch, capsys):
    lines = SCENARIOS[metric.name](monkeypatch, capsys)
    found = [d for d in data(lines) if d.name == metric.name]
    assert found, f"{metric.emitted_by} wrote no {metric.name}: {lines}"
    for datum in found:
        assert (datum.namespace, datum.unit, tuple(datum.dimensions)) == (namespace, metric.unit, metric.dimensions)
        for dimension, allowed in metric.values.items():
            assert datum.dimensions[dimension] in allowed
    for line in lines:  # every line is a structured record: its fields are members, never text in a message
        assert isinstance(line.get("message"), str) and "{" not in line["message"]


def test_the_canary_puts_success_in_its_own_namespace_with_the_region_dimension():
    """The one metric not in the catalog: ``<application>/Canary`` ``Success`` (PutMetricData, so that a failed run
    puts a 0 even when nothing else works), which the canary alarm and the dashboard read."""
    class CloudWatch:
        def __init__(self) -> None:
            self.calls: list[dict] = []

        def put_metric_data(self, **request):
            self.calls.append(request)

    class Secrets:
        def get_secret_value(self, SecretId):
            raise RuntimeError("no key")

    env = {"ENDPOINT_HOST": "h", "SERVER_NAME": "s", "KEY_SECRET_ARN": "k", "CLIENT_ID": "c", "CERTIFICATE_PEM": "",
           "TRUST_PEM": "", "TOPIC": "t", "METRIC_NAMESPACE": canary_builders.metric_namespace(APPLICATION),
           "METRIC_REGION": REGION}
    cloudwatch = CloudWatch()
    result = canary_handler.run(env, secrets=Secrets(), cloudwatch=cloudwatch,
                                probe=lambda *a: Outcome(True, "done", "", 0.1))
    assert result["success"] is False  # the key could not be read: a 0, never nothing
    (request,) = cloudwatch.calls
    assert request["Namespace"] == canary_builders.metric_namespace(APPLICATION)
    ((datum,),) = [request["MetricData"]]
    assert (datum["MetricName"], datum["Dimensions"], datum["Value"]) == (
        canary_builders.METRIC_NAME, [{"Name": canary_builders.DIMENSION, "Value": REGION}], 0.0)
