"""Pure builders: plain data in, plain dicts/strings out. No Pulumi, no I/O."""
