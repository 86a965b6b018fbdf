"""The other moto services the local cloud reads or patches: Lambda, CloudWatch, KMS, Logs, Route 53, S3, SQS."""
from __future__ import annotations

from . import internals

with internals():
    from moto.awslambda.models import LambdaFunction, lambda_backends
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.kms.models import kms_backends
    from moto.logs.models import logs_backends
    from moto.route53.models import route53_backends
    from moto.s3.models import FakeBucket
    from moto.sqs.models import sqs_backends

__all__ = [
    "FakeBucket",
    "LambdaFunction",
    "cloudwatch_backends",
    "kms_backends",
    "lambda_backends",
    "logs_backends",
    "route53_backends",
    "sqs_backends",
]
