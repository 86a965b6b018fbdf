"""Amazon API Gateway (HTTP APIs) behaviour moto lacks: serving an HTTP API over real HTTP, each request a Lambda event."""
