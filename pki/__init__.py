"""Certificate toolkit for the multi-region IoT system (CLI: ``python -m pki``).

Stable library API (other folders may import exactly these names; keep them backward compatible):

Endpoint material for the Pulumi program::

    pki.load_endpoint_material(pki_dir: Path, domain: str) -> pki.EndpointMaterial
        # .server_certificate_pem, .server_private_key_pem, .chain_pem (intermediate + root),
        # .ca_certificate_pem (the intermediate: what is registered in IoT Core)
        # raises pki.PkiError naming the missing file and "python -m pki init --out DIR --domain FQDN"
    pki.certificate_id(pem: str) -> str      # SHA-256 hex of the DER = the AWS IoT certificate id
    pki.PkiError                              # every error the toolkit raises for bad input/state

In memory (no files; for the local-cloud emulator and tests)::

    ca = pki.CertificateAuthority.create(org="Other Org", key_type="ec-p256")   # a new root + intermediate
    ca.issue_device(name, *, key_type="ec-p256", days=365, validity=None, public_key=None) -> pki.IssuedCertificate
    ca.issue_devices(names, **same_options) -> list[pki.IssuedCertificate]       # ~0.2 ms each (EC P-256)
    ca.issue_device(name, validity=pki.expired_validity())                      # already expired
    ca.issue_server(fqdn, *, key_type="ec-p256", days=397) -> pki.IssuedCertificate
    ca.sign_csr(csr_pem_or_der, *, days=365) -> pki.IssuedCertificate           # private_key is None
    ca.root_pem, ca.intermediate_pem, ca.chain_pem                              # PEM text
    pki.IssuedCertificate: .name .kind .certificate (x509) .private_key .certificate_pem
                           .private_key_pem .certificate_id .serial_hex
    pki.Validity(not_before, not_after), pki.Validity.for_days(days)           # aware UTC datetimes

On disk (the ``--out DIR`` layout, see pki.layout)::

    pki.init_pki(out_dir, domain, *, org=..., country=None, key_type="ec-p256", ca_key_type="ec-p256",
                 server_days=397, force=False, passphrase=None) -> pki.InitResult
    pki.load_ca(pki_dir, *, passphrase=None) -> pki.CertificateAuthority
    pki.issue_device_certificates(out_dir, names, *, key_type="ec-p256", days=365, force=False)
        -> list[pki.IssuedCertificate]
    pki.issue_server_certificate(out_dir, domain, *, key_type="ec-p256", days=397, force=False)
        -> pki.IssuedCertificate                 # renew the server certificate, keep the CA
    pki.sign_csr_file(out_dir, csr_bytes, *, days=365, force=False) -> (pki.IssuedCertificate, Path)
    pki.verify_directory(pki_dir, certificates=(), *, now=None) -> report (.ok, .findings[].problems)
    pki.list_certificates(pki_dir) -> list of rows (.kind .name .serial .not_after .status)
    pki.revoke_device(out_dir, name) -> pki.Revocation (.serial .revoked_at .already .crl_path)
                                                 # adds devices/NAME.crt's serial to DIR/crl.pem
    pki.check_pki_domain(pki_dir, domain, start_over=...)   # refuse a PKI made for another domain

CA key passphrases come from the environment variable ``PKI_CA_PASSPHRASE`` (``passphrase=None``
means "read it from there"), never from the command line.
"""

from pki.authority import DEFAULT_ORG, CertificateAuthority, IssuedCertificate, expired_validity
from pki.endpoint import EndpointMaterial, check_pki_domain, load_endpoint_material
from pki.errors import PkiError
from pki.keys import KEY_TYPES, PASSPHRASE_ENV
from pki.layout import Layout
from pki.listing import list_certificates
from pki.pem import certificate_id
from pki.profiles import Validity
from pki.revocation import Revocation, revoke_device
from pki.store import (
    InitResult,
    init_pki,
    issue_device_certificates,
    issue_server_certificate,
    load_ca,
    sign_csr_file,
)
from pki.verify import verify_directory

__all__ = [
    "DEFAULT_ORG",
    "KEY_TYPES",
    "PASSPHRASE_ENV",
    "CertificateAuthority",
    "EndpointMaterial",
    "InitResult",
    "IssuedCertificate",
    "Layout",
    "PkiError",
    "Revocation",
    "Validity",
    "certificate_id",
    "check_pki_domain",
    "expired_validity",
    "init_pki",
    "issue_device_certificates",
    "issue_server_certificate",
    "list_certificates",
    "load_ca",
    "load_endpoint_material",
    "revoke_device",
    "sign_csr_file",
    "verify_directory",
]
