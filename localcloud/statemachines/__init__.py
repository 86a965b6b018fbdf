"""The builders' state machines executed in patched moto, without the deployer: ``harness.Cloud`` (two regions with
the resources the machines use) and ``certs.TestCA`` (a test PKI made with ``cryptography`` directly).

Used by tests/statemachines (and other tests that need a quick CA) and by scripts/bench_statemachines.py and
scripts/bench_sfn_lean.py; it lives here, not in tests/, because nothing outside tests/ may import from tests/.
"""
