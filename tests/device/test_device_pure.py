"""device.backoff, device.endpoint and the DNS answer (localcloud.services.iot.mqtt.routing): pure behaviour."""

from __future__ import annotations

import random

import pytest

from device.backoff import full_jitter
from device.cli import build_parser
from device.endpoint import EndpointError, parse_endpoint
from localcloud.services.iot.mqtt.routing import Location, RoutingError, answer

REGIONS = ["eu-west-1", "us-west-2"]


def test_full_jitter_stays_within_the_capped_exponential_ceiling_and_varies() -> None:
    rng = random.Random(1)
    delays = [full_jitter(attempt, base_s=0.5, cap_s=4.0, rng=rng) for attempt in range(10) for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(full_jitter(0, base_s=0.5, rng=rng) for _ in range(100)) <= 0.5
    assert len({round(d, 6) for d in delays}) > 400


def test_endpoint_is_the_domain_on_8883_and_an_address_needs_the_domain_as_sni() -> None:
    assert (parse_endpoint("iot.example.com").port, parse_endpoint("iot.example.com").sni) == (8883, "iot.example.com")
    direct = parse_endpoint("127.0.0.1:8884", sni="iot.example.com")
    assert (direct.host, direct.port, direct.sni) == ("127.0.0.1", 8884, "iot.example.com")
    with pytest.raises(EndpointError, match="--sni"):
        parse_endpoint("127.0.0.1:8884")
    assert parse_endpoint("iot.example.com", proxy="socks5h://US@127.0.0.1:1080").proxy.location == "US"
    with pytest.raises(EndpointError, match="socks5h"):
        parse_endpoint("iot.example.com", proxy="http://127.0.0.1:1080")


def test_latency_answer_is_the_nearest_healthy_region() -> None:
    assert answer("latency", REGIONS, Location.parse("IE"), REGIONS) == "eu-west-1"
    assert answer("latency", REGIONS, Location.parse("US"), REGIONS) == "us-west-2"
    assert answer("latency", REGIONS, Location.parse("IE"), ["us-west-2"]) == "us-west-2"
    assert answer("latency", REGIONS, Location.parse("IE"), []) == "eu-west-1"  # none healthy: all are


def test_geolocation_answer_falls_back_to_the_larger_area_when_the_match_is_unhealthy() -> None:
    records = {"eu-west-1": {"continent": "EU"}, "us-west-2": {"country": "*"}}
    assert answer("geolocation", REGIONS, Location.parse("DE"), REGIONS, records) == "eu-west-1"
    assert answer("geolocation", REGIONS, Location.parse("JP"), REGIONS, records) == "us-west-2"
    assert answer("geolocation", REGIONS, Location.parse("DE"), ["us-west-2"], records) == "us-west-2"
    with pytest.raises(RoutingError, match="no default"):
        answer("geolocation", REGIONS, Location.parse("JP"), REGIONS, {"eu-west-1": {"continent": "EU"}})


def test_device_cli_has_one_registration_line_per_module() -> None:
    parser = build_parser()
    for command in ("connect", "publish", "listen", "run"):
        args = parser.parse_args([command, "--endpoint", "iot.example.com", "--thing", "t", "--cert", "c", "--key", "k"])
        assert callable(args.handler)
