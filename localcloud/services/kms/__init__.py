"""AWS KMS behaviour moto lacks: a key holding imported asymmetric material."""
