"""Certificate contents: what a careful CA puts into root, intermediate, server and device certificates."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import pki
from pki import PkiError

from pki.pem import common_name_of

DOMAIN = "iot.example.com"


def ext(certificate: x509.Certificate, kind: type) -> x509.Extension:
    return certificate.extensions.get_extension_for_class(kind)


def lifetime_days(certificate: x509.Certificate) -> float:
    return (certificate.not_valid_after_utc - certificate.not_valid_before_utc).total_seconds() / 86400


def cn(certificate: x509.Certificate) -> str:
    name = common_name_of(certificate)
    assert name is not None
    return name


def test_root_is_a_long_lived_self_signed_ca_with_path_length_one(shared_pki: pki.InitResult) -> None:
    root = shared_pki.authority.root_certificate
    constraints = ext(root, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 1
    usage = ext(root, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    assert lifetime_days(root) >= 365 * 15


def test_intermediate_is_a_ca_with_path_length_zero_signed_by_the_root(shared_pki: pki.InitResult) -> None:
    ca = shared_pki.authority
    intermediate = ca.intermediate_certificate
    constraints = ext(intermediate, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ext(intermediate, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign
    intermediate.verify_directly_issued_by(ca.root_certificate)
    assert intermediate.not_valid_after_utc <= ca.root_certificate.not_valid_after_utc


def test_key_identifiers_link_every_certificate_to_its_issuer(shared_pki: pki.InitResult) -> None:
    ca = shared_pki.authority
    device = ca.issue_device("ids")
    pairs = [
        (ca.intermediate_certificate, ca.root_certificate),
        (shared_pki.server.certificate, ca.intermediate_certificate),
        (device.certificate, ca.intermediate_certificate),
    ]
    for child, issuer in pairs:
        child_ski = ext(child, x509.SubjectKeyIdentifier).value
        assert child_ski == x509.SubjectKeyIdentifier.from_public_key(child.public_key())
        aki = ext(child, x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == ext(issuer, x509.SubjectKeyIdentifier).value.digest


def test_server_certificate_names_the_domain_and_is_for_server_auth_only(shared_pki: pki.InitResult) -> None:
    server = shared_pki.server.certificate
    assert cn(server) == DOMAIN
    assert ext(server, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [DOMAIN]
    assert list(ext(server, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    constraints = ext(server, x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    usage = ext(server, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert lifetime_days(server) <= 397
    assert isinstance(server.public_key(), ec.EllipticCurvePublicKey)
    assert server.public_key().curve.name == "secp256r1"


def test_server_lifetime_over_397_days_is_refused(shared_pki: pki.InitResult) -> None:
    with pytest.raises(PkiError, match="397"):
        shared_pki.authority.issue_server(DOMAIN, days=398)


def test_device_certificate_has_the_thing_name_as_cn_and_client_auth(shared_pki: pki.InitResult) -> None:
    device = shared_pki.authority.issue_device("sensor-42").certificate
    assert cn(device) == "sensor-42"
    assert list(ext(device, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    usage = ext(device, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_encipherment
    assert ext(device, x509.BasicConstraints).critical and not ext(device, x509.BasicConstraints).value.ca
    assert 364.9 < lifetime_days(device) <= 365.01
    assert device.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "SE"
    assert device.issuer == shared_pki.authority.intermediate_certificate.subject


def test_serials_are_random_positive_and_fit_in_twenty_bytes(shared_pki: pki.InitResult) -> None:
    serials = [d.certificate.serial_number for d in shared_pki.authority.issue_devices([f"s-{i}" for i in range(50)])]
    assert len(set(serials)) == 50
    assert all(0 < s and s.bit_length() <= 159 for s in serials)
    assert max(s.bit_length() for s in serials) > 150  # random, not counting up from 1


@pytest.mark.parametrize(("key_type", "bits"), [("rsa-2048", 2048), ("ec-p384", 384)])
def test_other_key_types_can_be_selected(shared_pki: pki.InitResult, key_type: str, bits: int) -> None:
    device = shared_pki.authority.issue_device("typed", key_type=key_type)
    assert device.certificate.public_key().key_size == bits
    if key_type.startswith("rsa"):
        assert isinstance(device.private_key, rsa.RSAPrivateKey)
        assert ext(device.certificate, x509.KeyUsage).value.key_encipherment


def test_rsa_ca_signs_with_sha256() -> None:
    ca = pki.CertificateAuthority.create(key_type="rsa-2048")
    device = ca.issue_device("rsa-signed")
    assert isinstance(device.certificate.signature_hash_algorithm, hashes.SHA256)
    device.certificate.verify_directly_issued_by(ca.intermediate_certificate)


def test_a_128_character_thing_name_is_issued_although_rfc5280_limits_cn_to_64(shared_pki: pki.InitResult) -> None:
    name = "n" * 128
    assert cn(shared_pki.authority.issue_device(name).certificate) == name


def test_invalid_thing_name_is_refused_before_anything_is_issued(shared_pki: pki.InitResult) -> None:
    with pytest.raises(PkiError, match="invalid thing name"):
        shared_pki.authority.issue_device("no spaces allowed")


def test_expired_validity_issues_a_certificate_that_ended_in_the_past(shared_pki: pki.InitResult) -> None:
    expired = shared_pki.authority.issue_device("old", validity=pki.expired_validity(days_ago=2))
    assert expired.certificate.not_valid_after_utc < dt.datetime.now(dt.UTC) - dt.timedelta(days=1)


def test_device_certificate_may_not_outlive_the_intermediate(shared_pki: pki.InitResult) -> None:
    with pytest.raises(PkiError, match="outlive"):
        shared_pki.authority.issue_device("forever", days=365 * 30)


def test_certificate_id_is_the_sha256_of_the_der(shared_pki: pki.InitResult) -> None:
    device = shared_pki.authority.issue_device("idd")
    der = device.certificate.public_bytes(serialization.Encoding.DER)
    assert pki.certificate_id(device.certificate_pem) == hashlib.sha256(der).hexdigest() == device.certificate_id


def test_certificate_id_rejects_text_that_is_not_a_pem_certificate() -> None:
    with pytest.raises(PkiError, match="BEGIN CERTIFICATE"):
        pki.certificate_id("not a certificate")


def make_csr(name: str, key: object | None = None) -> tuple[bytes, object]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM), key


def test_sign_csr_certifies_the_devices_own_key(shared_pki: pki.InitResult) -> None:
    csr, key = make_csr("csr-device")
    issued = shared_pki.authority.sign_csr(csr)
    assert issued.private_key is None and issued.private_key_pem is None
    assert cn(issued.certificate) == "csr-device"
    assert issued.certificate.public_key() == key.public_key()
    assert list(ext(issued.certificate, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_sign_csr_refuses_a_tampered_signature(shared_pki: pki.InitResult) -> None:
    csr, _ = make_csr("tampered")
    der = bytearray(x509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    with pytest.raises(PkiError, match="signature is invalid"):
        shared_pki.authority.sign_csr(bytes(der))


def test_sign_csr_refuses_an_invalid_cn(shared_pki: pki.InitResult) -> None:
    csr, _ = make_csr("bad/name")
    with pytest.raises(PkiError, match="invalid thing name"):
        shared_pki.authority.sign_csr(csr)


def test_sign_csr_refuses_a_weak_key(shared_pki: pki.InitResult) -> None:
    csr, _ = make_csr("weak", rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505 - the weak key under test
    with pytest.raises(PkiError, match="RSA-1024"):
        shared_pki.authority.sign_csr(csr)


def test_sign_csr_refuses_garbage(shared_pki: pki.InitResult) -> None:
    with pytest.raises(PkiError, match="certificate signing request"):
        shared_pki.authority.sign_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----\n")
