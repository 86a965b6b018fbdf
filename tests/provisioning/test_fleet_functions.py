"""Fleet provisioning's two Lambdas over moto: the certificate provider signs a device's own CSR key with our CA
through KMS only for an enrolled, unprovisioned serial whose CSR carries a fresh proof by its enrolled key, recording
the certificate it issued (``issuing``); the pre-provisioning hook admits exactly that certificate, once, writes the
same inventory item as JITR, and refuses everything else (issue 21)."""

import hashlib
import json
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import AttributeOID, NameOID

from contract import allow_list, fleet, proofs
from functions.fleet_provisioning import admission, certificate_provider, hook, proof
from functions.provisioning_api import authenticity
from ops import cli
from tests.provisioning import kit
from tests.provisioning.api_faults import aws_like, call  # noqa: F401 - aws_like is a fixture


def _entries(account):
    return certificate_provider.AllowList(account.dynamodb, account.tables["allow"], kit.REGION)


def _csr(device, *, cn=None, signer=None, timestamp=None, nonce=None):
    return proof.csr_pem(device.tls_key, cn or device.name, signer or device.signing_key, timestamp=timestamp,
                         nonce=nonce)


def _certificate(account, device, **options):
    return certificate_provider.certify({"certificateSigningRequest": _csr(device, **options)}, account.signer,
                                        _entries(account))["certificatePem"]


def _id(pem: str) -> str:
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def _event(device, pem, *, serial=None, client="claim-0123456789abcdef"):
    return {"claimCertificateId": "c" * 64, "certificateId": _id(pem), "certificatePem": pem,
            "templateArn": f"arn:aws:iot:{kit.REGION}:123456789012:provisioningtemplate/app-fleet",
            "clientId": client, "parameters": {"SerialNumber": serial or device.name}}


def _settings(account):
    return hook.Settings(kit.REGION, account.tables["allow"], account.tables["inventory"], account.ca_id,
                         account.ca.intermediate_pem)


def _refused(account, csr_pem):
    with pytest.raises(certificate_provider.CertificateRequestRefused) as refused:
        certificate_provider.certify({"certificateSigningRequest": csr_pem}, account.signer, _entries(account))
    return str(refused.value)


# ---- the certificate provider ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["ed25519", "ec"])
def test_the_provider_certifies_an_enrolled_serial_proven_by_its_key_and_records_the_certificate(account, kind):
    device = kit.Device.new("sensor-f1", kind)
    kit.enrol(account.tables["allow"], device)
    pem = _certificate(account, device)
    certificate = x509.load_pem_x509_certificate(pem.encode())
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(account.ca.intermediate_pem.encode()))
    assert certificate.public_key().public_numbers() == device.tls_key.public_key().public_numbers()
    assert certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "sensor-f1"
    assert fleet.is_fleet_issued(certificate)
    entry = account.entry("sensor-f1")
    assert entry["Status"] == admission.ISSUING and entry["IssuedCertificateId"] == _id(pem)


def test_the_provider_certifies_nothing_for_a_serial_that_is_not_enrolled(account):
    message = _refused(account, _csr(kit.Device.new("sensor-none")))
    assert message == certificate_provider.NOT_CERTIFIED
    assert account.entry("sensor-none") is None


@pytest.mark.parametrize("forgery", ["other key", "no proof", "other serial's proof", "stale", "future"])
def test_the_provider_certifies_nothing_without_a_fresh_proof_by_the_enrolled_key(account, forgery):
    device, other = kit.Device.new("sensor-f2"), kit.Device.new("sensor-f2b")
    kit.enrol(account.tables["allow"], device)
    kit.enrol(account.tables["allow"], other)
    now = int(time.time())
    csr = {"other key": lambda: _csr(device, signer=ed25519.Ed25519PrivateKey.generate()),
           "no proof": lambda: device.csr_pem(),
           "other serial's proof": lambda: _csr(other, cn="sensor-f2"),
           "stale": lambda: _csr(device, timestamp=now - proofs.MAX_AGE_SECONDS - 5),
           "future": lambda: _csr(device, timestamp=now + proofs.MAX_AGE_SECONDS + 5)}[forgery]()
    # the same answer as for a serial that is not enrolled: a refusal reveals no enrolment
    assert _refused(account, csr) == certificate_provider.NOT_CERTIFIED
    assert account.entry("sensor-f2")["Status"] == allow_list.UNPROVISIONED


