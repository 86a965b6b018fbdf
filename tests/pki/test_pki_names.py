"""Thing names (device CNs) and server FQDNs: what is accepted and what is refused, and why."""

from __future__ import annotations

import pytest

from pki import PkiError
from pki.names import device_names, validate_fqdn, validate_thing_name


@pytest.mark.parametrize("name", ["a", "sensor-0001", "Room_12:temp", "A" * 128, "0:1_2-3"])
def test_valid_thing_names_are_accepted(name: str) -> None:
    assert validate_thing_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("A" * 129, "at most 128"),
        ("has space", "' '"),
        ("dot.ted", "'.'"),
        ("slash/name", "'/'"),
        ("umlaut-ä", "'ä'"),
        ("star*", "'*'"),
    ],
)
def test_invalid_thing_names_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(PkiError, match="thing name") as excinfo:
        validate_thing_name(name)
    assert reason in str(excinfo.value)


def test_device_names_are_numbered_from_one_with_at_least_four_digits() -> None:
    assert device_names("fleet", 3) == ["fleet-0001", "fleet-0002", "fleet-0003"]
    assert device_names("f", 12345)[-1] == "f-12345"


def test_device_names_refuse_a_prefix_that_makes_names_too_long() -> None:
    with pytest.raises(PkiError, match="shorten the prefix"):
        device_names("p" * 124, 1)


def test_device_names_refuse_an_invalid_prefix() -> None:
    with pytest.raises(PkiError, match="invalid thing name"):
        device_names("bad prefix", 2)


@pytest.mark.parametrize("domain", ["iot.example.com", "IoT.Example.COM.", "a-b.c.example.org"])
def test_valid_domains_are_normalised(domain: str) -> None:
    assert validate_fqdn(domain) == domain.lower().rstrip(".")


@pytest.mark.parametrize("domain", ["", "localhost", "*.example.com", "127.0.0.1", "-bad.example.com", "a..b.com"])
def test_invalid_domains_are_refused(domain: str) -> None:
    with pytest.raises(PkiError, match="domain"):
        validate_fqdn(domain)
