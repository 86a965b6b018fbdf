"""Amazon EventBridge behaviour moto lacks: rule delivery to Step Functions and Lambda targets, with dead-letter queues."""
