"""DynamoDB behaviour moto lacks: global tables (replicas, replication, per-region streams)."""
