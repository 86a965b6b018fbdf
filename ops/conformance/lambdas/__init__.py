"""Lambda code the probes deploy: each module is zipped alone (stdlib and boto3 only, the Lambda runtime's)."""
