"""Fix: a bucket policy's ``Bool aws:SecureTransport`` condition is evaluated (requests count as made over TLS).

moto 5.2.5 evaluates bucket policies on object requests but only understands ``StringEquals`` conditions and treats
every other condition as met. The usual TLS-only statement (``Deny s3:* if aws:SecureTransport is false``, which
the policy pack requires of every bucket) therefore denies every request, and nothing can be read from or written
to a compliant bucket. AWS evaluates the key per request; boto3 talks HTTPS, so here each request is taken to
be a TLS request (``aws:SecureTransport`` = ``true``) and a statement whose ``Bool`` condition on that key does
not match it is left out before moto's own evaluation. Other conditions keep moto's behaviour.
"""
from __future__ import annotations

import json
from typing import Any

from ..patching import Patch

NAME = "s3_secure_transport"
PATCH = Patch(NAME)
SECURE_TRANSPORT = "aws:SecureTransport"
REQUEST_SECURE_TRANSPORT = "true"  # every local request is an HTTPS request


def _bool_condition_holds(statement: dict[str, Any]) -> bool:
    """False when the statement's ``Bool`` condition on aws:SecureTransport does not match a TLS request."""
    condition = statement.get("Condition") or {}
    expected = (condition.get("Bool") or {}).get(SECURE_TRANSPORT)
    if expected is None:
        return True
    values = expected if isinstance(expected, list) else [expected]
    return REQUEST_SECURE_TRANSPORT in {str(v).lower() for v in values}


def applicable_policy(policy: str) -> str:
    """The bucket policy without the statements whose aws:SecureTransport condition a TLS request fails."""
    document = json.loads(policy)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    kept = []
    for statement in statements:
        if not _bool_condition_holds(statement):
            continue
        condition = dict(statement.get("Condition") or {})
        if "Bool" in condition:  # the key is settled here; moto would ignore the operator anyway
            condition["Bool"] = {k: v for k, v in condition["Bool"].items() if k != SECURE_TRANSPORT}
            if not condition["Bool"]:
                del condition["Bool"]
            kept.append({**statement, "Condition": condition} if condition else
                        {k: v for k, v in statement.items() if k != "Condition"})
            continue
        kept.append(statement)
    return json.dumps({**document, "Statement": kept})


def apply() -> None:
    from ..compat.moto.iam import IAMPolicy, PermissionResult
    from ..compat.moto.services import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        raw = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        return IAMPolicy(applicable_policy(raw)).is_action_permitted(action, resource)

    PATCH.set(FakeBucket, "get_permission", get_permission)


def revert() -> None:
    PATCH.undo()
