"""The local cloud answers like an AWS endpoint (issue 23, part 4): ``up --serve --aws-port`` serves every region's AWS
APIs on one loopback port (``localcloud.aws_endpoint``), and what arrives over HTTP is what an in-process call is.

- which call a request is: botocore's own signed requests of every protocol the local cloud serves (json, CBOR,
  query, rest-json, rest-xml), identified as botocore names them (``localcloud.aws_requests``);
- in process, with an HTTP client in another process: the moto backends the cloud uses are the ones answering, the
  interception hub records the calls and its faults and gates apply, the fixes apply (a REVOKED certificate stays so),
  IoT's HTTP data plane is refused by name, an unsigned request is told what is missing;
- ``up --serve`` in a process of its own: a device onboarded by ``mosquitto_pub`` shows up over the endpoint in both
  regions (boto3 lists it and describes its executions; ``ops status --json`` counts it; ``ops trace --json`` says
  ACTIVE in both), every command the banner prints after its ``export`` line works as printed, an
  ``UpdateCertificate`` to REVOKED over HTTP refuses the device's next MQTT connection in that region only, and a
  ``PutItem`` over HTTP flows through the inventory's stream and pipe into the other region (the decommission there);
- a busy ``--aws-port`` is refused before anything is deployed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localcloud import aws_requests
from tests.localcloud.serving import PROJECT, Serving

EU, US = "eu-west-1", "us-west-2"
CLIENT_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": EU}


# ---- which call a request is -------------------------------------------------------------------------------------
class _Captured(Exception):
    pass


def signed(service: str, operation: str, region: str = EU, **params: Any) -> Any:
    """The request botocore signs and would send for ``operation`` to an endpoint URL (captured, never sent)."""
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test")
    client = session.client(service, region_name=region, endpoint_url="http://127.0.0.1:4566")
    seen: list[Any] = []

    def grab(request: Any, **_: Any) -> None:
        seen.append(request)
        raise _Captured

    client.meta.events.register_first("before-send", grab)
    with pytest.raises(_Captured):
        getattr(client, operation)(**params)
    return seen[0]


def identified(request: Any) -> aws_requests.ApiCall:
    path, _, query = request.url.split("127.0.0.1:4566", 1)[1].partition("?")
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    return aws_requests.identify(request.method, path, query, headers, body)


@pytest.mark.parametrize("service, operation, params, expected", [
    ("iot", "update_certificate", {"certificateId": "a" * 64, "newStatus": "REVOKED"}, ("iot", "UpdateCertificate")),
    ("iot", "list_thing_principals", {"thingName": "t-1"}, ("iot", "ListThingPrincipals")),
    ("iot", "describe_thing", {"thingName": "t-1"}, ("iot", "DescribeThing")),
    ("iot", "list_things", {}, ("iot", "ListThings")),
    ("iot-data", "publish", {"topic": "a/b", "payload": b"{}"}, ("iot-data-plane", "Publish")),
    ("dynamodb", "put_item", {"TableName": "t", "Item": {"k": {"S": "v"}}}, ("dynamodb", "PutItem")),
    ("dynamodbstreams", "list_streams", {}, ("dynamodb-streams", "ListStreams")),
    ("stepfunctions", "describe_execution", {"executionArn": "arn:aws:states:eu-west-1:1:execution:m:e"},
     ("sfn", "DescribeExecution")),
    ("cloudwatch", "list_metrics", {}, ("cloudwatch", "ListMetrics")),
    ("sts", "get_caller_identity", {}, ("sts", "GetCallerIdentity")),
    ("iam", "list_roles", {}, ("iam", "ListRoles")),
    ("s3", "list_objects_v2", {"Bucket": "bkt"}, ("s3", "ListObjectsV2")),
    ("s3", "list_objects", {"Bucket": "bkt"}, ("s3", "ListObjects")),
    ("s3", "get_object", {"Bucket": "bkt", "Key": "a/b.txt"}, ("s3", "GetObject")),
    ("s3", "create_multipart_upload", {"Bucket": "bkt", "Key": "a/b"}, ("s3", "CreateMultipartUpload")),
    ("lambda", "invoke", {"FunctionName": "f"}, ("lambda", "Invoke")),
    ("pipes", "list_pipes", {}, ("pipes", "ListPipes")),
    ("route53", "list_health_checks", {}, ("route-53", "ListHealthChecks")),
    ("events", "put_events", {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "{}"}]},
     ("eventbridge", "PutEvents")),
    ("sqs", "list_queues", {}, ("sqs", "ListQueues")),
    ("logs", "describe_log_groups", {}, ("cloudwatch-logs", "DescribeLogGroups")),
])
def test_every_protocol_is_identified_as_botocore_names_the_call(service, operation, params, expected) -> None:
    for region in (EU, US):
        call = identified(signed(service, operation, region, **params))
        assert (call.service_id, call.operation, call.region) == (*expected, region)
        assert call.event_name == f"before-send.{expected[0]}.{expected[1]}"


def test_the_aws_host_is_the_services_own_global_or_regional() -> None:
    assert identified(signed("iot", "list_things", US)).host == "iot.us-west-2.amazonaws.com"
    assert identified(signed("stepfunctions", "list_state_machines")).host == "states.eu-west-1.amazonaws.com"
    assert identified(signed("dynamodbstreams", "list_streams")).host == "streams.dynamodb.eu-west-1.amazonaws.com"
    assert identified(signed("iam", "list_roles")).host == "iam.amazonaws.com"
    assert identified(signed("route53", "list_health_checks")).host == "route53.amazonaws.com"


def test_an_unsigned_request_or_an_unknown_operation_is_named() -> None:
    with pytest.raises(aws_requests.UnknownRequest, match="not signed with AWS Signature Version 4"):
        aws_requests.identify("GET", "/things", "", {}, b"")
    scope = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-1/iot/aws4_request, Signature=x"}
    with pytest.raises(aws_requests.UnknownRequest, match="no operation of iot matches GET /nowhere"):
        aws_requests.identify("GET", "/nowhere", "", scope, b"")


# ---- in process: the same backends, the hub, the fixes -----------------------------------------------------------
def http_client(url: str, script: str) -> dict[str, Any]:
    """Run ``script`` (boto3 against ``url``, retries off) in another process, as a user's tool would; its JSON."""
    prelude = textwrap.dedent(f"""
        import json, boto3
        from botocore.config import Config
        def c(service, region="{EU}"):
            return boto3.client(service, region_name=region, endpoint_url="{url}",
                                config=Config(retries={{"total_max_attempts": 1, "mode": "standard"}}))
        def code(call):
            try:
                call()
                return "ok"
            except Exception as error:
                return getattr(error, "response", {{}}).get("Error", {{}}).get("Code") or type(error).__name__
        out = {{}}
    """)
    result = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script) + "\nprint(json.dumps(out))"],
                            capture_output=True, text=True, timeout=120, cwd=PROJECT,
                            env={**_clean_env(), **CLIENT_ENV})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Any]:
    from localcloud.aws_endpoint import AwsEndpoint
    from localcloud.cloud import LocalCloud

    with LocalCloud(state_dir=tmp_path / "state") as cloud, AwsEndpoint(port=0, gate=threading.RLock()) as served:
        yield cloud, served


