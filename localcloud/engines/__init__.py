"""Motion engines of the local cloud: the parts of AWS that moto stores but does not run.

Each module is one engine over moto 5.2.5 backends, usable on its own inside ``mock_aws()``:

| module | engine |
|---|---|
| ``iot_sql`` | AWS IoT SQL 2016-03-23 subset: parse, match topics, evaluate SELECT/WHERE |
| ``iot_policy_eval`` | IoT policy evaluation (Allow/Deny, wildcards, policy variables, conditions) |
| ``iot_core`` | IoT Core data plane: JITR on connect, policy-checked connect/publish, topic rules |
| ``iot_index`` | constant-time lookups replacing moto IoT's scans (certificates, things, attachments) |
| ``sfn_index`` | constant-time execution-name checks in moto Step Functions (StartExecution) |
| ``sfn_accel`` | caches for moto's Step Functions interpreter: parsed ASL, boto3 clients, JSONPaths |
| ``sfn_inline_tasks`` | task states and programs without ``TimeoutSeconds`` run in the caller's thread, not one thread each |
| ``sfn_lean`` | JSON-shaped values copied by a specialised copier; entered/exited inputs encoded without a throw-away copy |
| ``moto_action_cache`` | moto routes a REST request (IoT, Lambda) to its operation once, not two or three times |
| ``botocore_user_agent`` | botocore's User-Agent sanitising remembered per string |
| ``sigv4_in_process`` | requests moto answers (auth off) get a well-formed SigV4 header without the hashing |
| ``direct_sdk`` | the SDK calls a device costs go straight to moto's response handler, parsed by botocore |
| ``ddb_expressions`` | cheaper (same) walks over moto DynamoDB update-expression trees; each text parsed once |
| ``global_tables`` | DynamoDB global tables: deferred replication, per-region streams, last writer wins |
| ``pipes`` | EventBridge Pipes: DynamoDB stream → filter → event bus |
| ``eventbridge`` | rule delivery to Step Functions / Lambda targets, InputPath / InputTransformer; failed deliveries to the target's DLQ |
| ``settle`` | ``Engines``: all of the above activated together; ``settle()`` until nothing moves |

Activate the engines before deploying (pipes start reading their stream when created,
replicas requested through UpdateTable are registered as they are requested). Typical use::

    with mock_aws(config=...), Engines() as engines:
        ...deploy...
        engines.global_tables.register(table_name, regions)
        connection = connect_with_backoff(engines.iot, region, pem, thing, settle=engines.settle)
        engines.iot.publish(connection, f"i/{thing}/m", payload)
        report = engines.settle()
"""

from .iot_core import ConnectionRefused, IotCore, PublishRefused, connect_with_backoff
from .settle import Engines, SettleReport

__all__ = [
    "ConnectionRefused",
    "Engines",
    "IotCore",
    "PublishRefused",
    "SettleReport",
    "connect_with_backoff",
]
