"""Requests that moto answers in-process skip SigV4's hashing; the Authorization header keeps its form.

botocore signs every request (canonical request, payload SHA-256, a chain of five HMACs): ~10 % of
each in-process call's CPU. moto never checks a signature unless its IAM authentication is switched
on (``INITIAL_NO_AUTH_ACTION_COUNT``); it reads the access key from the ``Credential`` scope (account)
and the recording hooks read the region from it. ``install()`` makes plain ``SigV4Auth`` (not S3's
or query/presigned variants) skip the hashing only while moto's botocore stubber is on and moto's
authentication is off: the headers are prepared exactly as botocore does (date, security token,
``Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
SignedHeaders=..., Signature=...``) with a fixed all-zero signature. Otherwise botocore signs.
``uninstall()`` restores botocore.
"""

from __future__ import annotations

from typing import Any

_SAVED: dict[str, Any] = {}
UNSIGNED = "0" * 64


def _moto_answers_unauthenticated() -> bool:
    from moto import settings
    from moto.core.models import botocore_stubber

    return bool(botocore_stubber.enabled) and settings.INITIAL_NO_AUTH_ACTION_COUNT == float("inf")


def _add_auth(self: Any, request: Any) -> None:
    from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth, get_current_datetime
    from botocore.exceptions import NoCredentialsError

    if type(self) is not SigV4Auth or not _moto_answers_unauthenticated():
        return _SAVED["add_auth"](self, request)
    if self.credentials is None:
        raise NoCredentialsError()
    request.context["timestamp"] = get_current_datetime().strftime(SIGV4_TIMESTAMP)
    self._modify_request_before_signing(request)
    self._inject_signature_to_request(request, UNSIGNED)
    return None


def install() -> None:
    """Skip SigV4 hashing for in-process moto requests (idempotent)."""
    from botocore.auth import SigV4Auth

    if "add_auth" not in _SAVED:
        _SAVED["add_auth"] = SigV4Auth.__dict__["add_auth"]
        SigV4Auth.add_auth = _add_auth  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore botocore's signing."""
    from botocore.auth import SigV4Auth

    original = _SAVED.pop("add_auth", None)
    if original is not None and SigV4Auth.__dict__.get("add_auth") is _add_auth:
        SigV4Auth.add_auth = original  # type: ignore[method-assign]


def installed() -> bool:
    from botocore.auth import SigV4Auth

    return SigV4Auth.__dict__.get("add_auth") is _add_auth
