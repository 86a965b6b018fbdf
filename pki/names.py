"""Validation of the names that end up in certificates: AWS IoT thing names and server FQDNs.

A device certificate's CN *is* the thing name JITR creates, so anything AWS IoT would refuse as a
thing name must be refused here, before a certificate carrying it exists: the rule is ``contract/names.py``'s, the
one every way a name enters applies; this module words its refusals for the CA tool.
"""

from __future__ import annotations

import re

from contract import names
from contract.names import THING_NAME_MAX_LENGTH
from pki.errors import PkiError

_FQDN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def validate_thing_name(name: str) -> str:
    """Return ``name`` if it is a valid AWS IoT thing name, else raise :class:`PkiError`."""
    if not isinstance(name, str) or not name:
        raise PkiError("thing name is empty: give 1 to 128 characters from [a-zA-Z0-9:_-]")
    if len(name) > THING_NAME_MAX_LENGTH:
        raise PkiError(
            f"thing name is {len(name)} characters long: AWS IoT allows at most "
            f"{THING_NAME_MAX_LENGTH}; shorten it"
        )
    if not names.is_thing_name(name):
        shown = ", ".join(repr(c) for c in names.bad_thing_name_characters(name))
        raise PkiError(
            f"invalid thing name {name!r}: character(s) {shown} not allowed; "
            "use only letters, digits, ':', '_' and '-'"
        )
    return name


def refuse_reserved(name: str, *, canary: bool = False) -> str:
    """Return ``name`` unless the program keeps it for itself (contract/names.py, the one rule every way
    in applies), else raise :class:`PkiError`. ``canary=True`` admits exactly ``canary-<region>``: the canary's own
    certificate is made with ``issue-device canary-<region>`` (components/canary.py registers it, never JITR)."""
    if canary and names.is_canary_name(name):
        return name
    why = names.refusal(name)
    if why:
        hint = "; a region's canary certificate is exactly canary-<region>, e.g. canary-eu-west-1" if canary else ""
        raise PkiError(f"thing name {why}{hint}")
    return name


def device_names(prefix: str, count: int) -> list[str]:
    """The names of a batch: ``PREFIX-0001`` ... ``PREFIX-NNNN`` (at least 4 digits)."""
    if count < 1:
        raise PkiError(f"--count must be at least 1, got {count}")
    width = max(4, len(str(count)))
    batch = [f"{prefix}-{i:0{width}d}" for i in range(1, count + 1)]
    validate_thing_name(prefix)
    if len(batch[-1]) > THING_NAME_MAX_LENGTH:
        raise PkiError(
            f"prefix {prefix!r} is too long for --count {count}: the name {batch[-1][:20]}... "
            f"would exceed {THING_NAME_MAX_LENGTH} characters; shorten the prefix"
        )
    return batch


def validate_fqdn(domain: str) -> str:
    """Return ``domain`` lower-cased if it is a plain DNS host name (no wildcard, no IP), else raise."""
    if not isinstance(domain, str) or not domain:
        raise PkiError("domain is empty: give the FQDN devices connect to, e.g. iot.example.com")
    fqdn = domain.lower().rstrip(".")
    labels = fqdn.split(".")
    if (
        len(fqdn) > 253
        or len(labels) < 2
        or not all(_FQDN_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise PkiError(
            f"invalid domain {domain!r}: give a fully qualified host name such as iot.example.com "
            "(letters, digits and '-' in dot-separated labels; no wildcard, no IP address)"
        )
    return fqdn
