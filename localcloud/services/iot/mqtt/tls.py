"""The endpoints' TLS: 1.3 only, a client certificate required, the domain's certificate chosen by SNI.

What AWS IoT Core's custom-domain endpoint does with ``IoTSecurityPolicy_TLS13_1_3_2022_10`` and a CA
registered in SNI_ONLY mode: a ClientHello offering only TLS 1.2 fails; a client certificate that does not
chain to a CA we trust (the local PKI's intermediate and root) or is outside its validity window fails the
handshake (except the fleet provisioning claim, ``<pkiDir>/claim/claim.crt`` when issued: self-signed and
registered without CA, which AWS IoT accepts for any endpoint; and the certificates AWS IoT signs itself,
CreateKeysAndCertificate's, whose CA is ``localcloud.services.iot.amazon_ca``'s stand-in); and a ClientHello whose SNI is not a domain we
serve (or that has no SNI at all) is refused with an ``unrecognized_name`` alert, since SNI_ONLY certificates "must send the SNI extension"
(https://docs.aws.amazon.com/iot/latest/apireference/API_CertificateDescription.html, certificateMode).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pki.claim import claim_paths
from pki.layout import Layout


@dataclass(frozen=True)
class ServerMaterial:
    """PEM texts for one served domain: its certificate chain, key, and the CAs client certificates chain to."""

    domain: str
    certificate_chain_pem: str  # server certificate, then intermediate, then root
    private_key_pem: str
    client_ca_pem: str  # intermediate + root

    @classmethod
    def from_pki(cls, pki_dir: Path, domain: str, also_trusted: tuple[str, ...] = ()) -> ServerMaterial:
        """``also_trusted``: more CA certificates (PEM) client certificates may chain to (AWS's own CA)."""
        layout = Layout(Path(pki_dir))
        chain = layout.chain.read_text(encoding="ascii")
        server = layout.server_cert(domain).read_text(encoding="ascii")
        clients = chain
        claim = claim_paths(Path(pki_dir))[0]
        if claim.exists():  # registered without CA: AWS accepts it at the handshake, IoT Core decides at CONNECT
            clients = chain.rstrip("\n") + "\n" + claim.read_text(encoding="ascii")
        for pem in also_trusted:
            clients = clients.rstrip("\n") + "\n" + pem
        return cls(domain, server.rstrip("\n") + "\n" + chain, layout.server_key(domain).read_text(encoding="ascii"),
                   clients)


def _domain_context(material: ServerMaterial) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=material.client_ca_pem)
    # load_cert_chain reads files only: a private temporary folder, removed straight away.
    with tempfile.TemporaryDirectory(prefix="localcloud-tls-") as folder:
        certificate, key = os.path.join(folder, "chain.pem"), os.path.join(folder, "key.pem")
        descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(material.private_key_pem)
        Path(certificate).write_text(material.certificate_chain_pem, encoding="ascii")
        context.load_cert_chain(certificate, key)
    return context


def server_context(materials: list[ServerMaterial]) -> ssl.SSLContext:
    """A listening context that picks each domain's context by SNI and refuses any other name (or none)."""
    if not materials:
        raise ValueError("an endpoint serves at least one domain")
    by_name = {m.domain.lower(): _domain_context(m) for m in materials}
    listening = _domain_context(materials[0])

    def choose(connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> int | None:
        chosen = by_name.get((server_name or "").lower().rstrip("."))
        if chosen is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        connection.context = chosen
        return None

    listening.sni_callback = choose
    return listening