def test_a_proof_cannot_be_moved_to_another_key(account):
    device = kit.Device.new("sensor-f3")
    kit.enrol(account.tables["allow"], device)
    stolen = proof.read(x509.load_pem_x509_csr(_csr(device).encode()))
    thief = ec.generate_private_key(ec.SECP256R1())
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import AttributeOID, NameOID

    moved = (x509.CertificateSigningRequestBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sensor-f3")]))
             .add_attribute(AttributeOID.CHALLENGE_PASSWORD,
                            proofs.encode_fleet_proof(stolen.timestamp, stolen.nonce, stolen.signature).encode())
             .sign(thief, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    assert _refused(account, moved) == certificate_provider.NOT_CERTIFIED


def test_a_newer_proof_supersedes_the_certificate_issued_before_and_an_older_one_is_refused(account):
    device = kit.Device.new("sensor-f4")
    kit.enrol(account.tables["allow"], device)
    now = int(time.time())
    first = _certificate(account, device, timestamp=now - 10)
    again = _certificate(account, device, timestamp=now - 10, nonce=None)  # a retry: as recent as the recorded one
    newer = _certificate(account, device, timestamp=now)
    assert account.entry("sensor-f4")["IssuedCertificateId"] == _id(newer)
    assert _refused(account, _csr(device, timestamp=now - 5)) == certificate_provider.NOT_CERTIFIED
    for superseded in (first, again):
        assert hook.decide(_event(device, superseded), account.dynamodb, _settings(account)) == {
            "allowProvisioning": False}
    assert hook.decide(_event(device, newer), account.dynamodb, _settings(account)) == {"allowProvisioning": True}


@pytest.mark.parametrize("status", [allow_list.PROVISIONED, allow_list.PROVISIONING])
def test_the_provider_certifies_nothing_for_a_serial_provisioned_or_being_provisioned(account, status):
    device = kit.Device.new(f"sensor-f5-{status}")
    kit.enrol(account.tables["allow"], device)
    account.dynamodb.update_item(TableName=account.tables["allow"], Key={"ThingName": {"S": device.name}},
                                 UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "Status"},
                                 ExpressionAttributeValues={":s": {"S": status}})
    assert _refused(account, _csr(device)) == certificate_provider.NOT_CERTIFIED


@pytest.mark.parametrize("csr", ["not a csr", None])
def test_the_provider_refuses_what_is_not_a_csr(account, csr):
    with pytest.raises(certificate_provider.CertificateRequestRefused):
        certificate_provider.certify({"certificateSigningRequest": csr}, account.signer, _entries(account))


def test_the_provider_refuses_a_cn_that_is_not_a_thing_name(account):
    with pytest.raises(certificate_provider.CertificateRequestRefused):
        _certificate(account, kit.Device.new("x"), cn="not a name!")


# ---- the pre-provisioning hook --------------------------------------------------------------------------------------
def test_the_hook_admits_the_issued_certificate_once_and_writes_the_inventory_item(account):
    device = kit.Device.new("sensor-h1")
    kit.enrol(account.tables["allow"], device)
    pem = _certificate(account, device)
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": True}
    entry = account.entry("sensor-h1")
    assert entry["Status"] == allow_list.PROVISIONED and entry["CertificateId"] == _id(pem)
    assert entry["KeyOrigin"] == "fleet" and entry["PublicKeyDigest"] == proof.public_key_digest(
        device.tls_key.public_key())
    item = account.dynamodb.get_item(TableName=account.tables["inventory"],
                                     Key={"ThingName": {"S": "sensor-h1"}})["Item"]
    assert {k: v["S"] for k, v in item.items()} == {
        "ThingName": "sensor-h1", "CertificateId": _id(pem), "CertificatePem": pem, "CaCertificateId": account.ca_id,
        "OriginRegion": kit.REGION, "Status": "ACTIVE", "RegisteredAt": item["RegisteredAt"]["S"],
        "PendingCertificateId": "", "PreviousCertificateId": ""}
    # a retried RegisterThing for the same certificate gets the same answer
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account))["allowProvisioning"]
    # and nothing more is issued for the serial
    assert _refused(account, _csr(device)) == certificate_provider.NOT_CERTIFIED


