"""The local cloud's deployer: the real program's resources created in moto, one creator per resource type.

``Deployer`` (``deployer.py``) is the Pulumi mocks ``LocalCloud`` runs the program with; it dispatches each
registered resource by its type token to the creator ``registry.creates`` registered for it. The creators live in
one module per service (``acm``, ``apigateway``, ``cloudwatch``, ``dynamodb``, ``events``, ``iam``, ``iot``, ``kms``,
``lambda_``, ``pipes``, ``route53``, ``s3``, ``secretsmanager``, ``sfn``, ``sqs``, and ``pulumi_`` for dynamic
resources and providers); importing this package registers them all.
"""

from . import (  # noqa: F401 - imported to register their creators
    acm,
    apigateway,
    cloudwatch,
    dynamodb,
    events,
    iam,
    iot,
    kms,
    lambda_,
    pipes,
    pulumi_,
    route53,
    s3,
    secretsmanager,
    sfn,
    sqs,
)
from .deployer import Created, Deployer
from .registry import CREATORS, NOT_CREATED, UnsupportedResource, creator_for, creates

__all__ = ["CREATORS", "NOT_CREATED", "Created", "Deployer", "UnsupportedResource", "creates", "creator_for"]
