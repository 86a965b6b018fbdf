"""Fix: ``DetachPolicy`` from a target that does not exist fails with ``InvalidRequestException``.

botocore's model lists these errors for ``DetachPolicy``: ``InvalidRequestException`` (400),
``LimitExceededException``, ``ThrottlingException``, ``UnauthorizedException``, ``ServiceUnavailableException``,
``InternalFailureException`` - no ``ResourceNotFoundException`` (the deprecated ``DetachPrincipalPolicy`` has
one; ``DetachPolicy`` does not). moto 5.2.5 raises ``ResourceNotFoundException`` (404) when the target
certificate is not in the region, so a state machine catching ``Iot.ResourceNotFoundException`` there passes
locally and fails in AWS, where the error is ``Iot.InvalidRequestException``.

Only the missing-target case changes (the message is ours; AWS's wording is not documented). A missing policy,
or a policy not attached to an existing target, keeps moto's answer: AWS's is not documented either.
"""
from __future__ import annotations

from typing import Any

from ..patching import Patch

NAME = "iot_detach_policy"
PATCH = Patch(NAME)


def apply() -> None:
    from ..compat.moto.iot import InvalidRequestException, IoTBackend, ResourceNotFoundException

    original = IoTBackend.detach_policy

    def detach_policy(self: Any, policy_name: str, target: str) -> None:
        try:
            self._get_principal(target)
        except ResourceNotFoundException:
            raise InvalidRequestException(f"Target {target} does not exist in this region") from None
        return original(self, policy_name, target)

    PATCH.set(IoTBackend, "detach_policy", detach_policy)


def revert() -> None:
    PATCH.undo()
