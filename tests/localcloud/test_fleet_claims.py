"""Fleet provisioning by claim, tried as someone who holds the claim (every device ships it) would try it (issue 21):
no certificate of our CA for a name that is not enrolled, unprovisioned and proven by its enrolled key; a fleet
certificate the hook never admitted is never activated by JITR; the claim connects only with client ids of its own;
one serial provisioned in two regions at once ends with one certificate, the one its winner holds; a device whose
CreateCertificateFromCsr reply was lost retries with the same proof and finishes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from moto.iot.models import iot_backends

from builders.fleet import claim_client_id
from contract.allow_list import enrol_item
from functions.fleet_provisioning import proof
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud.services import ConnectionRefused
from localcloud.services.iot.fleet import FleetProvisioning, ProvisioningRejected
from tests.localcloud.fleet_cloud import claim_pem as fleet_claim_pem
from tests.localcloud.fleet_cloud import fleet_cloud

PRIMARY, SECONDARY = "eu-west-1", "us-west-2"
ALLOW_LIST = "multi-region-iot-allow-list"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with fleet_cloud(tmp_path_factory.mktemp("localcloud-fleet-claims")) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def claim_pem(cloud) -> str:
    return fleet_claim_pem(cloud)


@pytest.fixture(scope="module")
def fleet(cloud) -> FleetProvisioning:
    return FleetProvisioning(cloud.engines.iot)


def enrol(cloud: LocalCloud, serial: str) -> ed25519.Ed25519PrivateKey:
    """Put ``serial`` on the allow-list with its own verifying key; return the device's enrolled signing key."""
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    boto3.client("dynamodb", region_name=PRIMARY).put_item(TableName=ALLOW_LIST,
                                                           Item=enrol_item(serial, public, "2026-01-01T00:00:00Z"))
    cloud.settle()
    return key


def signed_csr(serial: str, signing_key, tls_key=None) -> str:
    return proof.csr_pem(tls_key or ec.generate_private_key(ec.SECP256R1()), serial, signing_key)


def connection(cloud: LocalCloud, claim_pem: str, region: str = PRIMARY):
    return cloud.engines.iot.connect(region, claim_pem, claim_client_id())


def entry(region: str, serial: str) -> dict:
    item = boto3.client("dynamodb", region_name=region).get_item(TableName=ALLOW_LIST, Key={"ThingName": {"S": serial}},
                                                                 ConsistentRead=True).get("Item") or {}
    return {k: next(iter(v.values())) for k, v in item.items()}


def inventory(cloud: LocalCloud, region: str, serial: str) -> dict | None:
    return next((i for i in observe.table_items(region, cloud.primary_outputs["inventoryTableName"])
                 if i["ThingName"] == serial), None)


def certificates_named(region: str, serial: str) -> list[str]:
    """Ids of the certificates registered in ``region`` whose CN is ``serial``."""
    found = []
    for certificate in iot_backends["123456789012"][region].certificates.values():
        parsed = x509.load_pem_x509_certificate(certificate.certificate_pem.encode())
        if [a.value for a in parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [serial]:
            found.append(certificate.certificate_id)
    return found


def present(cloud: LocalCloud, pem: str, serial: str) -> None:
    """A device presenting ``pem`` in every region (refused or not), then the cloud settles (JITR runs)."""
    for region in (PRIMARY, SECONDARY):
        for _ in range(2):
            try:
                cloud.engines.iot.connect(region, pem, serial)
            except ConnectionRefused:
                pass
            cloud.settle()


# ---- 1. anyone holding the claim gets no certificate for a name that is not enrolled -----------------------------------
def test_the_claim_gets_no_certificate_for_names_that_are_not_enrolled(cloud, claim_pem, fleet) -> None:
    stranger = ed25519.Ed25519PrivateKey.generate()
    link = connection(cloud, claim_pem)
    for i in range(5):  # what one claim connection got 15 of in 0.7 s
        serial = f"unenrolled-{i}"
        for csr in (signed_csr(serial, stranger), _csr_without_proof(serial)):
            with pytest.raises(ProvisioningRejected):
                fleet.create_certificate_from_csr(link, csr)
    cloud.settle()
    for region in (PRIMARY, SECONDARY):
        assert [c for i in range(5) for c in certificates_named(region, f"unenrolled-{i}")] == []


def _csr_without_proof(serial: str) -> str:
    from cryptography.hazmat.primitives import hashes

    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
               .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM).decode()


