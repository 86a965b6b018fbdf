"""Event patterns that catch work given up on, so it lands in the dead-letter queue instead of vanishing."""

from __future__ import annotations

from collections.abc import Sequence

from contract.events import EXECUTION_STATUS_DETAIL_TYPE, EXECUTION_STATUS_SOURCE

# Step Functions publishes its Standard workflows' status changes on the account's default bus (contract/events.py).
GIVEN_UP = ("FAILED", "TIMED_OUT", "ABORTED")


def failed_execution_pattern(state_machine_arns: Sequence[str]) -> dict:
    """Default-bus rule pattern: an execution of one of ``state_machine_arns`` ended without succeeding.

    The event carries the execution's ARN, input (the flat inventory item), error and cause: all a
    redrive needs.
    """
    machines = sorted(set(state_machine_arns))
    if not machines or not all(arn.startswith("arn:") and ":stateMachine:" in arn for arn in machines):
        raise ValueError(f"failed_execution_pattern needs state machine ARNs, got {list(state_machine_arns)!r}")
    return {
        "source": [EXECUTION_STATUS_SOURCE],
        "detail-type": [EXECUTION_STATUS_DETAIL_TYPE],
        "detail": {"status": list(GIVEN_UP), "stateMachineArn": machines},
    }