def test_the_hook_refuses_a_certificate_of_our_ca_the_provider_did_not_issue_last(account):
    device = kit.Device.new("sensor-h2")
    kit.enrol(account.tables["allow"], device)
    from functions.provisioning_api import issuer

    elsewhere = issuer.issue(account.signer, "sensor-h2", device.tls_key.public_key())  # our CA, not the fleet's
    marked = issuer.issue(account.signer, "sensor-h2", device.tls_key.public_key(), extensions=(proof.fleet_policy(),))
    for pem in (elsewhere, marked):  # the second: fleet-marked but never recorded by the provider
        assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry("sensor-h2")["Status"] == allow_list.UNPROVISIONED


def test_the_hook_refuses_a_serial_not_on_the_allow_list_and_writes_nothing(account):
    device = kit.Device.new("sensor-h3")
    from functions.provisioning_api import issuer

    pem = issuer.issue(account.signer, "sensor-h3", device.tls_key.public_key(), extensions=(proof.fleet_policy(),))
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry("sensor-h3") is None
    assert "Item" not in account.dynamodb.get_item(TableName=account.tables["inventory"],
                                                   Key={"ThingName": {"S": "sensor-h3"}})


@pytest.mark.parametrize("change", ["client is the serial", "client is a device", "serial"])
def test_the_hook_refuses_a_client_that_is_not_the_claim_s_or_a_serial_that_is_not_the_cn(account, change):
    device, other = kit.Device.new("sensor-h4"), kit.Device.new("sensor-h5")
    kit.enrol(account.tables["allow"], device)
    kit.enrol(account.tables["allow"], other)
    pem = _certificate(account, device)
    event = {"client is the serial": lambda: _event(device, pem, client="sensor-h4"),
             "client is a device": lambda: _event(device, pem, client="sensor-h5"),
             "serial": lambda: _event(device, pem, serial="sensor-h5")}[change]()
    assert hook.decide(event, account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry("sensor-h4")["Status"] == admission.ISSUING
    assert account.entry("sensor-h5")["Status"] == allow_list.UNPROVISIONED


def test_the_hook_refuses_a_certificate_our_ca_did_not_sign(account, tmp_path):
    import pki
    from functions.provisioning_api import issuer

    pki.init_pki(tmp_path, "other.example.com")
    other = pki.load_ca(tmp_path)
    key_pem = other.intermediate_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()).decode()
    foreign = issuer.PemSigner(key_pem, other.intermediate_pem)
    device = kit.Device.new("sensor-h6")
    kit.enrol(account.tables["allow"], device)
    pem = certificate_provider.certify({"certificateSigningRequest": _csr(device)}, foreign,
                                       _entries(account))["certificatePem"]
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry("sensor-h6")["Status"] == admission.ISSUING


def test_the_hook_refuses_when_the_inventory_names_another_certificate(account):
    device = kit.Device.new("sensor-h7")
    kit.enrol(account.tables["allow"], device)
    account.dynamodb.put_item(TableName=account.tables["inventory"],
                              Item={"ThingName": {"S": "sensor-h7"}, "CertificateId": {"S": "0" * 64}})
    pem = _certificate(account, device)
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": False}


def _new_tls(device):
    return kit.Device(device.name, device.signing_key, kit.Device.new(device.name).tls_key)


