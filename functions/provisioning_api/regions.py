"""Where the AWS regions are: the closest configured region to a point, by great-circle distance.

AWS publishes each region's location as a place name, not coordinates: "Europe (Ireland)", "US West (Oregon)"
(the region table, https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html, and the
``description`` of each region in botocore's ``partitions`` data). The coordinates below are those of the place
named (the metropolitan area AWS names, or for a state or country the site commonly reported for the region,
e.g. Boardman for Oregon), rounded to 0.1 degree: good to a few tens of km, which is far below the distance
between two regions. A region missing here cannot be chosen by distance: ``closest_region`` refuses it loudly.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

#: region -> (latitude, longitude, the place AWS names)
REGION_COORDINATES: dict[str, tuple[float, float, str]] = {
    "us-east-1": (38.9, -77.5, "N. Virginia (Ashburn)"),
    "us-east-2": (40.0, -83.0, "Ohio (Columbus)"),
    "us-west-1": (37.4, -121.9, "N. California (San Jose)"),
    "us-west-2": (45.8, -119.7, "Oregon (Boardman)"),
    "ca-central-1": (45.5, -73.6, "Canada (Central): Montreal"),
    "sa-east-1": (-23.5, -46.6, "Sao Paulo"),
    "eu-west-1": (53.3, -6.3, "Ireland (Dublin)"),
    "eu-west-2": (51.5, -0.1, "London"),
    "eu-west-3": (48.9, 2.4, "Paris"),
    "eu-central-1": (50.1, 8.7, "Frankfurt"),
    "eu-central-2": (47.4, 8.5, "Zurich"),
    "eu-north-1": (59.3, 18.1, "Stockholm"),
    "eu-south-1": (45.5, 9.2, "Milan"),
    "eu-south-2": (41.6, -0.9, "Spain (Aragon)"),
    "me-south-1": (26.1, 50.6, "Bahrain"),
    "me-central-1": (24.5, 54.4, "UAE"),
    "af-south-1": (-33.9, 18.4, "Cape Town"),
    "ap-south-1": (19.1, 72.9, "Mumbai"),
    "ap-south-2": (17.4, 78.5, "Hyderabad"),
    "ap-east-1": (22.3, 114.2, "Hong Kong"),
    "ap-southeast-1": (1.3, 103.8, "Singapore"),
    "ap-southeast-2": (-33.9, 151.2, "Sydney"),
    "ap-southeast-3": (-6.2, 106.8, "Jakarta"),
    "ap-southeast-4": (-37.8, 145.0, "Melbourne"),
    "ap-northeast-1": (35.7, 139.7, "Tokyo"),
    "ap-northeast-2": (37.6, 127.0, "Seoul"),
    "ap-northeast-3": (34.7, 135.5, "Osaka"),
}

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance between two points, in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def check_known(regions: Iterable[str]) -> tuple[str, ...]:
    regions = tuple(regions)
    unknown = [r for r in regions if r not in REGION_COORDINATES]
    if unknown:
        raise ValueError(f"no coordinates for region(s) {unknown}: add them to REGION_COORDINATES "
                         "(functions/provisioning_api/regions.py) with their source")
    return regions


def closest_region(latitude: float, longitude: float, regions: Iterable[str]) -> str:
    """The configured region nearest to the point (ties: the first in ``regions``)."""
    regions = check_known(regions)
    if not regions:
        raise ValueError("no regions to choose from")
    return min(regions, key=lambda r: great_circle_km(latitude, longitude, *REGION_COORDINATES[r][:2]))
