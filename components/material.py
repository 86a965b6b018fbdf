"""Certificate material for the custom endpoint: from the PKI folder or from secret config.

Checked before any resource exists: the server certificate must cover the domain, its key must
match it, and the CA certificate registered in IoT Core must be a CA.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import pki
from components.config import ConfigError, StackSettings
from pki import EndpointMaterial

__all__ = ["EndpointMaterial", "check_material", "load_material"]


def load_material(settings: StackSettings, domain: str) -> EndpointMaterial:
    """Load and check the endpoint's certificates for ``domain``."""
    if settings.pem_overrides is not None:
        o = settings.pem_overrides
        material = EndpointMaterial(o.server_certificate, o.server_private_key, o.certificate_chain,
                                    o.ca_certificate)
        origin = "config values serverCertificate/serverPrivateKey/certificateChain/caCertificate"
    else:
        try:
            material = pki.load_endpoint_material(settings.pki_dir, domain)
        except pki.PkiError as exc:
            raise ConfigError(f"pkiDir: {exc}") from None
        origin = f"pkiDir {settings.pki_dir}"
    check_material(material, domain, origin)
    return material


def check_material(material: EndpointMaterial, domain: str, origin: str) -> None:
    """Raise ConfigError naming what is wrong with the material and where it came from."""
    try:
        cert = x509.load_pem_x509_certificate(material.server_certificate_pem.encode())
    except ValueError:
        raise ConfigError(f"the server certificate from {origin} is not a PEM certificate.") from None
    try:
        key = serialization.load_pem_private_key(material.server_private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"the server private key from {origin} is not an unencrypted PEM private key "
                          "(ACM imports only unencrypted keys).") from None
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ConfigError(f"the server private key from {origin} does not belong to the server certificate.")
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
            .get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if domain not in [n.lower() for n in names]:
        raise ConfigError(f"the server certificate from {origin} does not name {domain} in its subject "
                          f"alternative names ({names or 'none'}); issue one with "
                          f"`python -m pki init --out DIR --domain {domain}`.")
    try:
        chain = x509.load_pem_x509_certificates(material.chain_pem.encode())
        ca = x509.load_pem_x509_certificate(material.ca_certificate_pem.encode())
    except ValueError:
        raise ConfigError(f"the certificate chain or CA certificate from {origin} is not PEM.") from None
    if not chain:
        raise ConfigError(f"the certificate chain from {origin} is empty.")
    try:
        is_ca = ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ConfigError(f"the CA certificate from {origin} is not a CA certificate (basicConstraints "
                          "CA:TRUE); register the intermediate CA that signs device certificates.")
