"""The local AWS endpoint (aws_endpoint.py, aws_requests.py) beside served MQTT endpoints, against hostile callers:
cross-site and DNS-rebinding requests and presigned URLs of any API but S3 are refused (403), a region that is no
AWS region is named (403, not 500), malformed framing is 400 and an oversized body 413 at once, idle or half-sent
requests are closed after the deadline and connections beyond the cap are refused (503); the endpoint keeps serving
and does not deadlock beside MQTT onboarding or Lambda invocations."""
from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localcloud import aws_endpoint
from localcloud.aws_endpoint import AwsEndpoint
from localcloud.cloud import LocalCloud
from localcloud.services.iot.mqtt.endpoints import MqttEndpoints
from tests.localcloud.mqtt.conftest import Served

EU, US = "eu-west-1", "us-west-2"
SCOPE = "AWS4-HMAC-SHA256 Credential=test/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=00"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, AwsEndpoint]]:
    with LocalCloud(state_dir=tmp_path_factory.mktemp("aws-hardening")) as cloud:
        cloud.deploy()
        with MqttEndpoints(cloud, ports={region: 0 for region in cloud.regions}, resolver_port=0) as endpoints, \
                AwsEndpoint(port=0, gate=endpoints.gate) as aws:
            yield Served(cloud, endpoints, tmp_path_factory.mktemp("aws-hardening-devices")), aws


def client(aws: AwsEndpoint, service: str, region: str = EU, timeout: float = 30) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=aws.url, aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=timeout, connect_timeout=5))


