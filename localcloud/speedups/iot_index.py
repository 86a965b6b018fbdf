"""Constant-time lookups for moto's IoT registry, so 10,000 devices cost linear time overall.

moto 5.2.5 finds a certificate by id, a principal by ARN and a thing by name by scanning
every certificate or thing, and lists a principal's things or policies by scanning every
attachment. The JITR and replication machines call these once or more per device, which
makes a run quadratic in the number of devices. ``install()`` replaces those lookups with
dictionary lookups that return exactly what the scans return:

* ``describe_certificate(id)``: ``certificates`` is keyed by id;
* ``_get_principal(arn)`` for ``...:cert/<id>`` ARNs: the id is in the ARN;
* ``describe_thing(name)``: ``things`` is keyed by the thing ARN, which the name gives;
* ``list_principal_things`` / ``list_thing_principals`` / ``list_principal_policies`` /
  ``list_attached_policies`` / ``list_policy_principals`` and ``delete_thing``'s attachment
  check: attachments are kept in ``PairIndex`` dicts (an ``OrderedDict`` that also indexes
  its (first, second) keys both ways).

A miss raises the ``ResourceNotFoundException`` moto's scan would raise (a miss in the
keyed dict means the scan finds nothing either); only principals that are not certificates
(thing groups, Cognito identities) still go through moto's original lookup. ``uninstall()`` restores
the originals.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from localcloud.compat.moto.core import get_partition
from localcloud.compat.moto.iot import IoTBackend, ResourceNotFoundException
from localcloud.patching import Patch


class PairIndex(OrderedDict):
    """An ``OrderedDict`` keyed by (first, second) pairs that indexes both components."""

    def __init__(self, items: Iterable[tuple[Any, Any]] = ()) -> None:
        self.by_first: dict[Any, dict[Any, None]] = {}
        self.by_second: dict[Any, dict[Any, None]] = {}
        super().__init__()
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.by_first.setdefault(key[0], {})[key] = None
        self.by_second.setdefault(key[1], {})[key] = None

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._forget(key)

    def _forget(self, key: Any) -> None:
        for index, part in ((self.by_first, key[0]), (self.by_second, key[1])):
            keys = index.get(part)
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del index[part]

    def pop(self, key: Any, *default: Any) -> Any:  # pyright: ignore[reportIncompatibleMethodOverride]  # as moto calls it
        if key in self:
            value = super().pop(key)
            self._forget(key)
            return value
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self, last: bool = True) -> tuple[Any, Any]:
        key, value = super().popitem(last)
        self._forget(key)
        return key, value

    def clear(self) -> None:
        super().clear()
        self.by_first.clear()
        self.by_second.clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __deepcopy__(self, memo: dict[int, Any]) -> PairIndex:
        import copy

        return PairIndex((copy.deepcopy(k, memo), copy.deepcopy(v, memo)) for k, v in self.items())

    def __reduce__(self) -> Any:
        return (PairIndex, (list(self.items()),))

    def firsts(self, first: Any) -> list[Any]:
        return list(self.by_first.get(first, ()))

    def seconds(self, second: Any) -> list[Any]:
        return list(self.by_second.get(second, ()))


PATCH = Patch("iot_index", kind="speed-up")
_ORIGINALS: dict[str, Any] = {}  # what install() replaced, by name (the replacements call two of them)


def _indexed(backend: IoTBackend) -> tuple[PairIndex, PairIndex]:
    if not isinstance(backend.principal_things, PairIndex):
        backend.principal_things = PairIndex(backend.principal_things.items())
    if not isinstance(backend.principal_policies, PairIndex):
        backend.principal_policies = PairIndex(backend.principal_policies.items())
    return backend.principal_things, backend.principal_policies


def _thing_arn(backend: IoTBackend, thing_name: str) -> str:
    partition = get_partition(backend.region_name)
    return f"arn:{partition}:iot:{backend.region_name}:{backend.account_id}:thing/{thing_name}"


def describe_certificate(self: IoTBackend, certificate_id: str) -> Any:
    certificate = self.certificates.get(certificate_id)
    if certificate is not None and certificate.certificate_id == certificate_id:
        return certificate
    raise ResourceNotFoundException()  # certificates are keyed by id: not there at all


def _get_principal(self: IoTBackend, principal_arn: str) -> Any:
    if ":cert/" in principal_arn:
        certificate = self.certificates.get(principal_arn.rsplit("/", 1)[-1])
        if certificate is not None and certificate.arn == principal_arn:
            return certificate
        raise ResourceNotFoundException()
    return _ORIGINALS["_get_principal"](self, principal_arn)


def describe_thing(self: IoTBackend, thing_name: str) -> Any:
    thing = self.things.get(_thing_arn(self, thing_name))
    if thing is not None and thing.thing_name == thing_name:
        return thing
    raise ResourceNotFoundException()  # things are keyed by the ARN the name gives


def list_principal_things(self: IoTBackend, principal_arn: str) -> list[str]:
    things, _ = _indexed(self)
    return [key[1] for key in things.firsts(principal_arn)]


def list_thing_principals(self: IoTBackend, thing_name: str) -> list[str]:
    things, _ = _indexed(self)
    if _thing_arn(self, thing_name) not in self.things:
        raise ResourceNotFoundException(
            f"Failed to list principals for thing {thing_name} because the thing does not "
            "exist in your account"
        )
    return [key[0] for key in things.seconds(thing_name)]


def list_principal_policies(self: IoTBackend, principal_arn: str) -> list[Any]:
    _, policies = _indexed(self)
    return [policies[key][1] for key in policies.firsts(principal_arn)]


def list_attached_policies(self: IoTBackend, target: str) -> list[Any]:
    return list_principal_policies(self, target)


def list_policy_principals(self: IoTBackend, policy_name: str) -> list[str]:
    _, policies = _indexed(self)
    return [key[0] for key in policies.seconds(policy_name)]


def delete_thing(self: IoTBackend, thing_name: str) -> None:
    from localcloud.assumptions import active

    things, _ = _indexed(self)
    # the other outcome of the register's iot.delete-thing-with-principal detaches instead: the fix decides then
    if things.seconds(thing_name) and active().delete_thing_with_principal == "refused":
        from localcloud.compat.moto.iot import ThingStillAttached

        self.describe_thing(thing_name)  # not found first, as moto does
        raise ThingStillAttached(thing_name)
    _ORIGINALS["delete_thing"](self, thing_name)


_REPLACEMENTS = {
    "describe_certificate": describe_certificate,
    "_get_principal": _get_principal,
    "describe_thing": describe_thing,
    "list_principal_things": list_principal_things,
    "list_thing_principals": list_thing_principals,
    "list_principal_policies": list_principal_policies,
    "list_attached_policies": list_attached_policies,
    "list_policy_principals": list_policy_principals,
    "delete_thing": delete_thing,
}


def install() -> None:
    """Replace moto's scanning lookups (idempotent)."""
    if PATCH.applied:
        return
    PATCH.on_undo(_ORIGINALS.clear)
    for name, replacement in _REPLACEMENTS.items():
        _ORIGINALS[name] = PATCH.set(IoTBackend, name, replacement)


def uninstall() -> None:
    """Restore what ``install()`` replaced."""
    PATCH.undo()


def installed() -> bool:
    return PATCH.applied