def test_a_fleet_certificate_the_hook_never_admitted_is_activated_by_jitr_nowhere(cloud, claim_pem, fleet) -> None:
    serial = "fleet-unadmitted"
    key = enrol(cloud, serial)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    created = fleet.create_certificate_from_csr(connection(cloud, claim_pem), signed_csr(serial, key, tls_key))
    present(cloud, created["certificatePem"], serial)  # PENDING here, unknown (auto-registered) there
    for region in (PRIMARY, SECONDARY):
        assert observe.certificate_status(region, created["certificateId"]) != "ACTIVE"
        assert inventory(cloud, region, serial) is None

    # the device then finishes as designed: a new proof, a new certificate, admitted by the hook
    done = fleet.fleet_provision(PRIMARY, claim_pem, signed_csr(serial, key, tls_key), {"SerialNumber": serial},
                                 client_id=claim_client_id())
    cloud.settle()
    for region in (PRIMARY, SECONDARY):
        assert observe.certificate_status(region, done.certificate_id) == "ACTIVE"
        assert observe.certificate_status(region, created["certificateId"]) != "ACTIVE"
    assert entry(PRIMARY, serial)["CertificateId"] == done.certificate_id


def test_under_jitp_a_fleet_certificate_the_hook_never_admitted_is_activated_nowhere(cloud, claim_pem, fleet) -> None:
    """Issue 21 (red team F4): the fleet certificate is signed by the CA that would carry the JITP template, and JITP
    activates whatever that CA's auto-registration brings. So ``fleet`` with ``jitp`` is refused by the config, and
    under ``fleet,jitr`` a certificate never sent to RegisterThing, presented first where it is unknown, is ACTIVE
    nowhere."""
    from components.config import ConfigError, validate_provisioning

    for value in ("fleet,jitp", ["jitp", "fleet"]):
        with pytest.raises(ConfigError, match="both fleet and jitp"):
            validate_provisioning(value)
    serial = "fleet-unadmitted-secondary-first"
    key = enrol(cloud, serial)
    created = fleet.create_certificate_from_csr(connection(cloud, claim_pem),  # never RegisterThing
                                                signed_csr(serial, key, ec.generate_private_key(ec.SECP256R1())))
    for region in (SECONDARY, PRIMARY):
        for _ in range(2):
            try:
                cloud.engines.iot.connect(region, created["certificatePem"], serial)
            except ConnectionRefused:
                pass
            cloud.settle()
    active = [r for r in (PRIMARY, SECONDARY) if observe.certificate_status(r, created["certificateId"]) == "ACTIVE"]
    assert active == [], f"a fleet certificate the hook never admitted is ACTIVE in {active}"


# ---- 2. a claim holder without the enrolled key cannot take an enrolled serial ---------------------------------------
def test_a_claim_holder_without_the_enrolled_key_cannot_take_an_enrolled_serial(cloud, claim_pem, fleet) -> None:
    serial = "fleet-victim"
    genuine = enrol(cloud, serial)
    for forged in (signed_csr(serial, ed25519.Ed25519PrivateKey.generate()), _csr_without_proof(serial)):
        with pytest.raises(ProvisioningRejected):
            fleet.fleet_provision(PRIMARY, claim_pem, forged, {"SerialNumber": serial}, client_id=claim_client_id())
    assert entry(PRIMARY, serial)["Status"] == "unprovisioned"
    done = fleet.fleet_provision(PRIMARY, claim_pem, signed_csr(serial, genuine), {"SerialNumber": serial},
                                 client_id=claim_client_id())
    cloud.settle()
    assert done.thing_name == serial
    assert observe.certificate_status(SECONDARY, done.certificate_id) == "ACTIVE"


