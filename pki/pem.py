"""PEM helpers: encode/parse certificates and compute the AWS IoT certificate id."""

from __future__ import annotations

import hashlib
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki.errors import PkiError

_BEGIN = "-----BEGIN CERTIFICATE-----"


def certificate_pem(certificate: x509.Certificate) -> str:
    """PEM text of ``certificate``."""
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def load_certificate(data: bytes | str, *, source: str = "certificate") -> x509.Certificate:
    """Parse exactly one PEM (or DER) certificate; ``source`` names it in the error message.

    Every PEM block is read: a file that must hold one certificate and holds more (say a foreign
    certificate appended to the trust anchor) is refused, never silently cut to its first block.
    """
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        if raw.lstrip().startswith(b"-----"):
            certificates = x509.load_pem_x509_certificates(raw)
        else:
            return x509.load_der_x509_certificate(raw)
    except ValueError as exc:
        raise PkiError(f"{source} is not a readable X.509 certificate ({exc})") from exc
    if len(certificates) != 1:
        raise PkiError(
            f"{source} holds {len(certificates)} certificates but must hold exactly one: remove the extra "
            "PEM block(s) (a certificate appended to it is not one this PKI issued) or restore the file"
        )
    return certificates[0]


def load_certificates(data: bytes | str, *, source: str = "bundle") -> list[x509.Certificate]:
    """Parse every certificate in a PEM bundle, in order."""
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        certificates = x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        raise PkiError(f"{source} is not a readable PEM certificate bundle ({exc})") from exc
    return certificates


def certificate_id(pem: str | bytes) -> str:
    """SHA-256 hex of the certificate's DER: the id AWS IoT gives the certificate in every region."""
    text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    if _BEGIN not in text:
        raise PkiError("certificate_id expects PEM text starting with '-----BEGIN CERTIFICATE-----'")
    der = load_certificate(text).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def common_names_of(item: x509.Name | x509.Certificate | x509.CertificateSigningRequest) -> list[str]:
    """Every CN of a name (or of a certificate's / CSR's subject), in order.

    cryptography warns when it parses a CN over RFC 5280's 64 characters; long AWS IoT thing
    names (up to 128) are expected here, so that warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        name = item if isinstance(item, x509.Name) else item.subject
        return [str(a.value) for a in name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def common_name_of(item: x509.Name | x509.Certificate | x509.CertificateSigningRequest) -> str | None:
    """The first CN (see :func:`common_names_of`), or None when there is none."""
    names = common_names_of(item)
    return names[0] if names else None
