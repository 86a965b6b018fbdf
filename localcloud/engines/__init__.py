"""Motion engines of the local cloud: the parts of AWS that moto stores but does not run.

Each module is one engine over moto 5.2.5 backends (IoT SQL and the IoT Core data plane,
DynamoDB global-table replication, EventBridge Pipes polling, EventBridge rule delivery to
Step Functions/Lambda targets) and ``settle`` drives them until nothing moves.
"""
