"""moto works out a REST request's operation once per request instead of two or three times.

For REST protocols (IoT, Lambda: every JITR call but DynamoDB / EventBridge / SFN), moto 5.2.5's
``BaseResponse._get_action`` has no query-string or ``X-Amz-Target`` answer and falls back to
matching method and path against the whole service's route map (werkzeug) — and it is asked again
by ``call_action``, ``serialized`` and the parameter parser for the same request. ``install()``
remembers the answer (and the ``uri_match`` it sets) on the per-request response object, keyed by
the identity of that request's ``normalized_request``, ``querystring`` and ``headers``; anything
reassigned means a fresh computation. Response classes that override ``_get_action`` are untouched.
``uninstall()`` restores moto.
"""

from __future__ import annotations

from typing import Any

from localcloud.patching import Patch

PATCH = Patch("moto_action_cache", kind="speed-up")
_ORIGINAL: dict[str, Any] = {}  # "get_action": moto's BaseResponse._get_action, while installed
_SLOT = "_localcloud_action"


def _get_action(self: Any) -> str:
    key = (id(getattr(self, "normalized_request", None)), id(getattr(self, "querystring", None)),
           id(getattr(self, "headers", None)))
    cached = self.__dict__.get(_SLOT)
    if cached is not None and cached[0] == key:
        if cached[2] is not _NOT_SET:
            self.uri_match = cached[2]
        return cached[1]
    had_match = "uri_match" in self.__dict__
    before = self.__dict__.get("uri_match", _NOT_SET)
    action = _ORIGINAL["get_action"](self)
    after = self.__dict__.get("uri_match", _NOT_SET)
    # remember the uri_match this computation set (or none, if it set nothing)
    uri_match = after if (not had_match or after is not before) else _NOT_SET
    self.__dict__[_SLOT] = (key, action, uri_match)
    return action


_NOT_SET = object()


def install() -> None:
    """Remember each request's operation (idempotent)."""
    from localcloud.compat.moto.core import BaseResponse

    if not PATCH.applied:
        _ORIGINAL["get_action"] = PATCH.set(BaseResponse, "_get_action", _get_action)


def uninstall() -> None:
    """Restore moto."""
    PATCH.undo()
    _ORIGINAL.clear()


def installed() -> bool:
    return PATCH.applied
