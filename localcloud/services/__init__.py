"""AWS behaviour that moto lacks, one folder per service (as ``moto/<service>/`` and ``localstack/services/<service>/``).

The first of the local cloud's three kinds of code (docs/emulator.md, "Layout"): what AWS does that moto stores but
does not run, or does not have at all. The named fixes to what moto does have are in ``localcloud.fixes``; the
speed-ups, which change no result, in ``localcloud.speedups``. Services reach moto through ``localcloud.compat.moto``,
hook it through ``localcloud.patching`` and ask ``localcloud.interception``'s gates; they import neither the fixes nor
``mockrun``. Each engine works over moto 5.2.5 backends and is
usable on its own inside ``mock_aws()``:

| service | module | behaviour |
|---|---|---|
| ``iot`` | ``core`` | IoT Core data plane: JITR/JITP on connect, policy-checked connect/subscribe/publish, topic rules |
| ``iot`` | ``sql`` | AWS IoT SQL 2016-03-23 subset: parse, match topics, evaluate SELECT/WHERE |
| ``iot`` | ``policy_eval`` | IoT policy evaluation (Allow/Deny, wildcards, policy variables, conditions) |
| ``iot`` | ``tls_checks`` | what the handshake refuses before the certificate is looked up (validity window) |
| ``iot`` | ``provisioning`` | provisioning templates, JITP |
| ``iot`` | ``fleet`` | fleet provisioning by claim (CreateCertificateFromCsr, RegisterThing) |
| ``iot`` | ``fleet_resources`` | provisioning templates and certificate providers, which moto does not keep (the deployer's creators) |
| ``iot`` | ``ca_link`` | which registered CA signed a certificate |
| ``iot`` | ``mqtt/`` | the data plane on the wire: MQTT over TLS 1.3 per region, the domain's DNS answer |
| ``dynamodb`` | ``global_tables`` | global tables: deferred replication, per-region streams, last writer wins |
| ``events`` | ``delivery`` | rule delivery to Step Functions / Lambda targets, InputPath / InputTransformer; failed deliveries to the target's DLQ |
| ``pipes`` | ``runner`` | EventBridge Pipes: DynamoDB stream → filter → event bus |
| ``kms`` | ``imported_key`` | a signing key holding imported asymmetric material |
| ``apigatewayv2`` | ``http_api`` | an HTTP API (payload 2.0) over real HTTP on loopback, in front of a Lambda |
| ``awslambda`` | ``inprocess`` | a function's handler run in this process (moto needs Docker); moto's Invoke reaches it through a fix |
| | ``settle`` | ``Engines``: the engines activated together; ``settle()`` until nothing moves |

Activate the engines before deploying (pipes start reading their stream when created,
replicas requested through UpdateTable are registered as they are requested). Typical use::

    with mock_aws(config=...), Engines() as engines:
        ...deploy...
        engines.global_tables.register(table_name, regions)
        connection = connect_with_backoff(engines.iot, region, pem, thing, settle=engines.settle)
        engines.iot.publish(connection, f"i/{thing}/m", payload)
        report = engines.settle()
"""

from .iot.core import ConnectionRefused, IotCore, PublishRefused, connect_with_backoff
from .settle import Engines, SettleReport

__all__ = [
    "ConnectionRefused",
    "Engines",
    "IotCore",
    "PublishRefused",
    "SettleReport",
    "connect_with_backoff",
]
