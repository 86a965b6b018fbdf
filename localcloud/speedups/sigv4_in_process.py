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

from localcloud.patching import Patch

PATCH = Patch("sigv4_in_process", kind="speed-up")
_ORIGINAL: dict[str, Any] = {}  # "add_auth": botocore's SigV4Auth.add_auth, while installed
UNSIGNED = "0" * 64


def _moto_answers_unauthenticated() -> bool:
    from localcloud.compat.moto.core import botocore_stubber, moto_settings

    return bool(botocore_stubber.enabled) and moto_settings.INITIAL_NO_AUTH_ACTION_COUNT == float("inf")


def _add_auth(self: Any, request: Any) -> None:
    from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth, get_current_datetime
    from botocore.exceptions import NoCredentialsError

    if type(self) is not SigV4Auth or not _moto_answers_unauthenticated():
        return _ORIGINAL["add_auth"](self, request)
    if self.credentials is None:
        raise NoCredentialsError()
    request.context["timestamp"] = get_current_datetime().strftime(SIGV4_TIMESTAMP)
    self._modify_request_before_signing(request)
    self._inject_signature_to_request(request, UNSIGNED)
    return None


def install() -> None:
    """Skip SigV4 hashing for in-process moto requests (idempotent)."""
    from botocore.auth import SigV4Auth

    if not PATCH.applied:
        _ORIGINAL["add_auth"] = PATCH.set(SigV4Auth, "add_auth", _add_auth)


def uninstall() -> None:
    """Restore botocore's signing."""
    PATCH.undo()
    _ORIGINAL.clear()


def installed() -> bool:
    return PATCH.applied
