"""Fleet provisioning by claim: the certificate provider (``certificate_provider.handler``) signs device CSRs with
our CA's key in KMS; the pre-provisioning hook (``hook.handler``) admits allow-listed serials once and writes the
inventory item (docs/design.md, "Fleet provisioning by claim")."""
