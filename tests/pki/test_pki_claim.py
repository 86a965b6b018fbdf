"""`python -m pki issue-claim`: a self-signed client certificate and its 0600 key, kept across runs, never signed by
our CA (the claim is shared by the whole fleet)."""

import stat

from cryptography import x509
from cryptography.hazmat.primitives import serialization

import pki
from pki.cli import main


def test_issue_claim_writes_a_self_signed_client_certificate_and_a_private_key(tmp_path, capsys):
    pki.init_pki(tmp_path, "iot.example.com")
    assert main(["issue-claim", "--out", str(tmp_path)]) == 0
    crt, key = tmp_path / "claim" / "claim.crt", tmp_path / "claim" / "claim.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate(crt.read_bytes())
    certificate.verify_directly_issued_by(certificate)
    assert certificate.issuer != pki.load_ca(tmp_path).intermediate_certificate.subject
    assert x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH in certificate.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    assert private.public_key().public_numbers() == certificate.public_key().public_numbers()


def test_issue_claim_keeps_an_existing_claim_unless_replaced(tmp_path):
    main(["issue-claim", "--out", str(tmp_path)])
    first = (tmp_path / "claim" / "claim.crt").read_bytes()
    main(["issue-claim", "--out", str(tmp_path)])
    assert (tmp_path / "claim" / "claim.crt").read_bytes() == first
    main(["issue-claim", "--out", str(tmp_path), "--replace"])
    assert (tmp_path / "claim" / "claim.crt").read_bytes() != first