def test_calls_over_http_reach_the_clouds_backends_through_the_interception_hub_and_the_fixes(endpoint) -> None:
    from localcloud import interception
    from localcloud.compat.moto.iot import iot_backends
    from localcloud.compat.moto.core import DEFAULT_ACCOUNT_ID

    _cloud, served = endpoint
    assert served.host == "127.0.0.1" and served.url.startswith("http://127.0.0.1:")
    interception.clear()
    fault = interception.inject("iot", "CreateThing", region=US, error_code="ThrottlingException")
    out = http_client(served.url, f"""
        out["eu"] = code(lambda: c("iot").create_thing(thingName="http-thing"))
        out["us"] = code(lambda: c("iot", "{US}").create_thing(thingName="http-thing"))
        created = c("iot").create_keys_and_certificate(setAsActive=True)
        out["certificate"] = created["certificateId"]
        out["revoke"] = code(lambda: c("iot").update_certificate(certificateId=created["certificateId"],
                                                                   newStatus="REVOKED"))
        out["reactivate"] = code(lambda: c("iot").update_certificate(certificateId=created["certificateId"],
                                                                       newStatus="ACTIVE"))
        out["publish"] = code(lambda: c("iot-data").publish(topic="a/b", payload=b"{{}}"))
        out["account"] = c("sts").get_caller_identity()["Account"]
    """)
    assert (out["eu"], out["us"]) == ("ok", "ThrottlingException") and fault.fired == 1, (out, fault, interception.calls("iot"))
    account = iot_backends[DEFAULT_ACCOUNT_ID]
    assert "http-thing" in [t.thing_name for t in account[EU].things.values()]  # the in-process cloud's backend
    assert "http-thing" not in [t.thing_name for t in account[US].things.values()]
    assert {(c.region, c.operation) for c in interception.calls("iot")} >= {
        (EU, "CreateThing"), (US, "CreateThing"), (EU, "UpdateCertificate")}
    # localcloud.fixes.iot_certificate_status: REVOKED is final (moto alone would set ACTIVE again)
    assert (out["revoke"], out["reactivate"]) == ("ok", "CertificateStateException")
    assert account[EU].certificates[out["certificate"]].status == "REVOKED"
    assert out["publish"] == "NotImplemented"
    assert out["account"] == DEFAULT_ACCOUNT_ID


