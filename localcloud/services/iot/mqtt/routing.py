"""The local DNS answer for the custom domain: which region a device at a location is sent to.

What Route 53 does with the program's records (one per region, set identifier = region; see
components/endpoint.py), with each record's health as its health check reports it:

* ``latency``: the healthy region with the lowest latency from the device. Locally latency is the
  great-circle distance between the device's country and the region (a stand-in for Route 53's measured
  latency tables).
* ``geolocation``: the most specific healthy record for the device's location (country, then continent,
  then the default ``country: "*"``); an unhealthy match falls back to the larger area, as Route 53 does
  ("If the record is unhealthy, Route 53 responds with the record for the larger geographic region",
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-geo.html).
* when no record is healthy, Route 53 answers as if every record were healthy
  (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-complex-configs.html).

Pure functions: no sockets, no cloud.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

# Approximate coordinates of AWS regions (the metro area of each) and of a few countries' centres.
REGION_COORDINATES: dict[str, tuple[float, float]] = {
    "us-east-1": (38.9, -77.4), "us-east-2": (40.0, -83.0), "us-west-1": (37.4, -122.0),
    "us-west-2": (45.8, -119.7), "ca-central-1": (45.5, -73.6), "sa-east-1": (-23.5, -46.6),
    "eu-west-1": (53.3, -6.3), "eu-west-2": (51.5, -0.1), "eu-west-3": (48.9, 2.4),
    "eu-central-1": (50.1, 8.7), "eu-north-1": (59.3, 18.1), "eu-south-1": (45.5, 9.2),
    "ap-south-1": (19.1, 72.9), "ap-southeast-1": (1.3, 103.8), "ap-southeast-2": (-33.9, 151.2),
    "ap-northeast-1": (35.7, 139.7), "ap-northeast-2": (37.6, 127.0), "af-south-1": (-33.9, 18.4),
    "me-south-1": (26.1, 50.6),
}
COUNTRIES: dict[str, tuple[str, float, float]] = {  # ISO 3166 alpha-2 -> (continent code, lat, lon)
    "IE": ("EU", 53.4, -8.2), "GB": ("EU", 54.0, -2.0), "FR": ("EU", 46.6, 2.2), "DE": ("EU", 51.2, 10.4),
    "ES": ("EU", 40.4, -3.7), "IT": ("EU", 42.8, 12.8), "NL": ("EU", 52.1, 5.3), "PL": ("EU", 52.0, 19.1),
    "SE": ("EU", 62.2, 17.6), "US": ("NA", 39.8, -98.6), "CA": ("NA", 56.1, -106.3), "MX": ("NA", 23.6, -102.6),
    "BR": ("SA", -14.2, -51.9), "AR": ("SA", -38.4, -63.6), "JP": ("AS", 36.2, 138.3), "IN": ("AS", 20.6, 79.0),
    "SG": ("AS", 1.35, 103.8), "KR": ("AS", 35.9, 127.8), "CN": ("AS", 35.9, 104.2), "AU": ("OC", -25.3, 133.8),
    "ZA": ("AF", -30.6, 22.9), "NG": ("AF", 9.1, 8.7),
}


class RoutingError(Exception):
    """No answer can be given; the message says why."""


@dataclass(frozen=True)
class Location:
    """Where a device is: a country code (and its continent)."""

    country: str
    continent: str
    latitude: float
    longitude: float

    @classmethod
    def parse(cls, text: str) -> Location:
        code = text.strip().upper()
        if code not in COUNTRIES:
            raise RoutingError(f"unknown device location {text!r}; use a country code, one of "
                               f"{', '.join(sorted(COUNTRIES))}")
        continent, latitude, longitude = COUNTRIES[code]
        return cls(code, continent, latitude, longitude)


def _distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (tuple(math.radians(v) for v in p) for p in (a, b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(h))


def latency_answer(regions: Collection[str], location: Location, healthy: Collection[str]) -> str:
    """The nearest healthy region (every region when none is healthy)."""
    unknown = [r for r in regions if r not in REGION_COORDINATES]
    if unknown:
        raise RoutingError(f"no coordinates for {unknown}; add them to REGION_COORDINATES")
    if not regions:
        raise RoutingError("no records for the domain")
    candidates = [r for r in regions if r in healthy] or list(regions)
    here = (location.latitude, location.longitude)
    return min(candidates, key=lambda r: (_distance_km(here, REGION_COORDINATES[r]), r))


def geolocation_answer(records: Mapping[str, Mapping[str, str | None]], location: Location,
                       healthy: Collection[str]) -> str:
    """The most specific matching healthy record's region (``records``: region -> continent/country/subdivision)."""
    def specificity(geo: Mapping[str, str | None]) -> int | None:
        if geo.get("country") == "*":
            return 0
        if geo.get("country"):
            return 2 if geo["country"] == location.country and not geo.get("subdivision") else None
        if geo.get("continent"):
            return 1 if geo["continent"] == location.continent else None
        return None

    matching = sorted(((s, region) for region, geo in records.items() if (s := specificity(geo)) is not None),
                      reverse=True)
    if not matching:
        raise RoutingError(f"no geolocation record matches {location.country} ({location.continent}) and there is "
                           "no default (country \"*\"): Route 53 answers NOERROR with no record")
    for _, region in matching:
        if region in healthy:
            return region
    return matching[0][1]


def answer(routing_policy: str, regions: Collection[str], location: Location, healthy: Collection[str],
           geolocation: Mapping[str, Mapping[str, str | None]] | None = None) -> str:
    """The region the domain resolves to for ``location`` under ``routing_policy``."""
    if routing_policy == "geolocation":
        return geolocation_answer({r: (geolocation or {}).get(r, {}) for r in regions}, location, healthy)
    if routing_policy == "latency":
        return latency_answer(regions, location, healthy)
    raise RoutingError(f"routing policy {routing_policy!r} is not latency or geolocation")
