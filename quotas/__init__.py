"""AWS quotas as data: token buckets per API per region (``aws-defaults.json``), prices (``prices.json``).

``load(path=None)`` reads the defaults and, given a user's file in the same format, replaces the defaults' entries
for the same ``service``/``operation`` (or limit ``name``) with the user's. Anything malformed raises
``QuotaFileError`` naming the file and the entry.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULTS = HERE / "aws-defaults.json"
PRICES = HERE / "prices.json"


class QuotaFileError(ValueError):
    """A quota or price file that cannot be used, with the reason."""


@dataclass(frozen=True)
class Bucket:
    burst: float
    rate: float


@dataclass
class Quotas:
    region_classes: dict[str, list[str]] = field(default_factory=dict)
    apis: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (service, operation) -> entry
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _pick(self, entry: dict[str, Any], region: str) -> Bucket:
        for region_class, numbers in entry.get("by_region_class", {}).items():
            if region in self.region_classes.get(region_class, []):
                return Bucket(float(numbers["burst"]), float(numbers["rate"]))
        numbers = entry["default"]
        return Bucket(float(numbers["burst"]), float(numbers["rate"]))

    def bucket(self, service: str, operation: str, region: str) -> Bucket | None:
        """The token bucket of ``service:operation`` in ``region``, or None when it is not throttled here."""
        entry = self.apis.get((service, operation))
        return None if entry is None else self._pick(entry, region)

    def rates(self, service: str, region: str) -> dict[str, float]:
        """``{"iot:AttachPolicy": 15.0, ...}``: the refill rate of every throttled API of ``service`` in ``region``."""
        return {f"{svc}:{operation}": self._pick(entry, region).rate
                for (svc, operation), entry in sorted(self.apis.items()) if svc == service}

    def limit(self, name: str, region: str) -> Bucket | None:
        entry = self.limits.get(name)
        return None if entry is None else self._pick(entry, region)

    def source(self, service: str, operation: str) -> str:
        entry = self.apis.get((service, operation), {})
        return entry.get("source", "")


def _numbers(where: str, value: Any) -> None:
    if not isinstance(value, dict) or set(value) != {"burst", "rate"}:
        raise QuotaFileError(f"{where}: expected {{\"burst\": N, \"rate\": N}}, got {value!r}")
    for key in ("burst", "rate"):
        number = value[key]
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number <= 0:
            raise QuotaFileError(f"{where}: {key} must be a positive number, got {number!r}")
    if value["burst"] < 1:
        raise QuotaFileError(f"{where}: burst must be at least 1 (one call), got {value['burst']!r}")


def _entry(where: str, entry: Any, classes: dict[str, list[str]], key_fields: tuple[str, ...]) -> None:
    if not isinstance(entry, dict):
        raise QuotaFileError(f"{where}: expected an object, got {entry!r}")
    for name in key_fields:
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise QuotaFileError(f"{where}: missing {name!r} (a non-empty string)")
    if "default" not in entry:
        raise QuotaFileError(f"{where}: missing 'default' ({{\"burst\": N, \"rate\": N}})")
    _numbers(f"{where}.default", entry["default"])
    by_class = entry.get("by_region_class", {})
    if not isinstance(by_class, dict):
        raise QuotaFileError(f"{where}.by_region_class: expected an object")
    for region_class, numbers in by_class.items():
        if region_class not in classes:
            raise QuotaFileError(f"{where}.by_region_class: unknown region class {region_class!r} "
                                 f"(known: {sorted(classes)})")
        _numbers(f"{where}.by_region_class.{region_class}", numbers)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise QuotaFileError(f"{path}: cannot read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise QuotaFileError(f"{path}: not UTF-8 text (byte {error.start}): save it as UTF-8 JSON") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise QuotaFileError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict):
        raise QuotaFileError(f"{path}: expected a JSON object with 'apis' and/or 'limits'")
    return document


def _merge(quotas: Quotas, document: dict[str, Any], path: Path) -> None:
    classes = document.get("region_classes", {})
    if not isinstance(classes, dict) or not all(
            isinstance(v, list) and all(isinstance(r, str) for r in v) for v in classes.values()):
        raise QuotaFileError(f"{path}: region_classes must map a name to a list of region names")
    quotas.region_classes.update(classes)
    known = {key for key in document if key not in ("comment", "region_classes", "apis", "limits", "not_modelled")}
    if known:
        raise QuotaFileError(f"{path}: unknown keys {sorted(known)} (expected apis, limits, region_classes)")
    for index, entry in enumerate(document.get("apis", [])):
        _entry(f"{path}: apis[{index}]", entry, quotas.region_classes, ("service", "operation"))
        quotas.apis[(entry["service"], entry["operation"])] = entry
    for index, entry in enumerate(document.get("limits", [])):
        _entry(f"{path}: limits[{index}]", entry, quotas.region_classes, ("name",))
        quotas.limits[entry["name"]] = entry


def load(path: str | Path | None = None) -> Quotas:
    """The shipped defaults, with ``path``'s entries (if given) replacing theirs."""
    quotas = Quotas()
    _merge(quotas, _read(DEFAULTS), DEFAULTS)
    if path is not None:
        _merge(quotas, _read(Path(path)), Path(path))
    return quotas


def prices(path: str | Path | None = None) -> dict[str, Any]:
    document = _read(Path(path) if path else PRICES)
    table = document.get("prices")
    if not isinstance(table, dict):
        raise QuotaFileError(f"{path or PRICES}: missing 'prices'")
    for key, entry in table.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("usd"), (int, float)) or entry["usd"] < 0:
            raise QuotaFileError(f"{path or PRICES}: prices.{key}.usd must be a number >= 0")
    return document
