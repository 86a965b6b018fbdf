"""Which registered CA signed a certificate, as AWS IoT links a device certificate to its CA.

AWS links a certificate to the registered CA whose subject is the certificate's issuer *and* whose key verifies its
signature (``caCertificatePem`` only disambiguates CAs with the same subject). The data plane (auto-registration,
fleet provisioning) and the fix ``localcloud.fixes.iot_ca_link`` (``RegisterCertificate``) ask here.
"""
from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature


def signing_ca(backend: Any, certificate: x509.Certificate) -> Any | None:
    """The CA registered in ``backend`` that issued and signed ``certificate``, or None."""
    for ca in backend.ca_certificates.values():
        try:
            ca_certificate = x509.load_pem_x509_certificate(ca.certificate_pem.encode("utf-8"))
            if ca_certificate.subject != certificate.issuer:
                continue
            certificate.verify_directly_issued_by(ca_certificate)
        except (ValueError, TypeError, InvalidSignature):  # not this CA (other issuer, key type or signature)
            continue
        return ca
    return None


def signing_ca_id(backend: Any, certificate_pem: str) -> str | None:
    """Id of the CA registered in ``backend`` that issued and signed ``certificate_pem``, or None."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode("utf-8"))
    except ValueError:
        return None
    ca = signing_ca(backend, certificate)
    return ca.certificate_id if ca is not None else None
