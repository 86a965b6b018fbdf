"""The regional canary: a scheduled probe of the region's custom-domain MQTT endpoint (docs/design.md)."""
