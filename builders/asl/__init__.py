"""Amazon States Language builders (pure): ``jitr``, ``replication``, ``decommission``; helpers in ``common``."""
