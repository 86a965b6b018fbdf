"""The AWS IoT Device SDK v2's identity client (``awsiot.iotidentity.IotIdentityClientV2``) over its MQTT 5 client
(``awsiot.mqtt5_client_builder``), as AWS's current samples (``samples/service_clients/fleet_provisioning_csr.py``,
``fleet_provisioning_basic.py``) use them, against a fleet deployment (provisioning ``fleet,jitr``) served on loopback
and reached through the local DNS answer's HTTP CONNECT proxy:

* by CSR with the claim: our CA's certificate for the device's key, then the device connects in both regions;
* CreateKeysAndCertificate (``$aws/certificates/create/json``, https://docs.aws.amazon.com/iot/latest/developerguide/fleet-provision-api.html):
  refused as AWS refuses what the claim's policy does not allow (the shipped claim policy allows only
  CreateCertificateFromCsr: SUBACK/PUBACK 0x87 Not authorized); with a claim whose policy allows it, answered with a
  key and a certificate of AWS's own CA (the local cloud's stand-in), which our pre-provisioning hook refuses at
  RegisterThing (403 AccessDenied: not our CA), so the device never gets in (docs/design.md).

Runs under the local cloud's defaults (the outcome worse for the design where AWS is undocumented), as the demo's
second deployment does: the device provisions in the primary's region. Skips where awsiotsdk is not installed."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

pytest.importorskip("awscrt.mqtt5", reason="pip install awsiotsdk (the AWS IoT Device SDK v2)")
from awscrt import mqtt5, mqtt_request_response
from awsiot import V2ServiceException, iotidentity, mqtt5_client_builder

from builders.fleet import claim_client_id
from functions.fleet_provisioning import proof
from localcloud.services.iot.amazon_ca import amazon_ca
from localcloud.services.iot.fleet import CREATE_KEYS_AND_CERTIFICATE
from pki.claim import claim_paths
from tests.localcloud.mqtt.conftest import Served, allow, served_fleet

EU, US = "eu-west-1", "us-west-2"
LOCATION = {EU: "IE", US: "US"}  # where a device is, for the DNS answer (the proxy's user name)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_fleet(tmp_path_factory, "fleet-sdk") as served:
        assert served.endpoints.resolve(LOCATION[EU]) == EU and served.endpoints.resolve(LOCATION[US]) == US
        yield served


def sdk_client(served: Served, cert: Path, key: Path, client_id: str, location: str = "IE") -> mqtt5.Client | None:
    """The SDK's MQTT 5 client, started; None when its first connection attempt fails (then stopped)."""
    outcome: concurrent.futures.Future = concurrent.futures.Future()
    proxy = served.sdk_proxy(location)
    client = mqtt5_client_builder.mtls_from_path(
        endpoint=served.cloud.domain, port=8883, cert_filepath=str(cert), pri_key_filepath=str(key),
        ca_filepath=str(served.cloud.pki_dir / "root-ca.crt"), client_id=client_id, http_proxy_options=proxy,
        clean_session=True, keep_alive_secs=1200,
        on_lifecycle_connection_success=lambda data: outcome.done() or outcome.set_result(True),
        on_lifecycle_connection_failure=lambda data: outcome.done() or outcome.set_result(False))
    client.start()
    try:
        connected = outcome.result(15)
    except concurrent.futures.TimeoutError:
        connected = False
    if not connected:
        client.stop()
        return None
    return client


def claim_client(served: Served) -> mqtt5.Client:
    """Connected with the claim every device ships, as ``claim-<random>`` (the claim policy's client ids)."""
    certificate, key = claim_paths(served.cloud.pki_dir)
    client = sdk_client(served, certificate, key, claim_client_id())
    assert client is not None, "the claim could not connect"
    return client


def identity_client(client: mqtt5.Client) -> iotidentity.IotIdentityClientV2:
    """As AWS's samples make it: two request-response subscriptions, no streaming ones."""
    return iotidentity.IotIdentityClientV2(client, mqtt_request_response.ClientOptions(
        max_request_response_subscriptions=2, max_streaming_subscriptions=0, operation_timeout_in_seconds=10))