def _provision_by_fleet(account, device):
    pem = _certificate(account, device)
    return pem, hook.decide(_event(device, pem), account.dynamodb, _settings(account))


# ---- the hook refused at the inventory step leaves no `provisioned` entry (issue 21, red team F1) -------------
def test_a_hook_refused_by_the_inventory_leaves_no_provisioned_entry_for_a_certificate_nobody_can_use(account):
    """When the inventory names another certificate (the device came by JITR/the API earlier), the hook refuses
    before admission.admit: the entry stays `issuing`, never `provisioned` for a certificate that was refused and
    never activated (the provider would then refuse every new proof for good)."""
    device = kit.Device.new("rt-f1")
    kit.enrol(account.tables["allow"], device)
    account.dynamodb.put_item(TableName=account.tables["inventory"],
                              Item={"ThingName": {"S": device.name}, "CertificateId": {"S": "0" * 64},
                                    "Status": {"S": "ACTIVE"}})
    _pem, answer = _provision_by_fleet(account, device)
    assert answer == {"allowProvisioning": False}
    entry = account.entry(device.name)
    assert entry["Status"] != allow_list.PROVISIONED, (
        f"refused, yet the allow-list says provisioned for {entry.get('CertificateId')}")


# ---- `ops allow-list reset`, then the device provisions again by claim (red team F2) ------------------------------
@pytest.mark.usefixtures("aws_like")
def test_after_an_operator_reset_a_device_provisions_again_by_claim(account, capsys):
    """A device provisioned by claim loses its key; the operator runs the documented reset (ReplacesCertificateId =
    the old certificate). The hook honours it as the API does: the name is taken over from the old certificate (a
    rotation: the inventory names the old one as PreviousCertificateId) and the field is cleared."""
    device = kit.Device.new("rt-f2")
    kit.enrol(account.tables["allow"], device)
    old, answer = _provision_by_fleet(account, device)
    assert answer["allowProvisioning"]
    assert cli.main(["--application", "app", "--json", "allow-list", "reset", kit.REGION, device.name, "--yes"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["done"] and report["replacesCertificateId"] == _id(old)
    device = _new_tls(device)
    new, answer = _provision_by_fleet(account, device)
    entry = account.entry(device.name)
    assert answer == {"allowProvisioning": True}, f"entry left {entry['Status']} for {entry.get('CertificateId')}"
    assert (entry["Status"], entry["CertificateId"]) == (allow_list.PROVISIONED, _id(new))
    assert allow_list.REPLACES not in entry
    item = account.dynamodb.get_item(TableName=account.tables["inventory"], Key={"ThingName": {"S": device.name}},
                                     ConsistentRead=True)["Item"]
    assert (item["CertificateId"]["S"], item["PreviousCertificateId"]["S"]) == (_id(new), _id(old))


def test_an_inventory_write_lost_after_admission_moves_the_entry_back_to_issuing(account, monkeypatch):
    """Another way in writes the item between the hook's read and its write: admission is undone (conditional
    write), the entry is `issuing` for the same certificate again, never `provisioned` for a refused one."""
    device = kit.Device.new("sensor-race")
    kit.enrol(account.tables["allow"], device)
    pem = _certificate(account, device)
    read = hook.check_inventory

    def then_another_writes(dynamodb, settings, serial, certificate_id, replaces):
        read(dynamodb, settings, serial, certificate_id, replaces)
        dynamodb.put_item(TableName=settings.inventory_table,
                          Item={"ThingName": {"S": serial}, "CertificateId": {"S": "0" * 64}, "Status": {"S": "ACTIVE"}})

    monkeypatch.setattr(hook, "check_inventory", then_another_writes)
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    entry = account.entry(device.name)
    assert (entry["Status"], entry["IssuedCertificateId"]) == (admission.ISSUING, _id(pem))
    assert "CertificateId" not in entry and "CertificatePem" not in entry


# ---- no enumeration by work (timing) at the certificate provider (red team F3) -----------------------------------
def test_an_unknown_serial_costs_the_provider_the_same_work_as_an_enrolled_one(account, monkeypatch):
    """One verification whatever the entry says (a dummy key for an unknown, provisioned or superseded serial), so
    the claim holder cannot tell enrolled serials from the rejection latency."""
    enrolled, stranger = kit.Device.new("rt-f3a"), kit.Device.new("rt-f3b")
    kit.enrol(account.tables["allow"], enrolled)
    forger = kit.Device.new("x").signing_key
    calls = []
    original = authenticity.verify

    def spy(*args):
        calls.append(args[0][:20])
        return original(*args)

    monkeypatch.setattr(authenticity, "verify", spy)
    counts = []
    for device in (enrolled, stranger):
        calls.clear()
        assert _refused(account, _csr(device, signer=forger)) == certificate_provider.NOT_CERTIFIED
        counts.append(len(calls))
    assert counts[0] == counts[1], f"verifications: enrolled {counts[0]}, unknown {counts[1]}"


# ---- CSR tricks ----------------------------------------------------------------------------------------------------
def _tricky_csr(device, *, extra_subject=(), extensions=()):
    now = int(time.time())
    nonce = "n" * 20
    signature = proof.sign(device.signing_key, proofs.fleet_message(device.name, now, nonce,
                                                              proof.public_key_digest(device.tls_key.public_key())))
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([*extra_subject, x509.NameAttribute(NameOID.COMMON_NAME, device.name)]))
               .add_attribute(AttributeOID.CHALLENGE_PASSWORD, proofs.encode_fleet_proof(now, nonce, signature).encode()))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(device.tls_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_csr_extensions_and_extra_subject_attributes_never_reach_the_certificate(account):
    device = kit.Device.new("rt-csr")
    kit.enrol(account.tables["allow"], device)
    csr = _tricky_csr(device, extra_subject=[x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon"),
                                             x509.NameAttribute(NameOID.SERIAL_NUMBER, "canary-eu-west-1")],
                      extensions=[(x509.SubjectAlternativeName([x509.DNSName("canary-eu-west-1"),
                                                                x509.UniformResourceIdentifier("urn:x")]), False),
                                  (x509.BasicConstraints(ca=True, path_length=None), True),
                                  (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)])
    pem = certificate_provider.certify({"certificateSigningRequest": csr}, account.signer,
                                       _entries(account))["certificatePem"]
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert [a.oid for a in cert.subject] in ([NameOID.COMMON_NAME], [NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device.name
    assert "Amazon" not in cert.subject.rfc4514_string()
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]


def test_a_csr_with_two_cns_is_refused(account):
    device = kit.Device.new("rt-2cn")
    kit.enrol(account.tables["allow"], device)
    csr = _tricky_csr(device, extra_subject=[x509.NameAttribute(NameOID.COMMON_NAME, "rt-other")])
    with pytest.raises(certificate_provider.CertificateRequestRefused):
        certificate_provider.certify({"certificateSigningRequest": csr}, account.signer, _entries(account))
    assert account.entry(device.name)["Status"] == allow_list.UNPROVISIONED


@pytest.mark.parametrize("name", ["canary-eu-west-1", "Canary-eu-west-1", "CLAIM-0123", "claim-x"])
def test_reserved_names_in_any_case_are_refused_by_provider_and_hook(account, name):
    device = kit.Device.new(name)
    kit.enrol(account.tables["allow"], device)  # an operator mistake that bypassed `ops allow-list`
    with pytest.raises(certificate_provider.CertificateRequestRefused):
        certificate_provider.certify({"certificateSigningRequest": _csr(device)}, account.signer, _entries(account))
    from functions.provisioning_api import issuer
    marked = issuer.issue(account.signer, name, device.tls_key.public_key(), extensions=(proof.fleet_policy(),))
    assert hook.decide(_event(device, marked), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry(name)["Status"] == allow_list.UNPROVISIONED


# ---- replay, stuck `issuing`, API vs fleet ------------------------------------------------------------------------
def test_a_replayed_csr_only_ever_certifies_the_device_s_own_key(account):
    """A captured CSR replayed within the window is certified again (nonce not checked: weak, a DoS that supersedes
    the device's pending certificate), but only for the device's own key, and never after the serial is provisioned."""
    device = kit.Device.new("rt-replay")
    kit.enrol(account.tables["allow"], device)
    csr = _csr(device)
    first = certificate_provider.certify({"certificateSigningRequest": csr}, account.signer,
                                         _entries(account))["certificatePem"]
    replay = certificate_provider.certify({"certificateSigningRequest": csr}, account.signer,
                                          _entries(account))["certificatePem"]
    key = x509.load_pem_x509_certificate(replay.encode()).public_key()
    assert proof.public_key_digest(key) == proof.public_key_digest(device.tls_key.public_key())
    assert hook.decide(_event(device, first), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert hook.decide(_event(device, replay), account.dynamodb, _settings(account)) == {"allowProvisioning": True}
    assert _refused(account, csr) == certificate_provider.NOT_CERTIFIED


@pytest.mark.usefixtures("aws_like")
def test_an_entry_left_issuing_is_recovered_by_ops_reset_and_the_old_fleet_certificate_is_dead(account, capsys):
    device = kit.Device.new("rt-issuing")
    kit.enrol(account.tables["allow"], device)
    stale = _certificate(account, device)  # the device then vanished: the entry stays `issuing`
    assert account.entry(device.name)["Status"] == admission.ISSUING
    assert call(account, device.body()).status == 403  # the API refuses an issuing entry
    assert cli.main(["--application", "app", "--json", "allow-list", "reset", kit.REGION, device.name, "--yes"]) == 0
    assert json.loads(capsys.readouterr().out)["done"]
    answer = call(account, device.body())
    assert answer.status == 200, answer.body
    assert hook.decide(_event(device, stale), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry(device.name)["CertificateId"] == answer.body["certificateId"]


@pytest.mark.usefixtures("aws_like")
def test_api_and_fleet_on_one_replica_never_both_provision(account):
    device = kit.Device.new("rt-cross")
    kit.enrol(account.tables["allow"], device)
    pem = _certificate(account, device)  # fleet first: issuing
    assert call(account, device.body()).status in (403, 409)
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account))["allowProvisioning"]
    other = kit.Device.new("rt-cross2")
    kit.enrol(account.tables["allow"], other)
    assert call(account, other.body()).status == 200  # API first
    assert _refused(account, _csr(other)) == certificate_provider.NOT_CERTIFIED


# ---- the records the handlers write (contract/metrics.py) ---------------------------------------------------------
def test_an_issued_and_admitted_certificate_is_one_record_each_naming_the_serial_and_the_certificate(account, capsys,
                                                                                                       monkeypatch):
    """What the handlers pass as ``emit``: the certificate provider's ``Certified`` and the hook's ``Admitted`` lines
    carry the serial and the certificate as fields (no secret), in the application's namespace."""
    from contract import emf, metrics

    monkeypatch.setenv(metrics.NAMESPACE_VARIABLE, "app")
    device = kit.Device.new("sensor-m1")
    kit.enrol(account.tables["allow"], device)
    pem = certificate_provider.certify({"certificateSigningRequest": _csr(device)}, account.signer,
                                       _entries(account), emit=metrics.emit)["certificatePem"]
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account), emit=metrics.emit) == {
        "allowProvisioning": True}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["Verdict"], line["thingName"], line["certificateId"]) for line in lines] == [
        ("Certified", "sensor-m1", _id(pem)), ("Admitted", "sensor-m1", _id(pem))]
    assert [(d.namespace, d.name) for d in emf.parse_lines(json.dumps(line) for line in lines)] == [
        ("app", "FleetCertificateRequests"), ("app", "FleetProvisioningVerdicts")]
    assert not any("BEGIN" in json.dumps(line) for line in lines)  # no certificate or key in a record
