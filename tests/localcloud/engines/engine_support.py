"""Constants shared by the engine tests (imported by name: the tests folder is no package)."""

import datetime as _dt
from dataclasses import dataclass as _dataclass

from cryptography import x509 as _x509
from cryptography.hazmat.primitives import hashes as _hashes
from cryptography.hazmat.primitives import serialization as _serialization
from cryptography.hazmat.primitives.asymmetric import ec as _ec
from cryptography.x509.oid import ExtendedKeyUsageOID as _ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID as _NameOID

PRIMARY = "eu-west-1"
SECONDARY = "us-west-2"
ACCOUNT = "123456789012"


# --- certificates (EC P-256: fast) ----------------------------------------------------

@_dataclass
class Issued:
    pem: str
    key: _ec.EllipticCurvePrivateKey
    certificate: _x509.Certificate

    @property
    def der_sha256(self) -> str:
        import hashlib

        return hashlib.sha256(self.certificate.public_bytes(_serialization.Encoding.DER)).hexdigest()


def _issue(subject_cn: str, issuer: Issued | None, *, ca: bool) -> Issued:
    key = _ec.generate_private_key(_ec.SECP256R1())
    subject = _x509.Name([_x509.NameAttribute(_NameOID.COMMON_NAME, subject_cn)])
    now = _dt.datetime.now(_dt.UTC)
    builder = (
        _x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(_x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=30))
        .add_extension(_x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:  # a device certificate is a TLS client leaf (the inspector refuses any other)
        builder = builder.add_extension(_x509.ExtendedKeyUsage([_ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    certificate = builder.sign(issuer.key if issuer else key, _hashes.SHA256())
    pem = certificate.public_bytes(_serialization.Encoding.PEM).decode()
    return Issued(pem, key, certificate)


def make_ca(cn: str = "Test CA") -> Issued:
    return _issue(cn, None, ca=True)


def make_device(ca: Issued, thing_name: str) -> Issued:
    return _issue(thing_name, ca, ca=False)


# --- spying on moto's request handling ----------------------------------------------------------

def record_requests(monkeypatch, owner, method_name, describe):
    """Wrap ``owner.method_name(self, request)`` so each call appends ``describe(request)`` to the list returned."""
    seen = []
    original = getattr(owner, method_name)

    def recording(self, request, *args, **kwargs):
        seen.append(describe(request))
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(owner, method_name, recording)
    return seen
