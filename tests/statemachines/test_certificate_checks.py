"""The inspector's certificate checks (functions/certificate_inspector/checks.py) and their one call in
``inspector.inspect``: validity dates, client-leaf shape, the CA's revocation list (from S3, verified)."""
from __future__ import annotations

import datetime
import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contract import errors
from functions.certificate_inspector import checks, inspector

from localcloud.statemachines.certs import TestCA, certificate_id
from .test_inspector import REGION, StubDynamoDb, StubIot

NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def leaf(ca: TestCA, name: str = "dev-1", *, not_before=None, not_after=None, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,),
         is_ca: bool | None = False, key_cert_sign: bool = False) -> x509.Certificate:
    """A certificate signed by ``ca`` with exactly the properties a case needs."""
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(ca.certificate.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - DAY).not_valid_after(not_after or now + 30 * DAY))
    if is_ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if key_cert_sign:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True)
    return builder.sign(ca.key, hashes.SHA256())


def crl_pem(ca: TestCA, serials=(), *, signer=None) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    builder = x509.CertificateRevocationListBuilder().issuer_name(ca.certificate.subject) \
        .last_update(now - DAY).next_update(now + 30 * DAY)
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now - DAY).build())
    return builder.sign(signer or ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def ca():
    return TestCA()


# --- validity dates ------------------------------------------------------------------------------------

def test_an_expired_certificate_is_refused(ca):
    with pytest.raises(checks.CertificateNotValidNow, match="expired on"):
        checks.check_certificate(leaf(ca, not_before=NOW - 60 * DAY, not_after=NOW - DAY), now=NOW, revocation_list=None)


def test_a_not_yet_valid_certificate_is_refused(ca):
    with pytest.raises(checks.CertificateNotValidNow, match="not valid before"):
        checks.check_certificate(leaf(ca, not_before=NOW + DAY, not_after=NOW + 60 * DAY), now=NOW, revocation_list=None)


def test_the_validity_window_is_inclusive(ca):
    certificate = leaf(ca, not_before=NOW - DAY, not_after=NOW + DAY)
    for moment in (certificate.not_valid_before_utc, certificate.not_valid_after_utc):
        checks.check_certificate(certificate, now=moment, revocation_list=None)


# --- client leaf shape ---------------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    ({"eku": None}, "lacks the clientAuth extended key usage"),
    ({"eku": (ExtendedKeyUsageOID.SERVER_AUTH,)}, "lacks the clientAuth extended key usage"),
    ({"is_ca": True}, r"CA certificate \(basicConstraints CA:TRUE\)"),
    ({"key_cert_sign": True}, "keyCertSign"),
])
def test_anything_but_a_client_leaf_is_refused_even_from_our_ca(ca, options, message):
    with pytest.raises(checks.NotAClientCertificate, match=message):
        checks.check_certificate(leaf(ca, **options), now=checks.utc_now(), revocation_list=None)


def test_a_client_leaf_without_basic_constraints_passes(ca):
    checks.check_certificate(leaf(ca, is_ca=None), now=checks.utc_now(), revocation_list=None)


# --- the revocation list -------------------------------------------------------------------------------

def test_a_serial_on_the_verified_crl_is_refused_and_others_pass(ca):
    revoked, fine = leaf(ca, "dev-stolen"), leaf(ca, "dev-ok")
    crl = checks.parse_revocation_list(crl_pem(ca, [revoked.serial_number]), ca.certificate, source="crl.pem")
    with pytest.raises(checks.CertificateRevokedByCa, match=f"{revoked.serial_number:x} was revoked by its CA"):
        checks.check_certificate(revoked, now=checks.utc_now(), revocation_list=crl)
    checks.check_certificate(fine, now=checks.utc_now(), revocation_list=crl)


