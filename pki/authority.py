"""In-memory certificate authority: root + intermediate, and issuance of server/device certificates.

Nothing here touches the file system, so the local-cloud emulator and tests can mint thousands
of device certificates (EC P-256: a fraction of a millisecond each), a CA that is *not* ours, or a
certificate that is already expired, without writing a file. :mod:`pki.store` persists the same
objects in the PKI directory layout.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Literal
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from pki import profiles
from pki.errors import PkiError
from pki.keys import (
    DEFAULT_KEY_TYPE,
    PrivateKey,
    PublicKey,
    check_public_key,
    generate_private_key,
    private_key_pem,
)
from pki.names import validate_fqdn, validate_thing_name
from pki.pem import certificate_pem, common_names_of
from pki.profiles import Validity

DEFAULT_ORG = "Multi-Region IoT"
CertificateKind = Literal["server", "device"]


def check_country(country: str | None) -> str | None:
    if country is None or country == "":
        return None
    if len(country) != 2 or not country.isalpha() or not country.isupper():
        raise PkiError(f"invalid country {country!r}: give a two-letter upper-case ISO 3166 code such as SE")
    return country


def check_org(org: str | None) -> str | None:
    if org is None or org == "":
        return None
    if len(org) > 64:
        raise PkiError(f"organisation name is {len(org)} characters: X.509 allows at most 64")
    return org


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the CA issued, with its private key when the CA generated it."""

    name: str
    kind: CertificateKind
    certificate: x509.Certificate
    private_key: PrivateKey | None = None

    @property
    def certificate_pem(self) -> str:
        """The certificate as PEM text."""
        return certificate_pem(self.certificate)

    @property
    def private_key_pem(self) -> str | None:
        """The unencrypted PKCS#8 PEM key, or None for a certificate signed from a CSR."""
        return None if self.private_key is None else private_key_pem(self.private_key).decode("ascii")

    @property
    def certificate_id(self) -> str:
        """SHA-256 hex of the DER: the AWS IoT certificate id."""
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()

    @property
    def serial_hex(self) -> str:
        """Serial number as lower-case hex (as ``openssl x509 -serial`` shows it, lower-cased)."""
        return f"{self.certificate.serial_number:x}"


def expired_validity(*, days_ago: int = 1, lifetime_days: int = 365) -> Validity:
    """A validity window that ended ``days_ago`` days ago: for issuing expired test certificates."""
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=days_ago)
    return Validity(end - dt.timedelta(days=lifetime_days), end)


