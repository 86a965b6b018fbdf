"""Fix: aws-sdk task errors are named the way Step Functions names them.

moto 5.2.5 prefixes errors with the lower-case API name except for DynamoDB/SFN (``iot.ResourceAlreadyExistsException``)
and names unmodelled errors ``iot.iotException``. Step Functions uses the AWS SDK for Java v2 client name
(``Iot``, ``DynamoDb``, ``EventBridge``, ``Sfn``, ``Lambda``) and the service's error code with an
``Exception`` suffix, e.g. ``Iot.ResourceAlreadyExistsException``, ``DynamoDb.ConditionalCheckFailedException``.
"""
from __future__ import annotations

from botocore.exceptions import ClientError

from ..patching import Patch

NAME = "sfn_error_names"
PATCH = Patch(NAME)

# Java SDK v2 client names for the services this project (and common others) call through aws-sdk tasks.
_PREFIXES: dict[str, str] = {
    "iot": "Iot",
    "dynamodb": "DynamoDb",
    "events": "EventBridge",
    "eventbridge": "EventBridge",
    "sfn": "Sfn",
    "states": "Sfn",
    "stepfunctions": "Sfn",
    "lambda": "Lambda",
    "s3": "S3",
    "ec2": "Ec2",
    "sqs": "Sqs",
    "sns": "Sns",
    "secretsmanager": "SecretsManager",
    "ssm": "Ssm",
    "kms": "Kms",
    "iam": "Iam",
    "sts": "Sts",
    "acm": "Acm",
    "pipes": "Pipes",
}


def service_prefix(api_name: str) -> str:
    """The Step Functions error prefix for an aws-sdk service name (``iot`` -> ``Iot``)."""
    key = api_name.lower()
    if key in _PREFIXES:
        return _PREFIXES[key]
    return api_name[:1].upper() + api_name[1:]


def error_name(api_name: str, error_code: str) -> str:
    """``Service.CodeException`` for an SDK error code (namespaces like ``com.amazon#X`` are stripped)."""
    code = error_code.rsplit("#", 1)[-1].split(":", 1)[0]
    if not code.endswith("Exception"):
        code += "Exception"
    return f"{service_prefix(api_name)}.{code}"


def _normalise_service_error_name(service_name: str) -> str:
    return service_prefix(service_name)


def _normalise_exception_name(norm_service_name: str, ex: Exception) -> str:
    code = ex.__class__.__name__
    if isinstance(ex, ClientError):
        code = ex.response.get("Error", {}).get("Code") or code
    if not code.endswith("Exception"):
        code += "Exception"
    return f"{norm_service_name}.{code.rsplit('#', 1)[-1]}"


def apply() -> None:
    from ..compat.moto.stepfunctions_parser import StateTaskServiceAwsSdk as cls

    PATCH.set(cls, "_normalise_service_error_name", staticmethod(_normalise_service_error_name))
    PATCH.set(cls, "_normalise_exception_name", staticmethod(_normalise_exception_name))


def revert() -> None:
    PATCH.undo()