def enrol(served: Served, serial: str) -> ed25519.Ed25519PrivateKey:
    """Put ``serial`` on the allow-list (global table) with a new signing key; return the key."""
    key = ed25519.Ed25519PrivateKey.generate()
    allow(served, serial, key)
    return key


def template(served: Served) -> str:
    return served.cloud.primary_outputs["fleetTemplateName"]


def write_identity(served: Served, name: str, certificate_pem: str, key_pem: bytes | str) -> tuple[Path, Path]:
    cert, key = served.folder / f"{name}.crt", served.folder / f"{name}.key"
    cert.write_text(certificate_pem)
    key.write_bytes(key_pem.encode() if isinstance(key_pem, str) else key_pem)
    key.chmod(0o600)
    return cert, key


def certificate_status(served: Served, certificate_id: str, region: str = EU) -> dict:
    with served.endpoints.gate:
        return boto3.client("iot", region_name=region).describe_certificate(
            certificateId=certificate_id)["certificateDescription"]


def things(served: Served, region: str = EU) -> set[str]:
    with served.endpoints.gate:
        return {t["thingName"] for t in boto3.client("iot", region_name=region).list_things()["things"]}


def aws_issued_certificates(served: Served, region: str = EU) -> list[str]:
    """Ids of the certificates registered in ``region`` that the stand-in for AWS's CA signed."""
    found = []
    with served.endpoints.gate:
        iot = boto3.client("iot", region_name=region)
        for listed in iot.list_certificates()["certificates"]:
            pem = iot.describe_certificate(certificateId=listed["certificateId"])["certificateDescription"][
                "certificatePem"]
            if x509.load_pem_x509_certificate(pem.encode()).issuer == amazon_ca().certificate.subject:
                found.append(listed["certificateId"])
    return found


