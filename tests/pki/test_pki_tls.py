"""Interop proof on loopback: OpenSSL accepts the chain and a TLS 1.3 mutual-auth handshake works,
while a device certificate from another CA, an expired one and one used with the wrong key are refused."""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import pki

DOMAIN = "iot.example.com"
OPENSSL = shutil.which("openssl")


@dataclass
class ServerOutcome:
    """What the TLS server saw for its one connection."""

    peer_cn: str | None = None
    version: str | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def server_context(material: pki.EndpointMaterial, root_pem: str, tmp: Path) -> ssl.SSLContext:
    """TLS 1.3 only, presents server certificate + chain, requires a client certificate from the root."""
    cert_file, key_file, ca_file = tmp / "srv.pem", tmp / "srv.key", tmp / "root.pem"
    cert_file.write_text(material.server_certificate_pem + material.chain_pem)
    key_file.write_text(material.server_private_key_pem)
    ca_file.write_text(root_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert_file, key_file)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=ca_file)
    return context


def client_context(root_file: Path, cert_chain_pem: str, key_pem: bytes, tmp: Path) -> ssl.SSLContext:
    """TLS 1.3 only, verifies the server against the root and its hostname, presents a device certificate."""
    cert_file, key_file = tmp / "dev.pem", tmp / "dev.key"
    cert_file.write_text(cert_chain_pem)
    key_file.write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=root_file)
    context.load_cert_chain(cert_file, key_file)
    return context


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> tuple[ServerOutcome, str | None, bytes]:
    """One connection on 127.0.0.1 with server_hostname=DOMAIN; returns server outcome, client error, data read."""
    outcome = ServerOutcome()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                peer = tls.getpeercert()
                subject = peer["subject"]  # ((("commonName", cn),), ...)
                outcome.peer_cn = dict(x[0] for x in subject)["commonName"]  # pyright: ignore[reportCallIssue]  # typeshed: a union
                outcome.version = tls.version()
                tls.sendall(b"welcome")
        except (ssl.SSLError, OSError) as exc:
            outcome.error = str(exc)
        finally:
            outcome.done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_error, data = None, b""
    try:
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client_ctx.wrap_socket(raw, server_hostname=DOMAIN) as tls:
                data = tls.recv(7)  # in TLS 1.3 a refused client certificate surfaces on the first read
    except (ssl.SSLError, OSError) as exc:
        client_error = str(exc)
    thread.join(10)
    listener.close()
    assert outcome.done.is_set(), "server thread did not finish"
    return outcome, client_error, data


@pytest.fixture(scope="module")
def endpoint(shared_pki: pki.InitResult, tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path, Path]:
    tmp = tmp_path_factory.mktemp("tls-server")
    material = pki.load_endpoint_material(shared_pki.layout.root, DOMAIN)
    return server_context(material, shared_pki.authority.root_pem, tmp), shared_pki.layout.root_cert, tmp


def test_openssl_verify_accepts_the_server_and_device_certificates(shared_pki: pki.InitResult, tmp_path: Path) -> None:
    assert OPENSSL, "the openssl command is needed to prove interop"
    layout = shared_pki.layout
    device = pki.issue_device_certificates(layout.root, ["openssl-device", "l" * 128], authority=shared_pki.authority)
    base = [OPENSSL, "verify", "-x509_strict", "-CAfile", str(layout.root_cert), "-untrusted", str(layout.intermediate_cert)]
    server = subprocess.run([*base, "-purpose", "sslserver", str(layout.server_cert(DOMAIN))], capture_output=True, text=True)
    assert server.returncode == 0, server.stderr + server.stdout
    for issued in device:
        path = layout.device_cert(issued.name)
        client = subprocess.run([*base, "-purpose", "sslclient", str(path)], capture_output=True, text=True)
        assert client.returncode == 0, client.stderr + client.stdout
        assert f"{path}: OK" in client.stdout


