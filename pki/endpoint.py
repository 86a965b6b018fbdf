"""What the Pulumi program needs from the PKI directory to set up the IoT Core endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pki.errors import PkiError
from pki.layout import Layout
from pki.names import validate_fqdn
from pki.pem import load_certificate, load_certificates


@dataclass(frozen=True)
class EndpointMaterial:
    """PEM texts for the custom domain (ACM import) and CA registration in IoT Core."""

    server_certificate_pem: str
    """The server certificate for the domain (ACM ``certificate_body``)."""
    server_private_key_pem: str
    """Its unencrypted private key (ACM ``private_key``): treat as a secret."""
    chain_pem: str
    """Intermediate then root (ACM ``certificate_chain``)."""
    ca_certificate_pem: str
    """The intermediate CA: what is registered in IoT Core and signs device certificates."""


def load_endpoint_material(pki_dir: Path, domain: str) -> EndpointMaterial:
    """Read the server certificate/key for ``domain``, the chain and the intermediate CA.

    Raises :class:`PkiError` naming every missing file (or the unreadable one) and the command to run.
    """
    layout = Layout(Path(pki_dir))
    fqdn = validate_fqdn(domain)
    paths = [layout.server_cert(fqdn), layout.server_key(fqdn), layout.chain, layout.intermediate_cert]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise PkiError(f"{names} {'is' if len(missing) == 1 else 'are'} missing: run {layout.init_hint()}")
    server_certificate, server_key, chain, ca_certificate = (p.read_text(encoding="ascii") for p in paths)
    load_certificate(server_certificate, source=str(layout.server_cert(fqdn)))
    load_certificate(ca_certificate, source=str(layout.intermediate_cert))
    if len(load_certificates(chain, source=str(layout.chain))) != 2:
        raise PkiError(f"{layout.chain} must hold the intermediate and the root certificate: re-run {layout.init_hint()} --force")
    if "PRIVATE KEY" not in server_key or "ENCRYPTED" in server_key:
        raise PkiError(f"{layout.server_key(fqdn)} is not an unencrypted PEM private key: re-run {layout.init_hint()} --force")
    return EndpointMaterial(server_certificate, server_key, chain, ca_certificate)


def pki_domains(pki_dir: Path) -> list[str]:
    """The domains ``pki_dir`` holds server certificates for (``server/<FQDN>.crt``), sorted."""
    layout = Layout(Path(pki_dir))
    if not layout.server_dir.is_dir():
        return []
    return sorted(p.stem for p in layout.server_dir.glob("*.crt"))


def check_pki_domain(pki_dir: Path, domain: str, *, start_over: str = "") -> None:
    """Refuse a PKI folder that holds a CA made for other domains than ``domain``.

    Replacing its CA would orphan every device certificate it issued, so nothing is replaced silently:
    the error names the domains the folder was made for, how to keep the CA and add ``domain``
    (``issue-server``), and ``start_over`` (e.g. the command that removes the folder) if given.
    A folder without a CA passes (there is nothing to replace).
    """
    layout = Layout(Path(pki_dir))
    fqdn = validate_fqdn(domain)
    if not layout.root_cert.exists():
        return
    domains = pki_domains(layout.root)
    if fqdn in domains:
        return
    made_for = ", ".join(domains) or "no domain (it has no server certificate)"
    restart = f"; to start over with a new CA, {start_over}" if start_over else ""
    raise PkiError(
        f"the PKI in {layout.root} was made for {made_for}, not {fqdn}, and is not replaced (its CA signed the "
        f"device certificates issued from it): to keep the CA and add the domain, run `python -m pki issue-server "
        f"{fqdn} --out {layout.root}`{restart}"
    )
