"""Operator commands for the deployed system (``python -m ops COMMAND``, see ``ops.cli``).

They run against real AWS with the caller's credentials (boto3's default session, or ``--profile``)
and against the local cloud alike: every command function takes a boto3 ``Session`` or a client
factory (``ops.clients``), so inside ``LocalCloud`` the same code reaches moto.

| module | job |
|---|---|
| ``clients`` | client factory, the account/partition, our physical names and state machine ARNs in a region |
| ``ratelimit`` | token bucket (injectable clock and sleep) for every start and detach |
| ``executions`` | deterministic execution names, idempotent ``StartExecution``, waiting for executions |
| ``inventory`` | consistent, paginated scan of the inventory replica |
| ``backfill`` | replay ACTIVE items into a region through its replicate machine |
| ``dead_letters`` | classify a dead-letter message (pure) |
| ``redrive`` | empty the dead-letter queue back into the machines |
| ``drift`` | compare one item with what the IoT registry holds (pure) |
| ``registry`` | read the IoT registry (paginated) into ``drift``'s snapshots |
| ``reconcile`` | report drift per thing, optionally start the converging machine |
| ``detach`` | detach the device policy from every target before ``pulumi destroy`` |
| ``trace`` | one device's story in every region (read-only) and a verdict per region with the command that fixes it |
| ``status`` | the fleet at a glance, one row per region (read-only) |
| ``cli`` / ``render`` | argparse front end, rich tables or JSON |
"""
