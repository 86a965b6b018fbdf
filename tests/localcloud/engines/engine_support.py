"""Constants shared by the engine tests (imported by name: the tests folder is no package)."""

PRIMARY = "eu-west-1"
SECONDARY = "us-west-2"
ACCOUNT = "123456789012"