@dataclass
class CertificateAuthority:
    """Root + intermediate CA. Only the intermediate key is needed to issue; the root key is kept
    when the CA was just created (to write it out) and is None when loaded for issuing."""

    root_certificate: x509.Certificate
    intermediate_certificate: x509.Certificate
    intermediate_key: PrivateKey
    root_key: PrivateKey | None = None
    org: str | None = DEFAULT_ORG
    country: str | None = None
    _root_pem: str = field(default="", init=False, repr=False)
    _intermediate_pem: str = field(default="", init=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        org: str | None = DEFAULT_ORG,
        country: str | None = None,
        key_type: str = DEFAULT_KEY_TYPE,
        root_days: int = profiles.ROOT_DAYS,
        intermediate_days: int = profiles.INTERMEDIATE_DAYS,
        now: dt.datetime | None = None,
    ) -> CertificateAuthority:
        """A brand-new root and intermediate (keys of ``key_type``), in memory."""
        org, country = check_org(org), check_country(country)
        label = org or "PKI"
        root_key = generate_private_key(key_type)
        root = profiles.build_root(
            root_key,
            profiles.distinguished_name(f"{label} Root CA", org=org, country=country),
            Validity.for_days(root_days, now=now),
        )
        intermediate_key = generate_private_key(key_type)
        intermediate = profiles.build_intermediate(
            intermediate_key.public_key(),
            profiles.distinguished_name(f"{label} Intermediate CA", org=org, country=country),
            Validity.for_days(intermediate_days, now=now),
            root,
            root_key,
        )
        return cls(root, intermediate, intermediate_key, root_key, org, country)

    def __post_init__(self) -> None:
        self._root_pem = certificate_pem(self.root_certificate)
        self._intermediate_pem = certificate_pem(self.intermediate_certificate)

    @property
    def root_pem(self) -> str:
        """The root CA certificate (PEM): the trust anchor."""
        return self._root_pem

    @property
    def intermediate_pem(self) -> str:
        """The intermediate CA certificate (PEM): what is registered in AWS IoT Core."""
        return self._intermediate_pem

    @property
    def chain_pem(self) -> str:
        """Intermediate then root, the bundle a TLS server presents after its own certificate."""
        return self._intermediate_pem + self._root_pem

    def _subject(self, cn: str) -> x509.Name:
        return profiles.distinguished_name(cn, org=self.org, country=self.country)

    def issue_server(
        self, fqdn: str, *, key_type: str = DEFAULT_KEY_TYPE, days: int = profiles.SERVER_DAYS
    ) -> IssuedCertificate:
        """A server certificate for ``fqdn`` with a new key."""
        fqdn = validate_fqdn(fqdn)
        key = generate_private_key(key_type)
        certificate = profiles.build_server(
            key.public_key(), fqdn, self._subject(fqdn), Validity.for_days(days),
            self.intermediate_certificate, self.intermediate_key,
        )
        return IssuedCertificate(fqdn, "server", certificate, key)

    def issue_device(
        self,
        name: str,
        *,
        key_type: str = DEFAULT_KEY_TYPE,
        days: int = profiles.DEVICE_DAYS,
        validity: Validity | None = None,
        public_key: CertificatePublicKeyTypes | None = None,
    ) -> IssuedCertificate:
        """A device certificate with CN = ``name``.

        ``validity`` overrides ``days`` (e.g. :func:`expired_validity` for a backdated, expired
        certificate). With ``public_key`` the certificate is issued for that key and no private key
        is generated (the device keeps its own).
        """
        validate_thing_name(name)
        key = None
        if public_key is None:
            key = generate_private_key(key_type)
            checked: PublicKey = key.public_key()
        else:
            checked = check_public_key(public_key, f"the public key for {name}")
        window = validity or Validity.for_days(days)
        certificate = profiles.build_device(
            checked, self._subject(name), window, self.intermediate_certificate, self.intermediate_key,
            enforce_issuer_lifetime=validity is None,
        )
        return IssuedCertificate(name, "device", certificate, key)

    def issue_devices(self, names: Iterable[str], *, key_type: str = DEFAULT_KEY_TYPE,
                      days: int = profiles.DEVICE_DAYS, validity: Validity | None = None) -> list[IssuedCertificate]:
        """One device certificate per name (the options of :meth:`issue_device`), in memory."""
        return [self.issue_device(name, key_type=key_type, days=days, validity=validity) for name in names]

    def sign_csr(self, csr_data: bytes | str, *, days: int = profiles.DEVICE_DAYS) -> IssuedCertificate:
        """Issue a device certificate for a CSR (PEM or DER) after checking its signature and CN.

        Only the CSR's key and CN are used; subject O/C and every extension come from this CA.
        """
        csr = parse_csr(csr_data)
        names = common_names_of(csr)
        if not names:
            raise PkiError("the CSR has no CN: its subject CN must be the device's thing name")
        if len(names) != 1:
            raise PkiError("the CSR has more than one CN: give exactly one, the thing name")
        name = names[0]
        return self.issue_device(name, days=days, public_key=csr.public_key())


def parse_csr(csr_data: bytes | str) -> x509.CertificateSigningRequest:
    """Parse a PEM or DER CSR and check its self-signature (proof the requester holds the key)."""
    raw = csr_data.encode("ascii") if isinstance(csr_data, str) else csr_data
    try:
        if raw.lstrip().startswith(b"-----"):
            csr = x509.load_pem_x509_csr(raw)
        else:
            csr = x509.load_der_x509_csr(raw)
    except ValueError as exc:
        raise PkiError(f"not a readable certificate signing request ({exc}); give a PEM or DER CSR") from exc
    if not csr.is_signature_valid:
        raise PkiError("the CSR's signature is invalid: it was altered or not signed by its own key")
    return csr
