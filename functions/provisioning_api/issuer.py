"""Device certificates signed by our CA, whose private key the function never holds.

The CA's key signs through a ``Signer``: in AWS a KMS asymmetric key (``KmsSigner``: ``kms:Sign`` over the
to-be-signed bytes; the key never leaves KMS), in the local cloud and tests the PKI folder's intermediate key
(``PemSigner``). cryptography signs certificates only with a key object it holds, so the certificate is assembled
here: the builder signs with a throwaway key of the CA's algorithm (which fixes the signature algorithm inside the
to-be-signed part), the to-be-signed bytes go to the signer, and the DER certificate is rebuilt around the CA's
signature and checked against the CA's public key before anything uses it.

The profile matches ``pki.profiles.build_device`` (what JITR's inspector accepts): CN = thing name, clientAuth, not a
CA, digitalSignature, subject and authority key identifiers, never outliving the CA.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEVICE_DAYS = 365


class IssueError(Exception):
    """The CSR or key cannot be certified (the message says why)."""


class Signer(Protocol):
    """Signs a certificate's to-be-signed bytes with the CA's key; ``certificate_pem`` is that CA's certificate."""

    certificate_pem: str

    def sign(self, tbs: bytes) -> bytes: ...


def _hash_for(public_key: Any) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


@dataclass
class PemSigner:
    """The CA key in memory (local cloud, tests): the same interface as KMS."""

    private_key_pem: str
    certificate_pem: str

    def sign(self, tbs: bytes) -> bytes:
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(tbs, ec.ECDSA(_hash_for(key.public_key())))
        if not isinstance(key, rsa.RSAPrivateKey):
            raise IssueError(f"the CA key is a {type(key).__name__}: a CA signs with an EC or RSA key")
        from cryptography.hazmat.primitives.asymmetric import padding

        return key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())


@dataclass
class KmsSigner:
    """``kms:Sign`` with an asymmetric SIGN_VERIFY key holding the CA's key (ECC_NIST_P256/P384 or RSA)."""

    kms: Any
    key_id: str
    certificate_pem: str

    def sign(self, tbs: bytes) -> bytes:
        public_key = x509.load_pem_x509_certificate(self.certificate_pem.encode()).public_key()
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            algorithm = "ECDSA_SHA_384" if public_key.curve.key_size >= 384 else "ECDSA_SHA_256"
        else:
            algorithm = "RSASSA_PKCS1_V1_5_SHA_256"
        # ECDSA signatures come back DER-encoded, as X.509 carries them.
        return self.kms.sign(KeyId=self.key_id, Message=tbs, MessageType="RAW",
                             SigningAlgorithm=algorithm)["Signature"]


@functools.lru_cache(maxsize=4)
def _throwaway_key(kind: str) -> Any:
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _kind(public_key: Any) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "p384" if public_key.curve.key_size >= 384 else "p256"
    return "rsa"


def _tlv(data: bytes, offset: int) -> tuple[int, int]:
    """(header length, content length) of the DER element at ``offset``."""
    length = data[offset + 1]
    if length < 0x80:
        return 2, length
    count = length & 0x7F
    return 2 + count, int.from_bytes(data[offset + 2:offset + 2 + count], "big")


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _resign(certificate: x509.Certificate, signature: bytes) -> bytes:
    """The certificate's DER with its signature replaced: SEQUENCE { tbs, algorithm, BIT STRING signature }."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    header, _ = _tlv(der, 0)
    tbs_header, tbs_length = _tlv(der, header)
    tbs_end = header + tbs_header + tbs_length
    alg_header, alg_length = _tlv(der, tbs_end)
    algorithm = der[tbs_end:tbs_end + alg_header + alg_length]
    return _der(0x30, der[header:tbs_end] + algorithm + _der(0x03, b"\x00" + signature))


def check_csr(csr_pem: str, thing_name: str) -> Any:
    """The CSR's public key, after checking its self-signature, that its CN is the thing name, and the key type."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as error:
        raise IssueError(f"csr is not a readable PEM certificate signing request ({error})") from None
    if not csr.is_signature_valid:
        raise IssueError("the CSR's signature is invalid: it was altered or not signed by its own key")
    names = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [thing_name]:
        raise IssueError(f"the CSR's subject CN must be exactly the thing name {thing_name!r}, got {names}")
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp384r1"):
        return key
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return key
    raise IssueError("the CSR's key must be EC P-256/P-384 or RSA of at least 2048 bits")


def issue(signer: Signer, thing_name: str, public_key: Any, *, now: dt.datetime | None = None,
          days: int = DEVICE_DAYS, extensions: tuple[x509.ExtensionType, ...] = ()) -> str:
    """A device certificate (PEM) for ``public_key``, CN = ``thing_name``, signed through ``signer``; ``extensions``
    are added, non-critical (the fleet certificate provider marks its certificates: ``fleet_provisioning.proof``)."""
    ca = x509.load_pem_x509_certificate(signer.certificate_pem.encode())
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    not_after = min(now + dt.timedelta(days=days), ca.not_valid_after_utc)
    if not_after <= now:
        raise IssueError("the CA certificate has expired: renew it before provisioning devices")
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    organisation = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    subject = x509.Name([*organisation, x509.NameAttribute(NameOID.COMMON_NAME, thing_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(public_key)
        .serial_number(secrets.randbits(159) | 1 << 158)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=isinstance(public_key, rsa.RSAPublicKey), data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    ca_public = ca.public_key()
    draft = builder.sign(_throwaway_key(_kind(ca_public)), _hash_for(ca_public))
    certificate = x509.load_der_x509_certificate(_resign(draft, signer.sign(draft.tbs_certificate_bytes)))
    try:
        certificate.verify_directly_issued_by(ca)
    except Exception as error:  # noqa: BLE001 - InvalidSignature, ValueError, TypeError: all mean not the CA's key
        raise IssueError(f"the CA signer's signature does not verify with the CA certificate ({error!r}): the "
                         "signing key is not the CA's") from None
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def certificate_id(certificate_pem: str) -> str:
    """SHA-256 of the DER: the certificate's id in every region (as AWS IoT computes it)."""
    der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()