def test_a_crl_not_signed_by_the_ca_is_not_trusted(ca):
    forged = crl_pem(ca, [1], signer=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(checks.RevocationListUnavailable, match="not signed by"):
        checks.parse_revocation_list(forged, ca.certificate, source="crl.pem")
    with pytest.raises(checks.RevocationListUnavailable, match="not a certificate revocation list"):
        checks.parse_revocation_list(b"garbage", ca.certificate, source="crl.pem")


def test_another_cas_crl_cannot_clear_a_certificate(ca):
    other = TestCA("Other CA")
    crl = checks.parse_revocation_list(crl_pem(other), other.certificate, source="other.pem")
    with pytest.raises(checks.RevocationListUnavailable, match="not by this certificate's issuer"):
        checks.check_certificate(leaf(ca), now=checks.utc_now(), revocation_list=crl)


class StubS3:
    def __init__(self, objects):
        self.objects, self.reads = objects, 0

    def get_object(self, Bucket, Key):
        self.reads += 1
        if (Bucket, Key) not in self.objects:
            raise KeyError(f"NoSuchKey {Key}")
        return {"Body": io.BytesIO(self.objects[(Bucket, Key)])}


def environment(ca, **extra):
    return {"CRL_BUCKET": "crl-bucket", "CRL_ISSUER_CERTIFICATE": ca.pem,
            "EXPECTED_CA_CERTIFICATE_ID": ca.certificate_id, **extra}


def test_no_crl_bucket_means_no_crl_configured():
    checks.clear_cache()
    assert checks.revocation_list_from_environment({}, s3_factory=lambda: pytest.fail("S3 read")) is None


def test_the_crl_is_read_from_s3_once_per_ttl(ca):
    checks.clear_cache()
    s3, now = StubS3({("crl-bucket", "crl.pem"): crl_pem(ca, [7])}), [100.0]
    read = lambda: checks.revocation_list_from_environment(environment(ca), s3_factory=lambda: s3, clock=lambda: now[0])
    assert 7 in read().revoked and 7 in read().revoked and s3.reads == 1
    now[0] += checks.CACHE_TTL_SECONDS
    read()
    assert s3.reads == 2
    checks.clear_cache()


@pytest.mark.parametrize("change, message", [
    ({"CRL_KEY": "missing.pem"}, "cannot read the revocation list s3://crl-bucket/missing.pem"),
    ({"CRL_ISSUER_CERTIFICATE": ""}, "CRL_ISSUER_CERTIFICATE is not"),
    ({"EXPECTED_CA_CERTIFICATE_ID": "f" * 64}, "not the CA registered in IoT"),
])
def test_a_configured_but_unusable_crl_fails_closed(ca, change, message):
    checks.clear_cache()
    s3 = StubS3({("crl-bucket", "crl.pem"): crl_pem(ca)})
    with pytest.raises(checks.RevocationListUnavailable, match=message):
        checks.revocation_list_from_environment(environment(ca, **change), s3_factory=lambda: s3)


# --- through inspector.inspect ---------------------------------------------------------------------------

def inspect_certificate(ca, certificate, dynamodb=None):
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    return inspector.inspect({"certificateId": certificate_id(pem)}, iot=StubIot(pem, ca.certificate_id),
                             dynamodb=dynamodb or StubDynamoDb(),
                             config=inspector.InspectorConfig("inventory", ca.certificate_id, REGION))


def test_inspect_refuses_expired_and_ca_certificates_before_reading_the_inventory(ca):
    now, dynamodb = datetime.datetime.now(datetime.UTC), StubDynamoDb()
    with pytest.raises(checks.CertificateNotValidNow):
        inspect_certificate(ca, leaf(ca, not_before=now - 60 * DAY, not_after=now - DAY), dynamodb)
    with pytest.raises(checks.CertificateNotValidNow):
        inspect_certificate(ca, leaf(ca, not_before=now + DAY, not_after=now + 60 * DAY), dynamodb)
    with pytest.raises(checks.NotAClientCertificate):
        inspect_certificate(ca, leaf(ca, is_ca=True), dynamodb)
    with pytest.raises(checks.NotAClientCertificate):
        inspect_certificate(ca, leaf(ca, eku=None), dynamodb)
    assert dynamodb.requests == []


def test_inspect_refuses_a_certificate_the_ca_revoked(ca, monkeypatch):
    checks.clear_cache()
    stolen, dynamodb = leaf(ca, "dev-stolen"), StubDynamoDb()
    s3 = StubS3({("crl-bucket", "crl.pem"): crl_pem(ca, [stolen.serial_number])})
    for name, value in environment(ca).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(checks, "_s3_client", lambda: s3)
    monkeypatch.setattr(checks.revocation_list_from_environment, "__kwdefaults__",
                        {"s3_factory": lambda: s3, "clock": checks.time.monotonic})
    with pytest.raises(checks.CertificateRevokedByCa):
        inspect_certificate(ca, stolen, dynamodb)
    assert dynamodb.requests == [] and s3.reads == 1
    checks.clear_cache()


def test_the_jitr_machine_is_told_which_names_are_certificate_verdicts():
    assert set(errors.CERTIFICATE_CHECK_REFUSALS) == {cls.__name__ for cls in checks.CertificateRefused.__subclasses__()}
