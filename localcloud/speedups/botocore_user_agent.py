"""botocore's User-Agent sanitising remembered per string (it runs for every component of every request).

Each AWS call made through boto3 in the local cloud (Step Functions tasks, the in-process Lambda,
the engines) rebuilds its ``User-Agent`` header and passes every component through
``botocore.useragent.sanitize_user_agent_string_component``, a pure character filter written as a
generator over the string: ~3 % of a device's CPU. The same few dozen strings come back on every
call, so ``install()`` answers from a dict keyed by (string, allow_hash); unhashable input goes to
botocore's function as before. ``uninstall()`` restores botocore.
"""

from __future__ import annotations

from typing import Any

from localcloud.patching import Patch

PATCH = Patch("botocore_user_agent", kind="speed-up")
_ORIGINAL: dict[str, Any] = {}  # "sanitize": botocore's function, while installed
_CACHE: dict[tuple[Any, bool], str] = {}
_LIMIT = 4096  # distinct components kept; a process sees a few dozen


def _sanitize(raw_str: Any, allow_hash: bool) -> str:
    key = (raw_str, allow_hash)
    try:
        cached = _CACHE.get(key)
    except TypeError:  # unhashable: no caching
        return _ORIGINAL["sanitize"](raw_str, allow_hash)
    if cached is None:
        cached = _ORIGINAL["sanitize"](raw_str, allow_hash)
        if len(_CACHE) >= _LIMIT:
            _CACHE.clear()
        _CACHE[key] = cached
    return cached


def install() -> None:
    """Cache sanitised User-Agent components (idempotent)."""
    from botocore import useragent

    if not PATCH.applied:
        _ORIGINAL["sanitize"] = PATCH.set(useragent, "sanitize_user_agent_string_component", _sanitize)


def uninstall() -> None:
    """Restore botocore's function and forget the cache."""
    PATCH.undo()
    _ORIGINAL.clear()
    _CACHE.clear()


def installed() -> bool:
    return PATCH.applied