def test_the_sdks_identity_client_provisions_by_csr_over_mqtt5_and_the_device_connects_in_both_regions(
        fleet: Served) -> None:
    serial = "sdk-fleet-0001"
    signing_key = enrol(fleet, serial)
    device_key = ec.generate_private_key(ec.SECP256R1())
    claim = claim_client(fleet)
    try:
        identity = identity_client(claim)
        created = identity.create_certificate_from_csr(iotidentity.CreateCertificateFromCsrRequest(
            certificate_signing_request=proof.csr_pem(device_key, serial, signing_key))).result(15)
        registered = identity.register_thing(iotidentity.RegisterThingRequest(
            template_name=template(fleet), certificate_ownership_token=created.certificate_ownership_token,
            parameters={"SerialNumber": serial})).result(15)
    finally:
        claim.stop()
    certificate = x509.load_pem_x509_certificate(created.certificate_pem.encode())
    certificate.verify_directly_issued_by(fleet.cloud.load_ca().intermediate_certificate)  # our CA, for its key
    assert certificate.public_key().public_numbers() == device_key.public_key().public_numbers()
    assert registered.thing_name == serial
    assert certificate_status(fleet, created.certificate_id)["status"] == "ACTIVE"

    cert, key = write_identity(fleet, serial, created.certificate_pem, device_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    for region in (EU, US):  # US: once the hook's inventory item has replicated and registered the certificate there
        client = fleet.wait_for(lambda region=region: sdk_client(fleet, cert, key, serial, LOCATION[region]),
                                timeout_s=60)
        try:
            puback = client.publish(mqtt5.PublishPacket(
                topic=f"i/{serial}/m", payload=json.dumps({"message": f"sdk fleet device in {region}"}),
                qos=mqtt5.QoS.AT_LEAST_ONCE)).result(10)
            assert puback.puback.reason_code == mqtt5.PubackReasonCode.SUCCESS
        finally:
            client.stop()
        items = fleet.wait_for(lambda region=region: fleet.stored(serial, region))
        assert [i["Message"]["S"] for i in items] == [f"sdk fleet device in {region}"]


def test_create_keys_and_certificate_is_refused_as_aws_refuses_what_the_shipped_claim_policy_does_not_allow(
        fleet: Served) -> None:
    before = aws_issued_certificates(fleet)
    claim = claim_client(fleet)
    try:
        # the SDK subscribes to the replies first: SUBACK 0x87, so the request fails without being sent
        with pytest.raises(V2ServiceException) as refused:
            identity_client(claim).create_keys_and_certificate(iotidentity.CreateKeysAndCertificateRequest()).result(15)
        assert refused.value.modeled_error is None and refused.value.inner_error is not None
        # the request itself: PUBACK 0x87 Not authorized, and the connection stays (MQTT 5)
        puback = claim.publish(mqtt5.PublishPacket(topic=CREATE_KEYS_AND_CERTIFICATE, payload="{}",
                                                   qos=mqtt5.QoS.AT_LEAST_ONCE)).result(10)
        assert puback.puback.reason_code == mqtt5.PubackReasonCode.NOT_AUTHORIZED
        again = claim.publish(mqtt5.PublishPacket(topic=CREATE_KEYS_AND_CERTIFICATE, payload="{}",
                                                  qos=mqtt5.QoS.AT_LEAST_ONCE)).result(10)
        assert again.puback.reason_code == mqtt5.PubackReasonCode.NOT_AUTHORIZED  # still connected: answered again
    finally:
        claim.stop()
    assert aws_issued_certificates(fleet) == before  # nothing was made


def allow_create_keys_and_certificate(served: Served) -> tuple[str, str]:
    """Attach to the claim, in the primary's region, a second policy allowing CreateKeysAndCertificate's request and
    replies (what a claim policy written after AWS's examples allows); returns (policy, claim ARN) to detach."""
    topic = CREATE_KEYS_AND_CERTIFICATE
    arn = lambda resource: f"arn:aws:iot:{EU}:123456789012:{resource}"
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": arn(f"topic/{topic}")},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": [arn(f"topicfilter/{topic}/accepted"), arn(f"topicfilter/{topic}/rejected")]},
        {"Effect": "Allow", "Action": "iot:Receive",
         "Resource": [arn(f"topic/{topic}/accepted"), arn(f"topic/{topic}/rejected")]}]}
    claim_pem = claim_paths(served.cloud.pki_dir)[0].read_text()
    with served.endpoints.gate:
        iot = boto3.client("iot", region_name=EU)
        claim = next(c for c in iot.list_certificates()["certificates"]
                     if iot.describe_certificate(certificateId=c["certificateId"])["certificateDescription"][
                         "certificatePem"].strip() == claim_pem.strip())
        if "claim-create-keys" not in {p["policyName"] for p in iot.list_policies()["policies"]}:
            iot.create_policy(policyName="claim-create-keys", policyDocument=json.dumps(document))
        iot.attach_policy(policyName="claim-create-keys", target=claim["certificateArn"])
    return "claim-create-keys", claim["certificateArn"]


