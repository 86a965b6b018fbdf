"""moto's IAM: the backends, AWS managed policies, policy evaluation, the visited-account bookkeeping."""
from __future__ import annotations

from . import internals

with internals():
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, iam_backends, mark_account_as_visited

__all__ = [
    "AWSManagedPolicy",
    "IAMPolicy",
    "PermissionResult",
    "aws_managed_policies_data",
    "iam_backends",
    "mark_account_as_visited",
]
