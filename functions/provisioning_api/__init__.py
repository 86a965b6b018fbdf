"""The provisioning API: a device asks, signed with its own enrolled key, for a certificate (docs/design.md)."""
