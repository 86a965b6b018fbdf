"""Fleet provisioning's two Lambdas over moto: the certificate provider signs a device's own CSR key with our CA
through KMS; the pre-provisioning hook admits an allow-listed serial once (for one certificate), writes the same
inventory item as JITR, and refuses everything else."""

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from functions.fleet_provisioning import certificate_provider, hook
from functions.provisioning_api import allow_list
from tests.provisioning import kit


def _certificate(account, device, cn=None):
    return certificate_provider.certify({"certificateSigningRequest": device.csr_pem(cn)}, account.signer)[
        "certificatePem"]


def _id(pem: str) -> str:
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def _event(device, pem, *, serial=None, client=None):
    return {"claimCertificateId": "c" * 64, "certificateId": _id(pem), "certificatePem": pem,
            "templateArn": f"arn:aws:iot:{kit.REGION}:123456789012:provisioningtemplate/app-fleet",
            "clientId": client or device.name, "parameters": {"SerialNumber": serial or device.name}}


def _settings(account):
    return hook.Settings(kit.REGION, account.tables["allow"], account.tables["inventory"], account.ca_id,
                         account.ca.intermediate_pem)


def test_the_provider_certifies_the_csr_key_under_our_ca_with_the_serial_as_cn(account):
    device = kit.Device.new("sensor-f1")
    certificate = x509.load_pem_x509_certificate(_certificate(account, device).encode())
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(account.ca.intermediate_pem.encode()))
    assert certificate.public_key().public_numbers() == device.tls_key.public_key().public_numbers()
    assert certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value == "sensor-f1"


@pytest.mark.parametrize("csr", ["not a csr", None])
def test_the_provider_refuses_what_is_not_a_csr(account, csr):
    with pytest.raises(certificate_provider.CertificateRequestRefused):
        certificate_provider.certify({"certificateSigningRequest": csr}, account.signer)


def test_the_provider_refuses_a_cn_that_is_not_a_thing_name(account):
    with pytest.raises(certificate_provider.CertificateRequestRefused):
        _certificate(account, kit.Device.new("x"), cn="not a name!")


def test_the_hook_admits_an_enrolled_serial_once_and_writes_the_inventory_item(account):
    device = kit.Device.new("sensor-f2")
    kit.enrol(account.tables["allow"], device)
    pem = _certificate(account, device)
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": True}
    entry = account.entry("sensor-f2")
    assert entry["Status"] == allow_list.PROVISIONED and entry["CertificateId"] == _id(pem)
    item = account.dynamodb.get_item(TableName=account.tables["inventory"],
                                     Key={"ThingName": {"S": "sensor-f2"}})["Item"]
    assert {k: v["S"] for k, v in item.items()} == {
        "ThingName": "sensor-f2", "CertificateId": _id(pem), "CertificatePem": pem, "CaCertificateId": account.ca_id,
        "OriginRegion": kit.REGION, "Status": "ACTIVE", "RegisteredAt": item["RegisteredAt"]["S"],
        "PendingCertificateId": "", "PreviousCertificateId": ""}


def test_the_hook_admits_a_retry_for_the_same_certificate(account):
    device = kit.Device.new("sensor-f3")
    kit.enrol(account.tables["allow"], device)
    pem = _certificate(account, device)
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account))["allowProvisioning"]
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account))["allowProvisioning"]


def test_the_hook_refuses_a_replayed_serial_with_another_certificate(account):
    device = kit.Device.new("sensor-f4")
    kit.enrol(account.tables["allow"], device)
    first = _certificate(account, device)
    assert hook.decide(_event(device, first), account.dynamodb, _settings(account))["allowProvisioning"]
    second = _certificate(account, kit.Device.new("sensor-f4"))
    assert hook.decide(_event(device, second), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry("sensor-f4")["CertificateId"] == _id(first)


def test_the_hook_refuses_a_serial_not_on_the_allow_list_and_writes_nothing(account):
    device = kit.Device.new("sensor-f5")
    pem = _certificate(account, device)
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry("sensor-f5") is None
    assert "Item" not in account.dynamodb.get_item(TableName=account.tables["inventory"],
                                                   Key={"ThingName": {"S": "sensor-f5"}})


@pytest.mark.parametrize("change", ["client", "serial"])
def test_the_hook_refuses_a_serial_that_is_not_the_client_or_the_certificates_cn(account, change):
    device, other = kit.Device.new("sensor-f6"), kit.Device.new("sensor-f7")
    kit.enrol(account.tables["allow"], device)
    kit.enrol(account.tables["allow"], other)
    pem = _certificate(account, device)
    event = _event(device, pem, client="sensor-f7") if change == "client" \
        else _event(device, pem, serial="sensor-f7", client="sensor-f7")
    assert hook.decide(event, account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry("sensor-f6")["Status"] == allow_list.UNPROVISIONED
    assert account.entry("sensor-f7")["Status"] == allow_list.UNPROVISIONED


def test_the_hook_refuses_a_certificate_our_ca_did_not_sign(account, tmp_path):
    import pki
    from functions.provisioning_api import issuer

    from cryptography.hazmat.primitives import serialization as s

    pki.init_pki(tmp_path, "other.example.com")
    other = pki.load_ca(tmp_path)
    key_pem = other.intermediate_key.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode()
    foreign = issuer.PemSigner(key_pem, other.intermediate_pem)
    device = kit.Device.new("sensor-f8")
    kit.enrol(account.tables["allow"], device)
    pem = certificate_provider.certify({"certificateSigningRequest": device.csr_pem()}, foreign)["certificatePem"]
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
    assert account.entry("sensor-f8")["Status"] == allow_list.UNPROVISIONED


def test_the_hook_refuses_when_the_inventory_names_another_certificate(account):
    device = kit.Device.new("sensor-f9")
    kit.enrol(account.tables["allow"], device)
    account.dynamodb.put_item(TableName=account.tables["inventory"],
                              Item={"ThingName": {"S": "sensor-f9"}, "CertificateId": {"S": "0" * 64}})
    pem = _certificate(account, device)
    assert hook.decide(_event(device, pem), account.dynamodb, _settings(account)) == {"allowProvisioning": False}
