"""From the client's IP address to the closest region, with a MaxMind-format database read locally with geoip2.

No network call at request time (the public sample asked a third-party web service over plain HTTP): the database
is a file in the function's package or ``/tmp`` (downloaded once per container from S3 by ``load``), opened once
and kept open. Addresses the database does not know (private, loopback, unlisted, no coordinates) get the
configured default region.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from .regions import check_known, closest_region


@dataclass(frozen=True)
class Choice:
    region: str
    reason: str  # "closest to <lat>,<lon>" or "default: <why>"


class RegionChooser:
    """``choose(ip)``: the configured region closest to where the database places ``ip``, else the default."""

    def __init__(self, reader: Any | None, regions: Iterable[str], default_region: str):
        self.regions = check_known(regions)
        if default_region not in self.regions:
            raise ValueError(f"the default region {default_region!r} is not one of the regions {list(self.regions)}")
        self.reader = reader
        self.default_region = default_region

    def choose(self, source_ip: str) -> Choice:
        try:
            address = ipaddress.ip_address(source_ip)
        except ValueError:
            return Choice(self.default_region, f"default: {source_ip!r} is not an IP address")
        if self.reader is None:
            return Choice(self.default_region, "default: no geolocation database configured")
        if not address.is_global:
            return Choice(self.default_region, f"default: {address} is not a public address")
        import geoip2.errors

        try:
            city = self.reader.city(str(address))
        except geoip2.errors.AddressNotFoundError:
            return Choice(self.default_region, f"default: {address} is not in the geolocation database")
        latitude, longitude = city.location.latitude, city.location.longitude
        if latitude is None or longitude is None:
            return Choice(self.default_region, f"default: the database has no coordinates for {address}")
        return Choice(closest_region(latitude, longitude, self.regions), f"closest to {latitude},{longitude}")


def open_reader(path: str | os.PathLike | None) -> Any | None:
    """A geoip2 reader of a City-type MaxMind database (GeoLite2-City, GeoIP2-City or compatible), or None."""
    if not path:
        return None
    import geoip2.database

    reader = geoip2.database.Reader(str(path))
    if "City" not in reader.metadata().database_type:
        raise ValueError(f"{path} is a {reader.metadata().database_type} database; a City database is needed "
                         "(it carries coordinates)")
    return reader


def fetch_from_s3(s3: Any, bucket: str, key: str,
                  directory: Path = Path("/tmp")) -> Path:  # noqa: S108 - Lambda's only writable directory
    """Download the database once per container (Lambda's /tmp survives warm invocations)."""
    target = directory / f"geolocation-{Path(key).name}"
    if not target.exists():
        partial = target.with_suffix(".partial")
        s3.download_file(bucket, key, str(partial))
        partial.replace(target)
    return target