def raw(aws: AwsEndpoint, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", aws.port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                head, sep, body = b"".join(chunks).partition(b"\r\n\r\n")
                if sep:  # the whole answer: its head, then as many body bytes as it declares
                    declared = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    if declared is None or len(body) >= int(declared[1]):
                        break
        except TimeoutError:
            pass
        return b"".join(chunks)


def host(aws: AwsEndpoint) -> str:
    return f"127.0.0.1:{aws.port}"


def alive(aws: AwsEndpoint) -> bool:
    return "things" in client(aws, "iot", timeout=10).list_things()


def test_a_region_not_deployed_answers_empty_and_a_fake_region_is_named(served) -> None:
    _, aws = served
    answers = {}
    for region in ("ap-south-1", "zz-fake-9"):
        head = f"GET /things HTTP/1.1\r\nHost: {host(aws)}\r\n" \
               f"Authorization: {SCOPE.format(region=region, service='iot')}\r\nContent-Length: 0\r\n\r\n".encode()
        answers[region] = raw(aws, head)
        print(region, answers[region][:300])
    assert answers["ap-south-1"].startswith(b"HTTP/1.1 200"), answers["ap-south-1"]
    assert answers["zz-fake-9"].startswith(b"HTTP/1.1 4") and b"zz-fake-9" in answers["zz-fake-9"], answers["zz-fake-9"]
    assert alive(aws)


@pytest.mark.parametrize("header", ["Content-Length: abc", "Content-Length: -1", "Transfer-Encoding: chunked",
                                    "Content-Length: 1\r\nContent-Length: 2", "Transfer-Encoding: gzip",
                                    "Content-Length: 3\r\nTransfer-Encoding: chunked"])
def test_malformed_framing_is_400_at_once_without_a_traceback_and_the_server_survives(served, header,
                                                                                      caplog, capfd) -> None:
    _, aws = served
    body = b"zz\r\n" if "chunked" in header else b""
    head = (f"POST / HTTP/1.1\r\nHost: {host(aws)}\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
            f"Authorization: {SCOPE.format(region=EU, service='dynamodb')}\r\n{header}\r\n\r\n").encode() + body
    t0 = time.monotonic()
    answer = raw(aws, head, timeout=5)
    print(header, round(time.monotonic() - t0, 2), answer[:120])
    assert alive(aws)
    assert answer.startswith(b"HTTP/1.1 400"), f"{header}: no 400 answer ({answer[:80]!r})"
    assert time.monotonic() - t0 < 5
    assert "Traceback" not in caplog.text + capfd.readouterr().err


def test_an_exception_inside_moto_is_an_error_answer_and_the_server_survives(served) -> None:
    _, aws = served
    head = (f"POST / HTTP/1.1\r\nHost: {host(aws)}\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
            f"Content-Type: application/x-amz-json-1.0\r\n"
            f"Authorization: {SCOPE.format(region=EU, service='dynamodb')}\r\nContent-Length: 9\r\n\r\nnot json!").encode()
    answer = raw(aws, head)
    print(answer[:300])
    assert answer.startswith(b"HTTP/1.1 4") or answer.startswith(b"HTTP/1.1 5")
    assert alive(aws)


def test_idle_and_half_sent_requests_are_closed_after_the_deadline(served) -> None:
    """Idle half-sent requests, one dripping a byte a second: other callers are served, and every one of them is
    closed once the request deadline (10 s, as MQTT's CONNECT deadline; 2 s here) has passed."""
    _, aws = served
    assert aws_endpoint.REQUEST_DEADLINE_S == 10 and aws.request_deadline_s == 10
    aws.request_deadline_s = 2
    before = threading.active_count()
    socks = []
    try:
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", aws.port))
            s.sendall(f"GET /things HTTP/1.1\r\nHost: {host(aws)}\r\n".encode())
            socks.append(s)
        t0 = time.monotonic()
        assert alive(aws)
        print(f"served beside 200 slow-loris in {time.monotonic() - t0:.2f}s; threads {before} -> "
              f"{threading.active_count()}")
        for _ in range(4):  # a drip: a byte a second never finishes the headers
            try:
                socks[0].sendall(b"X")
            except OSError:
                break
            time.sleep(1)
        time.sleep(1.5)
        still_open = 0
        for s in socks:
            s.setblocking(False)
            try:
                still_open += s.recv(1) != b""
            except BlockingIOError:
                still_open += 1
            except OSError:
                pass
        print("still open after the deadline:", still_open, "threads", threading.active_count())
        assert still_open == 0, f"{still_open} idle half-sent requests still hold a thread and a socket"
    finally:
        aws.request_deadline_s = aws_endpoint.REQUEST_DEADLINE_S
        for s in socks:
            s.close()


def test_connections_beyond_the_cap_are_refused_at_once_with_503() -> None:
    assert aws_endpoint.MAX_CONNECTIONS == 256
    endpoint = AwsEndpoint(port=0)
    endpoint.max_connections = 8
    with endpoint:
        held = [socket.create_connection(("127.0.0.1", endpoint.port)) for _ in range(8)]
        try:
            time.sleep(0.3)
            t0 = time.monotonic()
            answer = raw(endpoint, f"GET / HTTP/1.1\r\nHost: {host(endpoint)}\r\n\r\n".encode(), timeout=5)
            print(answer[:200])
            assert answer.startswith(b"HTTP/1.1 503") and time.monotonic() - t0 < 2, answer
        finally:
            for s in held:
                s.close()
        time.sleep(0.3)
        answer = raw(endpoint, f"GET / HTTP/1.1\r\nHost: {host(endpoint)}\r\n\r\n".encode(), timeout=5)
        assert answer.startswith(b"HTTP/1.1 400"), answer  # a slot again: answered (unsigned: told what is missing)


def test_a_huge_declared_body_is_refused_413_at_once_unread(served) -> None:
    """A Content-Length of 4 GB (the cap is 16 MiB): refused from the declared length, before the body is read."""
    _, aws = served
    s = socket.create_connection(("127.0.0.1", aws.port), timeout=5)
    try:
        s.sendall((f"POST / HTTP/1.1\r\nHost: {host(aws)}\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
                   f"Authorization: {SCOPE.format(region=EU, service='dynamodb')}\r\n"
                   f"Content-Length: {4 * 2**30}\r\n\r\n").encode())
        s.sendall(b"x" * (8 * 2**20))
        try:
            answer = s.recv(200)
        except TimeoutError:
            answer = b""
    finally:
        s.close()
    print(answer[:100])
    assert answer.startswith(b"HTTP/1.1 413"), "a 4 GB body is accepted and read (nothing caps it)"
    assert alive(aws)


def test_a_cross_site_request_is_refused_and_changes_nothing(served) -> None:
    """What a web page can make a browser send (no custom headers: an <img>/form GET, any Host via DNS rebinding):
    a query-protocol call whose scope is in the X-Amz-Credential query parameter."""
    _, aws = served
    query = ("Action=CreateUser&UserName=csrf-user&Version=2010-05-08"
             "&X-Amz-Credential=x%2F20260101%2Fus-east-1%2Fiam%2Faws4_request")
    request = urllib.request.Request(f"{aws.url}/?{query}", headers={"Host": "attacker.example",
                                                                    "Origin": "http://attacker.example"})
    try:
        status = urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as error:
        status = error.code
    users = [u["UserName"] for u in client(aws, "iam").list_users()["Users"]]
    print(status, users)
    assert status == 403
    assert "csrf-user" not in users, "a cross-origin, unsigned-in-effect GET created an IAM user"


def refused(aws: AwsEndpoint, target: str, headers: dict[str, str]) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{aws.url}{target}", headers=headers), timeout=10) as ok:
            return ok.status, ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["message"]


def test_a_foreign_host_a_foreign_origin_and_a_non_s3_presigned_url_are_each_refused(served) -> None:
    """Each defence on its own: a DNS-rebinding Host (no Origin), a cross-site Origin on a loopback Host, a
    browser's Sec-Fetch-Site, a presigned (query-signed) IAM call from a loopback page (no Origin: an <img>)."""
    _, aws = served
    signed = {"Authorization": SCOPE.format(region=EU, service="iot")}
    presigned = ("/?Action=CreateUser&UserName=presigned-user&Version=2010-05-08"
                 "&X-Amz-Credential=x%2F20260101%2Fus-east-1%2Fiam%2Faws4_request&X-Amz-Signature=00")
    cases = {
        "host": ("/things", {**signed, "Host": "attacker.example"}, "Host"),
        "host-port": ("/things", {**signed, "Host": "127.0.0.1:1"}, "Host"),
        "origin": ("/things", {**signed, "Origin": "http://attacker.example"}, "Origin"),
        "null-origin": ("/things", {**signed, "Origin": "null"}, "Origin"),
        "fetch-site": ("/things", {**signed, "Sec-Fetch-Site": "cross-site"}, "cross-site"),
        "presigned": (presigned, {}, "presigned"),
    }
    for name, (target, headers, why) in cases.items():
        status, message = refused(aws, target, headers)
        print(name, status, message)
        assert status == 403 and why in message, (name, status, message)
    for ok_headers in ({**signed, "Host": f"localhost:{aws.port}"}, {**signed, "Origin": f"http://localhost:{aws.port}"}):
        assert refused(aws, "/things", ok_headers)[0] == 200, ok_headers
    assert "presigned-user" not in [u["UserName"] for u in client(aws, "iam").list_users()["Users"]]


def test_an_s3_presigned_url_still_works(served) -> None:
    """``aws s3 presign`` / ``generate_presigned_url`` (SigV4): the one query-signed request served."""
    _, aws = served
    s3 = boto3.client("s3", region_name=EU, endpoint_url=aws.url, aws_access_key_id="test",
                      aws_secret_access_key="test", config=Config(signature_version="s3v4"))
    s3.create_bucket(Bucket="presigned-bucket", CreateBucketConfiguration={"LocationConstraint": EU})
    s3.put_object(Bucket="presigned-bucket", Key="k", Body=b"hello")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "presigned-bucket", "Key": "k"})
    assert "X-Amz-Credential" in url
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"hello"


