"""EventBridge Pipes behaviour moto lacks: running a pipe (DynamoDB stream → filter → event bus)."""
