"""The one error type the commands raise for a condition the operator must fix (the CLI exits 2)."""

from __future__ import annotations


class OpsError(Exception):
    """Something is missing or misnamed (table, queue, policy, credentials); the message says what to do."""