def test_a_gate_refuses_calls_over_http_as_it_refuses_in_process_ones(endpoint) -> None:
    from localcloud import interception

    class RefuseListThings:
        def decide(self, call: interception.Call) -> str | None:
            return "ThrottlingException" if (call.service, call.operation) == ("iot", "ListThings") else None

    _cloud, served = endpoint
    gate = RefuseListThings()
    interception.add_gate(gate)
    try:
        out = http_client(served.url, """
            out["things"] = code(lambda: c("iot").list_things())
            out["policies"] = code(lambda: c("iot").list_policies())
        """)
    finally:
        interception.remove_gate(gate)
    assert out == {"things": "ThrottlingException", "policies": "ok"}


def test_an_unsigned_request_is_told_what_is_missing(endpoint) -> None:
    _cloud, served = endpoint
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{served.url}/things", timeout=10)
    assert refused.value.code == 400
    assert "Signature Version 4" in json.loads(refused.value.read())["message"]


def test_only_loopback_is_served() -> None:
    from localcloud.aws_endpoint import AwsEndpoint

    with pytest.raises(ValueError, match=r"127\.0\.0\.1 only"):
        AwsEndpoint(port=0, host="0.0.0.0")  # noqa: S104 - what is refused


def test_a_busy_aws_port_is_refused_before_anything_is_deployed(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "localcloud", "--state-dir", str(tmp_path / "state"), "up",
                                 "--serve", "--ports", "eu-west-1=0", "us-west-2=0", "--resolver-port", "0",
                                 "--aws-port", str(port)], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result
    assert f"--aws-port {port}: port {port} on 127.0.0.1 cannot be listened on" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "state").exists()


# ---- up --serve in a process of its own ---------------------------------------------------------------------------
def wait_for(condition: Callable[[], Any], timeout_s: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.5)


