"""The Pulumi SDK internals ``localcloud.mockrun`` runs the program with, in one place.

``mockrun`` runs ``__main__.py`` in-process the way ``pulumi.runtime.set_mocks`` does, except that the root stack is
created on the run's own event loop (``run_in_stack``), and it records what the SDK's mock monitor is asked to
register. For that it needs these private parts of ``pulumi.runtime`` (the public ``Mocks``, ``MockResourceArgs``,
``MockCallArgs`` and ``set_all_config`` are used as ``pulumi.runtime.…``). ``WRITTEN_FOR`` is the SDK they were
written against; nothing here is patched, so another SDK is not refused, but an upgrade starts here.
"""
from __future__ import annotations

from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockEngine, MockMonitor, MockSettings
from pulumi.runtime.settings import configure, reset_options
from pulumi.runtime.stack import run_in_stack

#: The pulumi SDK version mockrun's use of these internals was written against.
WRITTEN_FOR = "3.272.0"

deserialize_properties = rpc.deserialize_properties


def secret_value(value: dict[str, Any]) -> tuple[bool, Any]:
    """(True, the plain value) when ``value`` is the SDK's deserialized secret wrapper, else (False, None)."""
    if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return True, value.get("value")
    return False, None


__all__ = [
    "WRITTEN_FOR",
    "MockEngine",
    "MockMonitor",
    "MockSettings",
    "configure",
    "deserialize_properties",
    "reset_options",
    "run_in_stack",
    "secret_value",
]
