"""``python -m device``: a device of the fleet, on paho-mqtt, against AWS or the local cloud unchanged.

| module | job |
|---|---|
| ``backoff`` | exponential backoff with full jitter (pure) |
| ``endpoint`` | what ``--endpoint``/``--proxy`` mean: host, port, SNI, resolver |
| ``session`` | one MQTT/TLS 1.3 session: connect (refusals retried with backoff), publish QoS 1, subscribe |
| ``telemetry`` | the telemetry loop: publish, and on losing the region reconnect wherever the domain resolves |
| ``commands`` | the subcommands ``connect``, ``publish``, ``listen``, ``run`` |
| ``keys`` | the device's own TLS key (0600) and its CSR (CN = thing name) |
| ``provision`` | ``provision``: a certificate from the provisioning API (HTTPS) |
| ``fleet`` | ``fleet-provision``: a certificate and thing with the fleet's claim (fleet provisioning MQTT API) |
| ``cli`` | argparse; a new subcommand is one line in ``cli.SUBCOMMANDS`` |
"""
