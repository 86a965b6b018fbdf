"""The certificate inspector Lambda (JITR step 1): ``handler.handler`` is the entry point."""
