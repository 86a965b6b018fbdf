"""The fleet provisioning claim: one certificate and key that every factory-fresh device ships with, used only to
ask for its own certificate (docs/design.md, "Fleet provisioning by claim").

Self-signed on purpose, never by our CA: the claim is shared by the whole fleet, so it must never pass for a device
of our CA (JITR would inspect it, replication would copy it). The program registers it without CA
(RegisterCertificateWithoutCA) in every region with a policy that allows the fleet provisioning topics only.

Files: ``<out>/claim/claim.crt`` (0644) and ``<out>/claim/claim.key`` (0600). An existing claim is kept (its
certificate is what every region has registered); ``replace=True`` makes a new one (rotate the claim: deploy, then
ship the new one).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pki.atomic import KEY_MODE, PUBLIC_MODE, make_private_dir, write_atomic

CLAIM_DIR, CERTIFICATE, KEY = "claim", "claim.crt", "claim.key"
CLAIM_DAYS = 5 * 365
COMMON_NAME = "fleet-provisioning-claim"


@dataclass(frozen=True)
class Claim:
    certificate: Path
    key: Path
    created: bool


def claim_paths(out: Path) -> tuple[Path, Path]:
    return out / CLAIM_DIR / CERTIFICATE, out / CLAIM_DIR / KEY


def issue_claim(out: Path, *, replace: bool = False, days: int = CLAIM_DAYS) -> Claim:
    """Write the claim certificate and key (kept if they exist, unless ``replace``)."""
    certificate_path, key_path = claim_paths(Path(out))
    if certificate_path.exists() and key_path.exists() and not replace:
        return Claim(certificate_path, key_path, created=False)
    make_private_dir(certificate_path.parent)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_atomic(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), mode=KEY_MODE)
    write_atomic(certificate_path, certificate.public_bytes(serialization.Encoding.PEM), mode=PUBLIC_MODE)
    return Claim(certificate_path, key_path, created=True)
