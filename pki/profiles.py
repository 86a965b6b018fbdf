"""Certificate profiles: what a careful CA puts in each kind of certificate.

Pure functions from keys, names and validity to signed ``x509.Certificate`` objects; no I/O.

| kind         | basic constraints      | key usage (critical)                 | EKU        | lifetime |
|--------------|------------------------|--------------------------------------|------------|----------|
| root         | CA, pathlen 1 (crit.)  | keyCertSign, cRLSign                 | -          | 20 years |
| intermediate | CA, pathlen 0 (crit.)  | digitalSignature, keyCertSign, cRLSign | -        | 10 years |
| server       | not CA (critical)      | digitalSignature (+keyEncipherment RSA) | serverAuth | <= 397 days |
| device       | not CA (critical)      | digitalSignature (+keyEncipherment RSA) | clientAuth | 1 year  |

Every certificate has a subject key identifier, every non-root an authority key identifier equal
to its issuer's SKI, and a random positive serial of at most 159 bits (<= 20 DER bytes).
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.errors import PkiError
from pki.keys import PrivateKey, PublicKey, signature_hash

ROOT_DAYS = 7300
INTERMEDIATE_DAYS = 3650
SERVER_DAYS = 397
SERVER_MAX_DAYS = 397
DEVICE_DAYS = 365
CLOCK_SKEW = dt.timedelta(minutes=5)
"""not-before is set this far in the past so a peer whose clock is slightly behind accepts it."""

UB_COMMON_NAME = 64
"""RFC 5280's upper bound for a CN; thing names may be up to 128 characters (see common_name)."""


@dataclass(frozen=True)
class Validity:
    """A certificate's validity window (UTC, whole seconds)."""

    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def for_days(cls, days: int, *, now: dt.datetime | None = None) -> Validity:
        """``days`` of validity starting :data:`CLOCK_SKEW` before ``now``."""
        if days < 1:
            raise PkiError(f"validity must be at least 1 day, got {days}")
        start = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0) - CLOCK_SKEW
        return cls(start, start + dt.timedelta(days=days))

    def __post_init__(self) -> None:
        if self.not_before.tzinfo is None or self.not_after.tzinfo is None:
            raise PkiError("validity times must be timezone-aware (UTC)")
        if self.not_after <= self.not_before:
            raise PkiError(
                f"not-after {self.not_after.isoformat()} is not after not-before {self.not_before.isoformat()}"
            )

    @property
    def days(self) -> float:
        """Length of the window in days."""
        return (self.not_after - self.not_before).total_seconds() / 86400


def new_serial() -> int:
    """A random positive serial of at most 159 bits, so its DER encoding fits in 20 bytes."""
    while True:
        serial = int.from_bytes(os.urandom(20), "big") >> 1
        if serial > 0:
            return serial


def common_name(value: str) -> x509.NameAttribute:
    """A CN attribute. Values over RFC 5280's 64 characters are allowed because AWS IoT thing
    names may have up to 128; OpenSSL, Python's ssl and AWS parse them without complaint."""
    if len(value) <= UB_COMMON_NAME:
        return x509.NameAttribute(NameOID.COMMON_NAME, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return x509.NameAttribute(NameOID.COMMON_NAME, value, _validate=False)


def distinguished_name(cn: str, *, org: str | None = None, country: str | None = None) -> x509.Name:
    """``C=country, O=org, CN=cn`` with the optional parts left out."""
    attributes = []
    if country:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if org:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attributes.append(common_name(cn))
    return x509.Name(attributes)


def _base(subject: x509.Name, issuer: x509.Name, public_key: PublicKey, validity: Validity) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(new_serial())
        .not_valid_before(validity.not_before)
        .not_valid_after(validity.not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_key_usage(*, digital_signature: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )


def _leaf_key_usage(public_key: PublicKey) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )


def _check_within_issuer(validity: Validity, issuer: x509.Certificate, what: str) -> None:
    if validity.not_after > issuer.not_valid_after_utc:
        raise PkiError(
            f"{what} would outlive its issuer (not-after {validity.not_after:%Y-%m-%d} > issuer's "
            f"{issuer.not_valid_after_utc:%Y-%m-%d}): shorten the validity or renew the CA with init --force"
        )


def build_root(key: PrivateKey, name: x509.Name, validity: Validity) -> x509.Certificate:
    """Self-signed root CA certificate, path length 1 (it signs only the intermediate)."""
    builder = (
        _base(name, name, key.public_key(), validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(digital_signature=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    return builder.sign(key, signature_hash(key))


def build_intermediate(
    public_key: PublicKey, name: x509.Name, validity: Validity, issuer: x509.Certificate, issuer_key: PrivateKey
) -> x509.Certificate:
    """Intermediate CA certificate signed by the root, path length 0 (it signs only leaves)."""
    _check_within_issuer(validity, issuer, "the intermediate CA")
    builder = (
        _base(name, issuer.subject, public_key, validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(digital_signature=True), critical=True)
        .add_extension(_authority_key_id(issuer), critical=False)
    )
    return builder.sign(issuer_key, signature_hash(issuer_key))


def _build_leaf(
    public_key: PublicKey, subject: x509.Name, validity: Validity, issuer: x509.Certificate,
    issuer_key: PrivateKey, usage: x509.ObjectIdentifier, san: x509.SubjectAlternativeName | None,
) -> x509.Certificate:
    builder = (
        _base(subject, issuer.subject, public_key, validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(public_key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(_authority_key_id(issuer), critical=False)
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, signature_hash(issuer_key))


def build_server(
    public_key: PublicKey, fqdn: str, subject: x509.Name, validity: Validity,
    issuer: x509.Certificate, issuer_key: PrivateKey,
) -> x509.Certificate:
    """TLS server certificate: CN and SAN = ``fqdn``, serverAuth, at most 397 days."""
    if validity.days > SERVER_MAX_DAYS:
        raise PkiError(
            f"server certificate lifetime {validity.days:.0f} days exceeds {SERVER_MAX_DAYS}: use --days {SERVER_MAX_DAYS} or less"
        )
    _check_within_issuer(validity, issuer, "the server certificate")
    san = x509.SubjectAlternativeName([x509.DNSName(fqdn)])
    return _build_leaf(public_key, subject, validity, issuer, issuer_key, ExtendedKeyUsageOID.SERVER_AUTH, san)


def build_device(
    public_key: PublicKey, subject: x509.Name, validity: Validity,
    issuer: x509.Certificate, issuer_key: PrivateKey, *, enforce_issuer_lifetime: bool = True,
) -> x509.Certificate:
    """Device (client) certificate: CN = thing name, clientAuth."""
    if enforce_issuer_lifetime:
        _check_within_issuer(validity, issuer, "the device certificate")
    return _build_leaf(public_key, subject, validity, issuer, issuer_key, ExtendedKeyUsageOID.CLIENT_AUTH, None)