def test_openssl_verify_rejects_a_device_from_another_ca(shared_pki: pki.InitResult, tmp_path: Path) -> None:
    stranger = pki.CertificateAuthority.create(org="Someone Else").issue_device("stranger")
    path = tmp_path / "stranger.crt"
    path.write_text(stranger.certificate_pem)
    layout = shared_pki.layout
    result = subprocess.run(
        [OPENSSL or "openssl", "verify", "-CAfile", str(layout.root_cert), "-untrusted", str(layout.intermediate_cert), str(path)],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "unable to get local issuer certificate" in result.stdout + result.stderr


def test_tls13_mutual_authentication_succeeds_with_hostname_verification(
    shared_pki: pki.InitResult, endpoint: tuple[ssl.SSLContext, Path, Path]
) -> None:
    server_ctx, root_file, tmp = endpoint
    ca = shared_pki.authority
    device = ca.issue_device("tls-device-0001")
    client_ctx = client_context(root_file, device.certificate_pem + ca.intermediate_pem, device.private_key_pem.encode(), tmp)
    outcome, client_error, data = handshake(server_ctx, client_ctx)
    assert client_error is None and outcome.error is None
    assert outcome.version == "TLSv1.3"
    assert outcome.peer_cn == "tls-device-0001"
    assert data == b"welcome"


def test_client_refuses_the_server_under_another_hostname(
    shared_pki: pki.InitResult, endpoint: tuple[ssl.SSLContext, Path, Path]
) -> None:
    server_ctx, root_file, tmp = endpoint
    ca = shared_pki.authority
    device = ca.issue_device("tls-device-0002")
    client_ctx = client_context(root_file, device.certificate_pem + ca.intermediate_pem, device.private_key_pem.encode(), tmp)
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Thread(target=lambda: _accept_and_try(listener, server_ctx), daemon=True)
    accepted.start()
    with pytest.raises(ssl.SSLCertVerificationError, match=r"Hostname mismatch|doesn't match"):
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            client_ctx.wrap_socket(raw, server_hostname="other.example.com")
    accepted.join(10)
    listener.close()


def _accept_and_try(listener: socket.socket, server_ctx: ssl.SSLContext) -> None:
    conn, _ = listener.accept()
    try:
        server_ctx.wrap_socket(conn, server_side=True).close()
    except (ssl.SSLError, OSError):
        conn.close()


def test_device_certificate_from_another_ca_is_rejected(endpoint: tuple[ssl.SSLContext, Path, Path]) -> None:
    server_ctx, root_file, tmp = endpoint
    other = pki.CertificateAuthority.create(org="Someone Else")
    device = other.issue_device("tls-device-0001")  # same name, wrong issuer
    client_ctx = client_context(root_file, device.certificate_pem + other.intermediate_pem, device.private_key_pem.encode(), tmp)
    outcome, client_error, data = handshake(server_ctx, client_ctx)
    assert outcome.peer_cn is None and data == b""
    assert "certificate verify failed" in outcome.error
    assert client_error is not None and "unknown ca" in client_error.lower()


def test_expired_device_certificate_is_rejected(
    shared_pki: pki.InitResult, endpoint: tuple[ssl.SSLContext, Path, Path]
) -> None:
    server_ctx, root_file, tmp = endpoint
    ca = shared_pki.authority
    expired = ca.issue_device("tls-expired", validity=pki.expired_validity(days_ago=1))
    client_ctx = client_context(root_file, expired.certificate_pem + ca.intermediate_pem, expired.private_key_pem.encode(), tmp)
    outcome, client_error, data = handshake(server_ctx, client_ctx)
    assert outcome.peer_cn is None and data == b""
    assert "certificate has expired" in outcome.error
    assert client_error is not None and "expired" in client_error


def key_claiming_another_public_key(certificate_key: ec.EllipticCurvePublicKey) -> bytes:
    """An EC key file whose *private* scalar is random but whose embedded public key is the
    certificate's: OpenSSL's key/certificate consistency check compares public keys only, so the
    client presents the certificate and signs the handshake with a key that does not belong to it."""
    wrong = ec.generate_private_key(ec.SECP256R1())
    der = wrong.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    point = wrong.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert der.endswith(point)  # SEC1: the public key BIT STRING is the last field
    claimed = certificate_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    body = base64.encodebytes(der[: -len(point)] + claimed)
    return b"-----BEGIN EC PRIVATE KEY-----\n" + body + b"-----END EC PRIVATE KEY-----\n"


def test_device_certificate_presented_with_the_wrong_key_is_rejected(
    shared_pki: pki.InitResult, endpoint: tuple[ssl.SSLContext, Path, Path]
) -> None:
    server_ctx, root_file, tmp = endpoint
    ca = shared_pki.authority
    device = ca.issue_device("tls-wrong-key")
    forged = key_claiming_another_public_key(device.certificate.public_key())
    client_ctx = client_context(root_file, device.certificate_pem + ca.intermediate_pem, forged, tmp)
    outcome, client_error, data = handshake(server_ctx, client_ctx)
    assert outcome.peer_cn is None and data == b""
    assert "BAD_SIGNATURE" in outcome.error  # the server checked CertificateVerify against the certificate
    assert client_error is not None and "decrypt error" in client_error


def test_python_ssl_refuses_to_load_a_plainly_mismatched_key(shared_pki: pki.InitResult, tmp_path: Path) -> None:
    ca = shared_pki.authority
    device, other = ca.issue_device("tls-mismatch"), ca.issue_device("tls-other")
    with pytest.raises(ssl.SSLError, match=r"KEY_VALUES_MISMATCH|key values mismatch"):
        client_context(shared_pki.layout.root_cert, device.certificate_pem, other.private_key_pem.encode(), tmp_path)