def test_create_keys_and_certificate_allowed_gets_amazons_certificate_which_our_hook_refuses(fleet: Served) -> None:
    serial = "sdk-fleet-0002"
    enrol(fleet, serial)  # even an enrolled serial: the certificate is not our CA's
    policy, claim_arn = allow_create_keys_and_certificate(fleet)
    claim = claim_client(fleet)
    try:
        identity = identity_client(claim)
        created = identity.create_keys_and_certificate(iotidentity.CreateKeysAndCertificateRequest()).result(15)
        with pytest.raises(V2ServiceException) as refused:
            identity.register_thing(iotidentity.RegisterThingRequest(
                template_name=template(fleet), certificate_ownership_token=created.certificate_ownership_token,
                parameters={"SerialNumber": serial})).result(15)
    finally:
        claim.stop()
        with fleet.endpoints.gate:
            boto3.client("iot", region_name=EU).detach_policy(policyName=policy, target=claim_arn)
    # AWS's answer: a key pair and a certificate of Amazon's CA, PENDING_ACTIVATION, not linked to a CA of ours
    certificate = x509.load_pem_x509_certificate(created.certificate_pem.encode())
    certificate.verify_directly_issued_by(amazon_ca().certificate)
    with pytest.raises(ValueError, match="ssuer"):  # not our intermediate's
        certificate.verify_directly_issued_by(fleet.cloud.load_ca().intermediate_certificate)
    private_key = serialization.load_pem_private_key(created.private_key.encode(), password=None)
    assert private_key.public_key().public_numbers() == certificate.public_key().public_numbers()
    assert private_key.key_size == 2048  # CreateKeysAndCertificate: "a 2048-bit RSA key pair"
    description = certificate_status(fleet, created.certificate_id)
    assert description["status"] == "PENDING_ACTIVATION" and not description.get("caCertificateId")
    # our design's answer at RegisterThing: the hook admits only our CA's fleet certificates (403 AccessDenied)
    error = refused.value.modeled_error
    assert (error.status_code, error.error_code) == (403, "AccessDenied"), error
    assert certificate_status(fleet, created.certificate_id)["status"] == "PENDING_ACTIVATION"
    assert serial not in things(fleet)
    with fleet.endpoints.gate:
        entry = boto3.client("dynamodb", region_name=EU).get_item(
            TableName="multi-region-iot-allow-list", Key={"ThingName": {"S": serial}}, ConsistentRead=True)["Item"]
    assert entry["Status"]["S"] == "unprovisioned"  # the serial can still provision by CSR
    # the device cannot get in: the handshake passes (AWS's CA), IoT Core refuses the pending certificate
    cert, key = write_identity(fleet, "sdk-aws-issued", created.certificate_pem, created.private_key)
    assert sdk_client(fleet, cert, key, serial) is None
    assert any(f"{created.certificate_id} is PENDING_ACTIVATION" in why
               for _, why in fleet.endpoints.brokers[EU].refusals)


def test_create_keys_and_certificate_over_mqtt_3_1_1_answers_exactly_awss_fields_to_the_requester(
        fleet: Served) -> None:
    """The reply on the wire (paho, MQTT 3.1.1): ``{"certificateId", "certificatePem", "privateKey",
    "certificateOwnershipToken"}`` on ``.../accepted`` (fleet-provision-api), to the requesting client only."""
    import threading

    from device.session import Identity

    policy, claim_arn = allow_create_keys_and_certificate(fleet)
    certificate, key = claim_paths(fleet.cloud.pki_dir)
    replies: list[tuple[str, dict]] = []
    seen_by_bystander: list[str] = []
    arrived = threading.Event()

    def on_message(topic: str, payload: bytes) -> None:
        replies.append((topic, json.loads(payload)))
        arrived.set()

    sessions = [fleet.direct(Identity(claim_client_id(), certificate, key, fleet.cloud.pki_dir / "root-ca.crt"), EU,
                             on_message=on_message if asker else lambda topic, _: seen_by_bystander.append(topic))
                for asker in (False, True)]
    try:
        for session in sessions:
            session.open()
            for reply in ("accepted", "rejected"):
                assert session.subscribe(f"{CREATE_KEYS_AND_CERTIFICATE}/{reply}") == 1
        sessions[1].publish(CREATE_KEYS_AND_CERTIFICATE, "{}", qos=1)
        assert arrived.wait(10), "no reply"
    finally:
        for session in sessions:
            session.close()
        with fleet.endpoints.gate:
            boto3.client("iot", region_name=EU).detach_policy(policyName=policy, target=claim_arn)
    [(topic, body)] = replies
    assert seen_by_bystander == []  # subscribed to the same replies, but the answer goes to the requester only
    assert topic == f"{CREATE_KEYS_AND_CERTIFICATE}/accepted"
    assert set(body) == {"certificateId", "certificatePem", "privateKey", "certificateOwnershipToken"}
    assert body["certificateId"] in aws_issued_certificates(fleet)
