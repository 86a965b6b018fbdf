"""AWS IoT Core's data plane on the wire: MQTT over TLS 1.3, one endpoint per region, the domain's resolver, on loopback.

``python -m localcloud up --serve`` (``localcloud.serve``) keeps them up.

| module | job |
|---|---|
| ``gate`` | serialises every call into moto and the engines (one worker thread, one lock) |
| ``tls`` | the server's TLS 1.3 context: client certificate required, the domain's certificate by SNI |
| ``broker`` | ``RegionBroker``: amqtt's broker asking the emulated IoT Core for every decision |
| ``routing`` | the DNS answer: latency or geolocation, with each region's health |
| ``resolver`` | the DNS answer on the wire, as a SOCKS5 (``socks5h``) endpoint |
| ``endpoints`` | ``MqttEndpoints``: all of the above in one background thread |
"""
