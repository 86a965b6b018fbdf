"""A stand-in for the CA AWS IoT signs its own device certificates with (CreateKeysAndCertificate over MQTT).

AWS: "AWS IoT provides client certificates that are signed by the Amazon Root certificate authority (CA). The new
certificate has a PENDING_ACTIVATION status" (device provisioning MQTT API,
https://docs.aws.amazon.com/iot/latest/developerguide/fleet-provision-api.html, CreateKeysAndCertificate);
CreateKeysAndCertificate "Creates a 2048-bit RSA key pair and issues an X.509 certificate using the issued public key"
and AWS "issues a default subject name for the certificate (for example, AWS IoT Certificate)"
(https://docs.aws.amazon.com/iot/latest/apireference/API_CreateKeysAndCertificate.html). A certificate provider
does not take part: it replaces the signing of CreateCertificateFromCsr only
(https://docs.aws.amazon.com/iot/latest/developerguide/provisioning-cert-provider.html).

Nobody but Amazon holds Amazon's key, so the local cloud signs with a CA of its own, made once per process (AWS's
CA is the same for every account and region), never written to disk: issuer ``OU=Amazon Web Services, O=Amazon.com
Inc., L=Seattle, ST=Washington, C=US`` and subject ``CN=AWS IoT Certificate``, as AWS-issued device certificates
name them (our judgement from certificates seen in the field), valid until 2049-12-31 23:59:59 UTC, as theirs are.
What matters for the design is what AWS documents: the certificate is *not* our CA's, it is registered without a CA
of ours (``caCertificateId`` absent), and AWS's endpoints accept it at the TLS handshake (the served endpoints add
this CA to the client trust list, ``localcloud.services.iot.mqtt.tls``), leaving IoT Core to decide at CONNECT.
"""
from __future__ import annotations

import datetime as dt
import functools
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ISSUER = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Amazon Web Services"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Amazon.com Inc."),
                    x509.NameAttribute(NameOID.LOCALITY_NAME, "Seattle"),
                    x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Washington"),
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US")])
SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AWS IoT Certificate")])
NOT_AFTER = dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Issued:
    certificate_pem: str
    private_key_pem: str  # PKCS#1 "BEGIN RSA PRIVATE KEY", as AWS returns it
    public_key_pem: str


class AmazonCa:
    """Issues CreateKeysAndCertificate's key pair and certificate."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        self.certificate = (
            x509.CertificateBuilder().subject_name(ISSUER).issuer_name(ISSUER)
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(self._key, hashes.SHA256()))
        self.certificate_pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def create_keys_and_certificate(self) -> Issued:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        certificate = (
            x509.CertificateBuilder().subject_name(SUBJECT).issuer_name(ISSUER)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256()))
        return Issued(
            certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode("ascii"),
            key.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii"))


_LOCK = threading.Lock()


@functools.cache
def _made() -> AmazonCa:
    return AmazonCa()


def amazon_ca() -> AmazonCa:
    """The process's one stand-in for Amazon's CA (made on first use, once, whichever thread asks first)."""
    with _LOCK:
        return _made()