def test_http_hammering_during_mqtt_onboarding_neither_deadlocks_nor_stalls(served) -> None:
    """8 threads of HTTP calls while a device onboards by JITR over MQTT: no deadlock, bounded latency."""
    from device.session import connect_with_backoff

    srv, aws = served
    stop = threading.Event()
    errors: list[str] = []
    counts = [0]

    def hammer() -> None:
        iot = client(aws, "iot")
        ddb = client(aws, "dynamodb", US)
        while not stop.is_set():
            try:
                iot.list_things()
                ddb.list_tables()
                counts[0] += 2
            except Exception as error:  # noqa: BLE001 - any failure of a call is what this test counts
                errors.append(repr(error))

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        identity = srv.device("hammer-0001")
        t0 = time.monotonic()
        session, _ = connect_with_backoff(lambda: srv.direct(identity, EU), attempts=30, base_s=0.2, cap_s=1)
        session.publish("i/hammer-0001/m", json.dumps({"message": "x"}), qos=1)
        session.close()
        took = time.monotonic() - t0
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    print(f"onboarded in {took:.1f}s beside {counts[0]} HTTP calls; errors {errors[:3]}")
    assert not errors
    assert not any(t.is_alive() for t in threads), "an HTTP caller is stuck (deadlock?)"
    assert took < 30


def test_every_deployed_function_invoked_over_http_answers_promptly(served) -> None:
    """Lambda Invoke over HTTP holds the gate while the handler runs; a handler that calls back into the cloud
    (boto3 in-process, or over MQTT like the canary) must not deadlock the endpoint or the brokers."""
    _, aws = served
    slow: dict[str, float] = {}
    failures: dict[str, str] = {}
    for region in (EU, US):
        lam = client(aws, "lambda", region, timeout=90)
        for fn in lam.list_functions()["Functions"]:
            name = fn["FunctionName"]
            t0 = time.monotonic()
            try:
                answer = lam.invoke(FunctionName=name, Payload=b"{}")
                answer["Payload"].read()
            except Exception as error:  # noqa: BLE001 - any failure of an invoke is what this test reports
                failures[f"{region}/{name}"] = repr(error)[:200]
            took = time.monotonic() - t0
            if took > 5:
                slow[f"{region}/{name}"] = round(took, 1)
    print("slow:", slow, "failures:", failures)
    assert alive(aws)
    assert not failures, failures
    assert not slow, f"invocations that held the cloud's lock for more than 5 s: {slow}"
