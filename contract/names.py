"""Names that enter from outside: thing names, the prefixes the program keeps for itself, the ``application`` setting.

Thing names
    AWS IoT's rule, the one every way a name enters applies (``pki`` issue-device / enrol / sign-csr, ``ops
    allow-list``, the provisioning API, fleet provisioning's certificate provider and hook, the certificate
    inspector (JITR), ``device``): 1 to 128 characters of ``[a-zA-Z0-9:_-]`` (AWS IoT API Reference, CreateThing,
    ``thingName``: https://docs.aws.amazon.com/iot/latest/apireference/API_CreateThing.html; the botocore model's
    ``ThingName`` shape). A device certificate's CN *is* the thing name JITR creates, so a name AWS would refuse is
    refused before a certificate carrying it exists. Always ``fullmatch``: ``$`` would admit a trailing newline.

Reserved prefixes (was ``functions/reserved_names.py``)
    Each way in calls :func:`refusal` and refuses the name with its own error type and exit status when it answers:

    - ``canary-``: each region's canary (``builders/canary.py``: thing, MQTT client id and certificate CN
      ``canary-<region>``). A device holding such a name could take the canary's client id (its probe fails and the
      region's DNS answer moves) or its thing. Matched without regard to case, so no look-alike
      (``Canary-eu-west-1``) gets in either.
    - ``claim-``: the client ids of the fleet provisioning claim (``builders.fleet.claim_client_id``; the claim
      policy allows ``iot:Connect`` on ``client/claim-*`` only, and the pre-provisioning hook admits no other client).
      A device named so would share a client id space with every claim holder, who could then end its MQTT session.

    The canary's own certificate is issued by the operator's CA tool, ``python -m pki issue-device canary-<region>``
    (components/canary.py registers it ACTIVE without JITR): :func:`is_canary_name` is the exact shape that one
    command may issue, and only it; every other entry refuses every reserved name.

The ``application`` setting
    It prefixes every physical name (``contract/resources.py``), so its rule is what those names are proven to fit
    (tests/unit/test_resource_names.py): 3-32 lower-case letters, digits and hyphens, starting with a letter and not
    ending with a hyphen, and not starting with a prefix S3 reserves (every bucket name starts with it). The stack's
    config (``components/config.py``) and ``python -m ops --application`` both apply :func:`application_refusal`, so
    ops accepts exactly the applications the program can deploy.
"""
from __future__ import annotations

import re
from typing import TypeGuard

from .resources import S3_RESERVED_PREFIXES

# ---- thing names (AWS IoT) -------------------------------------------------------------------------------------
THING_NAME_MAX_LENGTH = 128
_THING_NAME_CHARACTERS = "a-zA-Z0-9:_-"
#: AWS IoT's thing name (CreateThing ``thingName``): use with ``fullmatch``.
THING_NAME = re.compile(f"[{_THING_NAME_CHARACTERS}]{{1,{THING_NAME_MAX_LENGTH}}}")
_NOT_A_THING_NAME_CHARACTER = re.compile(f"[^{_THING_NAME_CHARACTERS}]")


def is_thing_name(name: object) -> TypeGuard[str]:
    """Whether AWS IoT accepts ``name`` as a thing name."""
    return isinstance(name, str) and THING_NAME.fullmatch(name) is not None


def bad_thing_name_characters(name: str) -> list[str]:
    """The distinct characters of ``name`` a thing name may not hold, sorted (for an error message)."""
    return sorted(set(_NOT_A_THING_NAME_CHARACTER.findall(name)))


# ---- reserved prefixes ---------------------------------------------------------------------------------------
CANARY_PREFIX = "canary-"
#: The fleet claim connects only with client ids that start with this (its policy: client/claim-*).
CLAIM_PREFIX = "claim-"
#: Reserved prefix -> who owns the names that start with it.
RESERVED_PREFIXES: dict[str, str] = {
    CANARY_PREFIX: "the regions' canaries (canary-<region>, builders/canary.py)",
    CLAIM_PREFIX: "the fleet provisioning claim's MQTT client ids (claim-<random>, builders/fleet.py)",
}
#: ``canary-<AWS region>``, e.g. canary-eu-west-1, canary-us-gov-west-1.
_CANARY_NAME = re.compile(re.escape(CANARY_PREFIX) + r"[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}")


def refusal(name: object) -> str | None:
    """Why ``name`` may not be used for a device (names the fix), or None when it is not reserved."""
    if not isinstance(name, str):
        return None
    folded = name.casefold()
    for prefix, owner in RESERVED_PREFIXES.items():
        if folded.startswith(prefix):
            return (f"{name!r} starts with {prefix!r}, reserved for {owner}: give the device a name that does not "
                    f"start with {prefix!r}")
    return None


def is_reserved(name: object) -> bool:
    return refusal(name) is not None


def is_canary_name(name: object) -> bool:
    """Whether ``name`` is exactly a region's canary name (what ``pki issue-device`` may issue for the program)."""
    return isinstance(name, str) and _CANARY_NAME.fullmatch(name) is not None


# ---- the application setting ---------------------------------------------------------------------------------
APPLICATION_MIN_LENGTH, APPLICATION_MAX_LENGTH = 3, 32
#: Use with ``fullmatch``.
APPLICATION_PATTERN = re.compile(
    f"[a-z][a-z0-9-]{{{APPLICATION_MIN_LENGTH - 2},{APPLICATION_MAX_LENGTH - 2}}}[a-z0-9]")
APPLICATION_RULE = (f"{APPLICATION_MIN_LENGTH}-{APPLICATION_MAX_LENGTH} lower-case letters, digits and hyphens, "
                    "starting with a letter")


def application_refusal(application: object) -> str | None:
    """Why ``application`` cannot be the application (to follow ``application = '<value>' ``), or None."""
    if not isinstance(application, str) or not APPLICATION_PATTERN.fullmatch(application):
        return f"must be {APPLICATION_RULE} (it prefixes every resource name)"
    reserved = [p for p in S3_RESERVED_PREFIXES if application.startswith(p)]
    if reserved:
        return (f"starts with {reserved[0]!r}, a prefix S3 reserves: every bucket name starts with the application, "
                "and S3 refuses names starting so (https://docs.aws.amazon.com/AmazonS3/latest/userguide/"
                "bucketnamingrules.html)")
    return None


def check_application(application: object) -> str:
    """``application`` if the program can use it, else ``ValueError`` saying why."""
    why = application_refusal(application)
    if why:
        raise ValueError(f"application = {application!r} {why}")
    assert isinstance(application, str)
    return application
