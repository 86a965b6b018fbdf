"""AWS Lambda behaviour moto lacks without Docker: handlers run in-process (``inprocess``)."""