def in_bash(export: str, command: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """A printed command pasted into a shell where the printed ``export`` line ran (the project folder)."""
    return subprocess.run(["bash", "-c", f"{export}\n{command}"], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout_s, env=_clean_env())


@pytest.mark.skipif(shutil.which("mosquitto_pub") is None,
                    reason="mosquitto_pub missing: apt-get install -y mosquitto-clients (the banner prints it)")
def test_up_serve_answers_like_an_aws_endpoint_for_the_cloud_its_mqtt_endpoints_serve(tmp_path: Path) -> None:
    serving = Serving(tmp_path / "state", env={**_clean_env(), "COLUMNS": "200"})
    try:
        banner = serving.wait_ready()
        text = "\n".join(banner)
        url = re.search(r"^AWS APIs of eu-west-1, us-west-2: (http://127\.0\.0\.1:\d+) ", text, re.MULTILINE)
        assert url is not None, text
        url = url.group(1)
        export = f"export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test " \
                 f"AWS_DEFAULT_REGION={EU}"
        assert export in banner
        printed = banner[banner.index(export) + 1:-1]
        assert [c.split(" --endpoint-url")[0] for c in printed] == [
            "aws", ".venv/bin/ops", ".venv/bin/ops", ".venv/bin/localcloud dashboard eu-west-1"]

        # a device onboards over MQTT with the printed mosquitto_pub (JITR refuses its first connection)
        (mosquitto,) = [line for line in banner if line.startswith("mosquitto_pub ")]
        assert in_bash("", mosquitto, 30).returncode != 0
        wait_for(lambda: in_bash("", mosquitto, 30).returncode == 0, 60, "mosquitto_pub accepted")

        clients = {region: {service: boto3.client(
            service, region_name=region, endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 2})) for service in ("iot", "stepfunctions", "dynamodb")}
            for region in (EU, US)}

        def things(region: str) -> list[str]:
            return [t["thingName"] for t in clients[region]["iot"].list_things()["things"]]

        wait_for(lambda: "sensor-0001" in things(US), 60, "sensor-0001 replicated to us-west-2")
        assert "sensor-0001" in things(EU)
        certificate = clients[EU]["iot"].describe_thing(thingName="sensor-0001")["attributes"]["certificateId"]
        for region, machine, names in ((EU, "multi-region-iot-jitr", certificate),  # JITR's input: the certificate
                                       (US, "multi-region-iot-replicate-device", "sensor-0001")):
            sfn = clients[region]["stepfunctions"]
            (arn,) = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine]
            found = [sfn.describe_execution(executionArn=e["executionArn"])
                     for e in sfn.list_executions(stateMachineArn=arn)["executions"]]
            mine = {e["status"] for e in found if names in e["input"]}  # JITR runs again for a reconnection meanwhile
            assert mine == {"SUCCEEDED"}, (region, found)

        # the ops commands over the endpoint: --endpoint-url, the printed environment's credentials
        status = in_bash(export, f".venv/bin/ops --endpoint-url {url} status --json")
        assert status.returncode in (0, 1), status.stderr
        report = json.loads(status.stdout)
        assert {r["region"]: r["devices"].get("ACTIVE") for r in report["regions"]} == {EU: 1, US: 1}
        trace = in_bash(export, f".venv/bin/ops --endpoint-url {url} trace sensor-0001 --json")
        assert trace.returncode == 0, trace.stdout[-2000:] + trace.stderr[-2000:]
        verdicts = json.loads(trace.stdout)["verdicts"]
        assert {r: v["verdict"] for r, v in verdicts.items()} == {EU: "ACTIVE, connects", US: "ACTIVE, connects"}

        # every command printed after the export line, as printed
        for command in printed:
            if command.startswith("aws ") and shutil.which("aws") is None:
                continue
            result = in_bash(export, command)
            assert result.returncode in (0, 1) and "Traceback" not in result.stderr, (command, result.stderr[-2000:])
            if command.startswith("aws "):
                assert [t["thingName"] for t in json.loads(result.stdout)["things"]].count("sensor-0001") == 1
            elif command.endswith(" status"):
                assert "Nothing needs attention" in result.stdout or "needs attention" in result.stdout
            elif " trace " in command:
                assert result.returncode == 0 and "ACTIVE, connects" in result.stdout, result.stdout
            else:
                png = Path(command.rsplit("--png ", 1)[1])
                assert result.returncode == 0 and png.stat().st_size > 10_000, result
                drawn = re.search(r"(\d+) widgets, (\d+) with data", result.stdout)
                assert drawn is not None and int(drawn.group(2)) >= 3, result.stdout  # onboarding, queues, canary

        # UpdateCertificate over HTTP does what it does in process: the next MQTT connection there is refused
        principal = clients[US]["iot"].list_thing_principals(thingName="sensor-0001")["principals"][0]
        clients[US]["iot"].update_certificate(certificateId=principal.rsplit("/", 1)[1], newStatus="REVOKED")
        from_us = mosquitto.replace("socks5h://IE:", "socks5h://US:")
        assert in_bash("", from_us, 30).returncode != 0
        assert in_bash("", mosquitto, 30).returncode == 0  # eu-west-1's certificate is its own, still ACTIVE

        # PutItem over HTTP flows through the inventory's stream and pipe into the other region
        eu_dynamodb = clients[EU]["dynamodb"]
        item = eu_dynamodb.get_item(TableName="multi-region-iot-device-inventory",
                                    Key={"ThingName": {"S": "sensor-0001"}}, ConsistentRead=True)["Item"]
        eu_dynamodb.put_item(TableName="multi-region-iot-device-inventory", Item={**item, "Status": {"S": "REVOKED"}})

        def decommissioned(region: str) -> bool:
            sfn = clients[region]["stepfunctions"]
            (arn,) = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                      if m["name"] == "multi-region-iot-decommission-device"]
            return any(e["status"] == "SUCCEEDED" for e in sfn.list_executions(stateMachineArn=arn)["executions"])

        wait_for(lambda: decommissioned(US) and decommissioned(EU), 60, "decommission executions in both regions")
        wait_for(lambda: "sensor-0001" not in things(US), 30, "the thing deleted in us-west-2")
        replica = clients[US]["dynamodb"].get_item(TableName="multi-region-iot-device-inventory",
                                                   Key={"ThingName": {"S": "sensor-0001"}}, ConsistentRead=True)
        assert replica["Item"]["Status"] == {"S": "REVOKED"}
    finally:
        code = serving.stop()
    assert code == 0