# ---- 3. one serial in two regions at once ----------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["first-registers-first", "second-registers-first"])
def test_one_serial_in_two_regions_at_once_ends_with_the_certificate_its_winner_holds(cloud, claim_pem, fleet,
                                                                                      order) -> None:
    serial = f"fleet-race-{order.split('-')[0]}"
    key = enrol(cloud, serial)
    x_link, y_link = connection(cloud, claim_pem, PRIMARY), connection(cloud, claim_pem, SECONDARY)
    x = fleet.create_certificate_from_csr(x_link, signed_csr(serial, key))
    y = fleet.create_certificate_from_csr(y_link, signed_csr(serial, key))
    template = fleet._only_template(PRIMARY)
    held: dict[str, str] = {}
    attempts = [(x_link, x), (y_link, y)]
    for link, created in (attempts if order.startswith("first") else attempts[::-1]):
        try:  # no settle in between: each region's replica has not seen the other's writes
            fleet.register_thing(link, template, {"certificateOwnershipToken": created["certificateOwnershipToken"],
                                                  "parameters": {"SerialNumber": serial}})
            held[link.region] = created["certificateId"]
        except ProvisioningRejected:
            pass
    cloud.settle()
    assert len(held) == 1, held
    (winner,) = held.values()
    for region in (PRIMARY, SECONDARY):
        assert entry(region, serial)["CertificateId"] == winner
        assert inventory(cloud, region, serial)["CertificateId"] == winner
        assert observe.certificate_status(region, winner) == "ACTIVE"
        for loser in {x["certificateId"], y["certificateId"]} - {winner}:
            assert observe.certificate_status(region, loser) != "ACTIVE"


# ---- 4. the claim connects only with client ids of its own ------------------------------------------------------------
@pytest.mark.parametrize("client_id", ["fleet-victim", "canary-eu-west-1", "sensor-1"])
def test_the_claim_cannot_take_a_device_s_or_a_canary_s_client_id(cloud, claim_pem, client_id) -> None:
    with pytest.raises(ConnectionRefused, match="iot:Connect"):
        cloud.engines.iot.connect(PRIMARY, claim_pem, client_id)
    assert cloud.engines.iot.connect(PRIMARY, claim_pem, claim_client_id()).client_id.startswith("claim-")


# ---- 5. a lost CreateCertificateFromCsr reply ---------------------------------------------------------------------------
def test_a_lost_certificate_reply_is_retried_with_the_same_proof_and_the_first_certificate_stays_unusable(
        cloud, claim_pem, fleet) -> None:
    serial = "fleet-lost-reply"
    key = enrol(cloud, serial)
    csr = signed_csr(serial, key)
    link = connection(cloud, claim_pem)
    lost = fleet.create_certificate_from_csr(link, csr)  # the reply never reached the device
    again = fleet.create_certificate_from_csr(link, csr)  # AWS answers the retry with a new certificate
    assert again["certificateId"] != lost["certificateId"]
    template = fleet._only_template(PRIMARY)
    with pytest.raises(ProvisioningRejected):  # the superseded certificate is never admitted
        fleet.register_thing(link, template, {"certificateOwnershipToken": lost["certificateOwnershipToken"],
                                              "parameters": {"SerialNumber": serial}})
    answer = fleet.register_thing(link, template, {"certificateOwnershipToken": again["certificateOwnershipToken"],
                                                   "parameters": {"SerialNumber": serial}})
    assert answer["thingName"] == serial
    present(cloud, lost["certificatePem"], serial)
    for region in (PRIMARY, SECONDARY):
        assert observe.certificate_status(region, again["certificateId"]) == "ACTIVE"
        assert observe.certificate_status(region, lost["certificateId"]) != "ACTIVE"
    assert entry(PRIMARY, serial)["CertificateId"] == again["certificateId"]


def test_a_proof_older_than_the_one_recorded_is_refused(cloud, claim_pem, fleet) -> None:
    import time

    serial = "fleet-older-proof"
    key = enrol(cloud, serial)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    link = connection(cloud, claim_pem)
    now = int(time.time())
    fleet.create_certificate_from_csr(link, proof.csr_pem(tls_key, serial, key, timestamp=now))
    with pytest.raises(ProvisioningRejected):
        fleet.create_certificate_from_csr(link, proof.csr_pem(tls_key, serial, key, timestamp=now - 60,
                                                              nonce=secrets.token_urlsafe(18)))
