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

_SAVED: dict[str, Any] = {}
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
    action = _SAVED["get_action"](self)
    after = self.__dict__.get("uri_match", _NOT_SET)
    # remember the uri_match this computation set (or none, if it set nothing)
    uri_match = after if (not had_match or after is not before) else _NOT_SET
    self.__dict__[_SLOT] = (key, action, uri_match)
    return action


_NOT_SET = object()


def install() -> None:
    """Remember each request's operation (idempotent)."""
    from moto.core.responses import BaseResponse

    if "get_action" not in _SAVED:
        _SAVED["get_action"] = BaseResponse.__dict__["_get_action"]
        BaseResponse._get_action = _get_action  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto."""
    from moto.core.responses import BaseResponse

    original = _SAVED.pop("get_action", None)
    if original is not None and BaseResponse.__dict__.get("_get_action") is _get_action:
        BaseResponse._get_action = original  # type: ignore[method-assign]


def installed() -> bool:
    from moto.core.responses import BaseResponse

    return BaseResponse.__dict__.get("_get_action") is _get_action
