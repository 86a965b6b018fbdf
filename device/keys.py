"""The device's own TLS key and its certificate signing request: made on the device, written 0600, never sent.

Both ways a factory-fresh device gets a certificate (the provisioning API with ``--csr``, and fleet provisioning by
claim) send only a CSR whose CN is the thing name; the private key stays in the device's folder. Keys are written
0600 from the start (never briefly readable by others) and moved into place atomically, so a crash leaves either
the old file or the new one.
"""
from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def write_private(path: Path, text: str) -> None:
    """Write ``text`` 0600 from the start (never briefly world-readable), then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())  # on disk before the rename: a power cut never leaves an empty key in place
    os.chmod(partial, 0o600)
    partial.replace(path)


def new_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """A new P-256 key, stored at ``path`` (0600) before anything is asked for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()).decode())
    return key


def load_or_make_key(path: Path) -> tuple[ec.EllipticCurvePrivateKey, bool]:
    """The EC key at ``path`` if a previous attempt left one, else a new one; ``(key, made)``.

    Reusing the key keeps one key per device across retries (a retry must not leave a trail of keys)."""
    if not path.exists():
        return new_key(path), True
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key: delete it to make a new one")
    return key, False


def csr_pem(key: ec.EllipticCurvePrivateKey, common_name: str) -> str:
    """A PEM CSR for ``key`` whose CN is ``common_name`` (the thing name: every certificate of ours has CN = thing)."""
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .sign(key, hashes.SHA256()))
    return request.public_bytes(serialization.Encoding.PEM).decode()


def certifies(certificate_pem: str, key: ec.EllipticCurvePrivateKey) -> bool:
    """Whether ``certificate_pem`` is a certificate for ``key`` (a device checks what it is given)."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError:
        return False
    public = certificate.public_key()
    return isinstance(public, ec.EllipticCurvePublicKey) and public.public_numbers() == key.public_key().public_numbers()
