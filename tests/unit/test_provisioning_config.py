"""Config ``provisioning``: jitr (default), jitp, fleet (with jitr); jitr with jitp, and fleet with jitp, are refused."""

from pathlib import Path

import pytest

from components.config import ConfigError, Provisioning, parse_settings

PRIMARY = {
    "regions": '["eu-west-1", "us-west-2"]',
    "domainName": "iot.example.com",
    "hostedZoneId": "Z0123456789EXAMPLE",
}


def provisioning(value):
    values = {**PRIMARY, "provisioning": value}
    return parse_settings(lambda key: values.get(key), "eu-west-1", Path("/project")).provisioning


def test_without_the_key_devices_arrive_by_jitr_only():
    assert provisioning(None) == Provisioning("jitr", fleet=False)
    assert provisioning(None).jitr and not provisioning(None).jitp


@pytest.mark.parametrize("value, expected", [
    ("jitp", Provisioning("jitp", False)),
    ("JITR", Provisioning("jitr", False)),
    ("fleet,jitr", Provisioning("jitr", True)),
    ("jitr+fleet", Provisioning("jitr", True)),
    ('["fleet", "jitr"]', Provisioning("jitr", True)),
    (["jitr", "fleet"], Provisioning("jitr", True)),
    ("fleet", Provisioning("jitr", True)),  # factory certificates keep the default path
])
def test_each_accepted_spelling(value, expected):
    assert provisioning(value) == expected


def test_jitr_and_jitp_together_are_refused_saying_why():
    with pytest.raises(ConfigError, match=r"provisioning.*both jitr and jitp.*one CA has one auto-registration"):
        provisioning("jitr,jitp")


@pytest.mark.parametrize("value", ["fleet,jitp", "jitp+fleet", '["fleet", "jitp"]', ["jitp", "fleet"]])
def test_fleet_and_jitp_together_are_refused_naming_the_choice(value):
    """Issue 21: the fleet provider signs with the CA carrying the JITP template, so JITP would activate a fleet
    certificate the hook never admitted (tests/localcloud/test_fleet_claims.py shows it never is under fleet,jitr)."""
    with pytest.raises(ConfigError, match=r"provisioning.*both fleet and jitp.*activated by JITP.*pick one.*"
                                          r"pulumi config set provisioning fleet.*pulumi config set provisioning jitp"):
        provisioning(value)


@pytest.mark.parametrize("value", ["claim", "jitp,jitp", "jitp,claim", ","])
def test_unknown_or_repeated_modes_name_the_key_and_the_fix(value):
    with pytest.raises(ConfigError, match=r"provisioning.*pulumi config set provisioning"):
        provisioning(value)
