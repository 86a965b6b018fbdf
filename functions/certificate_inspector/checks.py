"""Certificate checks of the inspector: what a device certificate must be before JITR activates it.

Pure part (:func:`check_certificate`): given the parsed certificate, ``now`` and the CA's revocation list
(or None when none is configured), raise a named error, which Step Functions sees as the error name:

- ``CertificateNotValidNow``: expired, or not valid yet (AWS IoT does not promise to refuse either at the
  handshake, and auto-registration had already registered such certificates; see docs/design.md,
  "Certificates refused");
- ``NotAClientCertificate``: no ``clientAuth`` extended key usage, ``basicConstraints`` CA:TRUE or the
  ``keyCertSign`` key usage, even when our CA signed it (a device must never hold a CA certificate);
- ``CertificateRevokedByCa``: the serial is on the CA's certificate revocation list (a key stolen at the
  factory, revoked with ``python -m pki revoke NAME`` before the device ever connected).

Loading part (:func:`revocation_list_from_environment`): the CRL lives in S3 (``CRL_BUCKET``, ``CRL_KEY``,
default ``crl.pem``); its signature is verified against the intermediate CA certificate given in
``CRL_ISSUER_CERTIFICATE`` (PEM), which must be the CA registered in IoT (``EXPECTED_CA_CERTIFICATE_ID``,
the SHA-256 of its DER). Without ``CRL_BUCKET`` no CRL is configured and no certificate is refused as
revoked. A configured CRL that cannot be read or verified raises ``RevocationListUnavailable`` (fail
closed: no certificate is activated while the revocation state is unknown; the execution fails without
revoking anything). Parsed lists are cached per warm container for :data:`CACHE_TTL_SECONDS`.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

CRL_BUCKET_ENV = "CRL_BUCKET"
CRL_KEY_ENV = "CRL_KEY"
CRL_ISSUER_ENV = "CRL_ISSUER_CERTIFICATE"
EXPECTED_CA_ENV = "EXPECTED_CA_CERTIFICATE_ID"
DEFAULT_CRL_KEY = "crl.pem"
CACHE_TTL_SECONDS = 60.0
"""How long a warm container trusts the CRL it read: a revocation reaches every region within this."""


class CertificateRefused(Exception):
    """Base of the certificate verdicts below (the JITR machine catches them by class name)."""


class CertificateNotValidNow(CertificateRefused):
    """The certificate is expired or not yet valid."""


class NotAClientCertificate(CertificateRefused):
    """The certificate is not a TLS client leaf: no clientAuth EKU, or it is a CA certificate."""


class CertificateRevokedByCa(CertificateRefused):
    """Our CA's revocation list names the certificate's serial."""


class RevocationListUnavailable(RuntimeError):
    """A CRL is configured but cannot be read or trusted; nothing is activated until it can."""


@dataclass(frozen=True)
class RevocationList:
    """The serials one CA revoked, from a CRL whose signature was verified."""

    issuer: x509.Name
    revoked: Mapping[int, datetime.datetime]  # serial -> revocation date (UTC)
    source: str


def utc_now() -> datetime.datetime:
    """The current time, timezone-aware UTC (what certificate dates are compared with)."""
    return datetime.datetime.now(datetime.UTC)


def _extension(certificate: x509.Certificate, kind: type) -> Any:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_validity(certificate: x509.Certificate, now: datetime.datetime) -> None:
    """Raise ``CertificateNotValidNow`` unless not-before <= ``now`` <= not-after."""
    if now < certificate.not_valid_before_utc:
        raise CertificateNotValidNow(
            f"certificate serial {certificate.serial_number:x} is not valid before "
            f"{_stamp(certificate.not_valid_before_utc)} (now {_stamp(now)}): issue it with a current validity")
    if now > certificate.not_valid_after_utc:
        raise CertificateNotValidNow(
            f"certificate serial {certificate.serial_number:x} expired on {_stamp(certificate.not_valid_after_utc)} "
            f"(now {_stamp(now)}): issue the device a new certificate")


def check_client_leaf(certificate: x509.Certificate) -> None:
    """Raise ``NotAClientCertificate`` unless the certificate is a leaf for TLS client authentication."""
    serial = f"{certificate.serial_number:x}"
    constraints = _extension(certificate, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise NotAClientCertificate(f"certificate serial {serial} is a CA certificate (basicConstraints CA:TRUE); "
                                    "a device certificate must be a leaf (CA:FALSE)")
    usage = _extension(certificate, x509.KeyUsage)
    if usage is not None and usage.key_cert_sign:
        raise NotAClientCertificate(f"certificate serial {serial} may sign certificates (keyCertSign); "
                                    "a device certificate must not")
    purposes = _extension(certificate, x509.ExtendedKeyUsage)
    if purposes is None or ExtendedKeyUsageOID.CLIENT_AUTH not in purposes:
        raise NotAClientCertificate(f"certificate serial {serial} lacks the clientAuth extended key usage; "
                                    "issue device certificates with `python -m pki issue-device`")


def check_not_revoked(certificate: x509.Certificate, revocation_list: RevocationList) -> None:
    """Raise ``CertificateRevokedByCa`` if the list names the serial (``RevocationListUnavailable`` if the
    list is another CA's: it cannot say anything about this certificate)."""
    if certificate.issuer != revocation_list.issuer:
        raise RevocationListUnavailable(
            f"the revocation list {revocation_list.source} is issued by {revocation_list.issuer.rfc4514_string()}, "
            f"not by this certificate's issuer {certificate.issuer.rfc4514_string()}: publish the CRL of the CA "
            "registered in IoT")
    revoked_at = revocation_list.revoked.get(certificate.serial_number)
    if revoked_at is not None:
        raise CertificateRevokedByCa(
            f"certificate serial {certificate.serial_number:x} was revoked by its CA on {_stamp(revoked_at)} "
            f"({revocation_list.source})")


def check_certificate(certificate: x509.Certificate, *, now: datetime.datetime,
                      revocation_list: RevocationList | None) -> None:
    """Every check above, cheapest first; ``revocation_list`` None means no CRL is configured."""
    check_validity(certificate, now)
    check_client_leaf(certificate)
    if revocation_list is not None:
        check_not_revoked(certificate, revocation_list)


# --- the revocation list ----------------------------------------------------------------------------------

def parse_revocation_list(data: bytes, issuer: x509.Certificate, *, source: str) -> RevocationList:
    """Parse a PEM or DER CRL and verify it was signed by ``issuer``; raise ``RevocationListUnavailable``."""
    try:
        crl = (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----")
               else x509.load_der_x509_crl(data))
    except ValueError as error:
        raise RevocationListUnavailable(f"{source} is not a certificate revocation list ({error}); "
                                        "publish the crl.pem that `python -m pki revoke` writes") from None
    signer = issuer.public_key()
    if crl.issuer != issuer.subject or not isinstance(signer, ec.EllipticCurvePublicKey | rsa.RSAPublicKey) \
            or not crl.is_signature_valid(signer):
        raise RevocationListUnavailable(
            f"{source} is not signed by {issuer.subject.rfc4514_string()}: refusing to trust it; publish the CRL "
            "that `python -m pki revoke` writes with this CA's intermediate key")
    revoked = {entry.serial_number: entry.revocation_date_utc for entry in crl}
    return RevocationList(crl.issuer, revoked, source)


def load_issuer(environ: Mapping[str, str]) -> x509.Certificate:
    """The CRL issuer from ``CRL_ISSUER_CERTIFICATE``, checked against ``EXPECTED_CA_CERTIFICATE_ID``."""
    pem = environ.get(CRL_ISSUER_ENV, "")
    if not pem:
        raise RevocationListUnavailable(f"{CRL_BUCKET_ENV} is set but {CRL_ISSUER_ENV} is not: set it to the "
                                        "intermediate CA certificate (PEM) that signs the CRL")
    try:
        issuer = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise RevocationListUnavailable(f"{CRL_ISSUER_ENV} is not a PEM certificate ({error})") from None
    expected = environ.get(EXPECTED_CA_ENV, "")
    actual = hashlib.sha256(issuer.public_bytes(serialization.Encoding.DER)).hexdigest()
    if expected and actual != expected:
        raise RevocationListUnavailable(f"{CRL_ISSUER_ENV} is certificate {actual}, not the CA registered in IoT "
                                        f"({EXPECTED_CA_ENV} {expected}): pass the registered intermediate")
    return issuer


_cache: dict[tuple[str, str, str], tuple[float, RevocationList]] = {}
_cache_lock = threading.Lock()


def _s3_client() -> Any:
    import boto3  # the Lambda runtime ships boto3; imported here so the pure checks need no AWS SDK

    return boto3.client("s3")


def _read_object(s3: Any, bucket: str, key: str) -> bytes:
    source = f"s3://{bucket}/{key}"
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as error:  # noqa: BLE001 - botocore ClientError, NoSuchKey, network: all mean "unknown state"
        raise RevocationListUnavailable(f"cannot read the revocation list {source} ({error}); publish it "
                                        f"there or unset {CRL_BUCKET_ENV} to run without one") from None


def revocation_list_from_environment(environ: Mapping[str, str] | None = None, *,
                                     s3_factory: Callable[[], Any] = _s3_client,
                                     clock: Callable[[], float] = time.monotonic) -> RevocationList | None:
    """The configured CRL (cached for :data:`CACHE_TTL_SECONDS`), or None when ``CRL_BUCKET`` is unset."""
    environ = os.environ if environ is None else environ
    bucket = environ.get(CRL_BUCKET_ENV, "")
    if not bucket:
        return None
    key = environ.get(CRL_KEY_ENV) or DEFAULT_CRL_KEY
    cache_key = (bucket, key, environ.get(CRL_ISSUER_ENV, ""))
    with _cache_lock:
        cached = _cache.get(cache_key)
        if cached is not None and clock() - cached[0] < CACHE_TTL_SECONDS:
            return cached[1]
    issuer = load_issuer(environ)
    revocation_list = parse_revocation_list(_read_object(s3_factory(), bucket, key), issuer,
                                            source=f"s3://{bucket}/{key}")
    with _cache_lock:
        _cache[cache_key] = (clock(), revocation_list)
    return revocation_list


def clear_cache() -> None:
    """Forget cached CRLs (tests; a cold start does the same)."""
    with _cache_lock:
        _cache.clear()
