"""Thing names the program keeps for itself: the one rule every way a name enters applies.

A name enters at ``python -m pki issue-device`` / ``enrol`` / ``sign-csr``, ``python -m ops allow-list import`` /
``add``, the fleet certificate provider and pre-provisioning hook (``functions/fleet_provisioning``), the provisioning
API (``functions/provisioning_api``) and the certificate inspector (JITR). Each calls :func:`refusal` and refuses
the name with its own error type and exit status when it answers.

Pure (standard library only) and at the root of ``functions/``, which is the root of every Lambda zip
(``components/lambda_package.py`` copies the whole folder), so the Lambdas import it as ``reserved_names`` and the
CLIs and builders as ``functions.reserved_names``: one copy, never one per package.

Reserved:

- ``canary-``: each region's canary (``builders/canary.py``: thing, MQTT client id and certificate CN
  ``canary-<region>``). A device holding such a name could take the canary's client id (its probe fails and the
  region's DNS answer moves) or its thing. Matched without regard to case, so no look-alike (``Canary-eu-west-1``)
  gets in either.
- ``claim-``: the client ids of the fleet provisioning claim (``builders.fleet.claim_client_id``; the claim policy
  allows ``iot:Connect`` on ``client/claim-*`` only). A device named so would share a client id space with every
  claim holder, who could then end its MQTT session.

The canary's own certificate is issued by the operator's CA tool, ``python -m pki issue-device canary-<region>``
(components/canary.py registers it ACTIVE without JITR): :func:`is_canary_name` is the exact shape that one command
may issue, and only it; every other entry refuses every reserved name.
"""
from __future__ import annotations

import re

#: Reserved prefix -> who owns the names that start with it.
RESERVED_PREFIXES: dict[str, str] = {
    "canary-": "the regions' canaries (canary-<region>, builders/canary.py)",
    "claim-": "the fleet provisioning claim's MQTT client ids (claim-<random>, builders/fleet.py)",
}
CANARY_PREFIX = "canary-"
#: The fleet claim connects only with client ids that start with this (its policy: client/claim-*).
CLAIM_PREFIX = "claim-"
#: ``canary-<AWS region>``, e.g. canary-eu-west-1, canary-us-gov-west-1.
_CANARY_NAME = re.compile(r"canary-[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}")


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
