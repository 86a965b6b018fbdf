"""AWS IoT Core behaviour moto lacks: the data plane (connect, publish, rules), IoT SQL, policy evaluation,
provisioning (templates, JITP, fleet provisioning by claim), and the MQTT/TLS endpoints (``mqtt/``)."""
