"""The provisioning API in the local cloud: the CA key in (emulated) KMS, the HTTP server on loopback."""