# ---- the metrics the local cloud computes, and the dashboard drawn from them --------------------------------------
def test_lambda_lines_become_log_events_and_their_emf_metrics_and_a_dashboard_draws_them(endpoint, tmp_path) -> None:
    import datetime as dt

    from contract import emf
    from localcloud import dashboard
    from localcloud.local_metrics import MetricsCollector
    from localcloud.services.awslambda import inprocess

    cloud, _served = endpoint
    now_ms = int(time.time() * 1000)
    line = emf.line(emf.document("multi-region-iot", [("Registrations", 1, "Count")], dimensions={"Verdict": "NEW"},
                                 fields={"thingName": "emf-0001"}, timestamp_ms=now_ms))
    inprocess.LOG_LINES.append(inprocess.LogLine("multi-region-iot-certificate-inspector", US, "req-1", now_ms, line))
    collector = MetricsCollector(cloud)
    collector._lines = len(inprocess.LOG_LINES) - 1  # only this line (others may be left by earlier tests)
    collector._invocations = len(inprocess.INVOCATIONS)
    assert collector.collect() >= 1 and collector.log_events == 1
    events = boto3.client("logs", region_name=US).filter_log_events(
        logGroupName="/aws/lambda/multi-region-iot-certificate-inspector")["events"]
    assert [json.loads(e["message"])["thingName"] for e in events] == ["emf-0001"]

    cloudwatch = boto3.client("cloudwatch", region_name=US)
    body = {"widgets": [
        {"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6, "properties": {
            "title": "Onboarding", "region": US, "stat": "Sum", "period": 300, "metrics": [
                ["multi-region-iot", "Registrations", "Verdict", "NEW", {"label": "registered NEW"}],
                {"expression": "SEARCH('{multi-region-iot,Verdict} MetricName=\"Registrations\"', 'Sum', 300)",
                 "id": "s", "label": "by verdict"}]}},
        {"type": "metric", "x": 12, "y": 0, "width": 12, "height": 6, "properties": {
            "title": "Rules", "region": US, "stat": "Sum", "period": 300,
            "metrics": [["AWS/IoT", "Failure", "RuleName", "r"]]}},
        {"type": "alarm", "x": 0, "y": 6, "width": 24, "height": 3, "properties": {
            "title": "Alarms", "alarms": [f"arn:aws:cloudwatch:{US}:123456789012:alarm:missing"]}}]}
    cloudwatch.put_dashboard(DashboardName=f"multi-region-iot-{US}", DashboardBody=json.dumps(body))
    clients = lambda service, region: boto3.client(service, region_name=region)  # in process: moto answers
    name, _body, panels = dashboard.read(clients, US, minutes=10, period=60,
                                         now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    assert name == f"multi-region-iot-{US}"
    onboarding, rules, alarms = panels
    assert [(line.label, line.values) for line in onboarding.lines] == [("registered NEW", [1.0]),
                                                                          ("by verdict NEW", [1.0])]
    assert rules.lines == [] and "not computed by the local cloud: AWS/IoT Failure" in rules.notes
    assert alarms.text == ["MISSING           missing"]
    png = tmp_path / "dashboard.png"
    dashboard.draw(name, body, panels, png, end=dt.datetime.now(dt.UTC), minutes=10, period=60, source="test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
