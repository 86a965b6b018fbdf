"""Config is validated before any resource exists, and every error names its key and the fix."""

from pathlib import Path

import pytest

from components.config import ConfigError, parse_settings, shared_from_exports

PRIMARY = {
    "regions": '["eu-west-1", "us-west-2"]',
    "domainName": "iot.example.com",
    "hostedZoneId": "Z0123456789EXAMPLE",
}


def settings(region="eu-west-1", **overrides):
    values = {**PRIMARY, **overrides}
    return parse_settings(lambda key: values.get(key), region, Path("/project"))


def test_primary_defaults():
    s = settings()
    assert s.is_primary
    assert s.shared.regions == ("eu-west-1", "us-west-2")
    assert s.shared.primary_region == "eu-west-1"
    assert s.tls_security_policy == "IoTSecurityPolicy_TLS13_1_3_2022_10"
    assert s.shared.routing_policy == "latency"
    assert s.lambda_architecture == "arm64"
    assert s.application == "multi-region-iot"
    assert s.test_resources is True
    assert s.pki_dir == Path("/project/pki-out")
    assert s.canary_reserved_concurrency == 2


def test_the_dead_letter_alarm_notifies_a_topic_only_when_one_is_configured():
    assert settings().alarm_topic_arn is None
    topic = "arn:aws:sns:eu-west-1:123456789012:iot-alarms"
    assert settings(alarmTopicArn=topic).alarm_topic_arn == topic


def test_the_primary_alone_is_accepted_the_last_region_left_after_a_removal():
    # README, "Removing a region": `pulumi config rm --path 'regions[1]'` on a two-region system leaves one.
    assert settings(regions='["eu-west-1"]').shared.regions == ("eu-west-1",)


def test_secondary_needs_only_the_primary_stack_name():
    s = parse_settings(lambda key: {"primaryStack": "acme/multi-region-iot/eu-west-1"}.get(key),
                       "us-west-2", Path("/p"))
    assert not s.is_primary and s.shared is None


@pytest.mark.parametrize("overrides, key, fix", [
    ({"hostedZoneId": None}, "hostedZoneId is not set", "pulumi config set hostedZoneId"),
    ({"hostedZoneId": "not-a-zone"}, "hostedZoneId = 'not-a-zone'", "pulumi config set hostedZoneId"),
    ({"domainName": None}, "domainName is not set", "pulumi config set domainName"),
    ({"domainName": "iot example com"}, "is not a hostname", "pulumi config set domainName"),
    ({"domainName": "-bad.example.com"}, "is not a hostname", "iot.example.com"),
    ({"domainName": "localhost"}, "is not a hostname", "iot.example.com"),
    ({"regions": '["us-west-2", "ap-south-1"]'}, "does not include this stack's region eu-west-1", "add it"),
    ({"regions": '["us-west-2", "eu-west-1"]'}, "must start with the primary stack's own region", "move eu-west-1"),
    ({"regions": "[]"}, "does not include this stack's region eu-west-1", "add it"),
    ({"regions": '["eu-west-1", "eu-west-1"]'}, "lists a region twice", "once"),
    ({"regions": '["eu-west-1", "mars-1"]'}, "regions[1] = 'mars-1' is not an AWS region", "eu-west-1"),
    ({"regions": "eu-west-1"}, "regions must be a list", '["eu-west-1", "us-west-2"]'),
    ({"regions": None}, "regions is not set", "pulumi config set --path"),
    ({"routingPolicy": "weighted"}, "routingPolicy = 'weighted' is not one of latency, geolocation", "pulumi config set routingPolicy"),
    ({"routingPolicy": "geolocation"}, "geolocation is not set but routingPolicy is geolocation", "country"),
    ({"tlsSecurityPolicy": "iotSecurityPolicy_TLS13_1_3_2022_10"}, "is not an AWS IoT security policy", "capital T"),
    ({"lambdaArchitecture": "arm"}, "lambdaArchitecture = 'arm' is not one of arm64, x86_64", "pulumi config set"),
    ({"logRetentionDays": "45"}, "logRetentionDays = '45' is not a retention", "30"),
    ({"testResources": "maybe"}, "testResources = 'maybe' must be true or false", "pulumi config set testResources"),
    ({"application": "Multi Region"}, "application = 'Multi Region'", "pulumi config set application"),
    ({"primaryStack": "eu-west-1"}, "primaryStack = 'eu-west-1' must be a fully qualified", "org/project/stack"),
    ({"serverCertificate": "-----BEGIN CERTIFICATE-----"}, "serverPrivateKey, certificateChain, caCertificate is missing", "--secret"),
    ({"canaryReservedConcurrency": "0"}, "canaryReservedConcurrency = '0' must be a whole number from 1 to 10",
     "pulumi config set canaryReservedConcurrency 2"),
    ({"canaryReservedConcurrency": "50"}, "from 1 to 10", "pulumi config set canaryReservedConcurrency 2"),
    ({"canaryReservedConcurrency": "two"}, "canaryReservedConcurrency = 'two'", "pulumi config set"),
    ({"alarmTopicArn": "iot-alarms"}, "alarmTopicArn = 'iot-alarms' is not an SNS topic ARN",
     "pulumi config set alarmTopicArn arn:aws:sns:eu-west-1:"),
    ({"alarmTopicArn": "arn:aws:sns:us-west-2:123456789012:iot-alarms"}, "a topic in us-west-2 but this stack deploys "
     "to eu-west-1", "arn:aws:sns:eu-west-1:"),
])
def test_bad_config_names_the_key_and_the_fix(overrides, key, fix):
    with pytest.raises(ConfigError) as err:
        settings(**overrides)
    assert key in str(err.value)
    assert fix in str(err.value)


def test_region_of_the_stack_must_be_a_region():
    with pytest.raises(ConfigError, match="aws:region = None is not an AWS region"):
        settings(region=None)


def test_shared_settings_on_a_secondary_are_refused():
    values = {"primaryStack": "acme/multi-region-iot/eu-west-1", "domainName": "iot.example.com"}
    with pytest.raises(ConfigError, match=r"domainName is set on a secondary stack.*pulumi config rm domainName"):
        parse_settings(values.get, "us-west-2", Path("/p"))


GEO_OK = '{"eu-west-1": {"country": "*"}, "us-west-2": {"continent": "NA"}}'


def test_geolocation_routing_maps_each_region():
    s = settings(routingPolicy="geolocation", geolocation=GEO_OK)
    assert s.shared.geolocation["eu-west-1"].is_default
    assert s.shared.geolocation["us-west-2"].as_dict() == {"continent": "NA"}


@pytest.mark.parametrize("geo, message", [
    ('{"eu-west-1": {"country": "*"}}', "no location for region us-west-2"),
    ('{"eu-west-1": {"continent": "EU"}, "us-west-2": {"continent": "NA"}}', "exactly one region as the default"),
    ('{"eu-west-1": {"country": "*"}, "us-west-2": {"country": "*"}}', "exactly one region as the default"),
    ('{"eu-west-1": {"country": "*"}, "us-west-2": {"continent": "XX"}}', "continent = 'XX' is not one of"),
    ('{"eu-west-1": {"country": "*"}, "us-west-2": {"continent": "NA", "country": "US"}}', "exactly one of continent or country"),
    ('{"eu-west-1": {"country": "*"}, "us-west-2": {"country": "usa"}}', "two-letter ISO country code"),
    ('{"eu-west-1": {"country": "*"}, "us-west-2": {"continent": "NA"}, "ap-south-1": {"continent": "AS"}}', "not in regions"),
    ('{"eu-west-1": {"country": "*"}, "us-west-2": {"planet": "earth"}}', "unknown field(s) ['planet']"),
])
def test_bad_geolocation_is_refused(geo, message):
    with pytest.raises(ConfigError) as err:
        settings(routingPolicy="geolocation", geolocation=geo)
    assert message in str(err.value)


def test_secondary_region_must_be_in_the_primarys_list():
    outputs = {"regions": ["eu-west-1", "us-west-2"], "domainName": "iot.example.com", "hostedZoneId": "Z1"}
    assert shared_from_exports(outputs, "us-west-2", "o/p/eu-west-1").domain_name == "iot.example.com"
    with pytest.raises(ConfigError, match=r"ap-south-1 is not in the primary stack's regions.*pulumi up"):
        shared_from_exports(outputs, "ap-south-1", "o/p/eu-west-1")


def test_secondary_before_the_primary_is_deployed():
    with pytest.raises(ConfigError, match="deploy it first"):
        shared_from_exports({}, "us-west-2", "o/p/eu-west-1")


# --- issue 11: configuration errors ------------------------------------------------------------------------

@pytest.mark.parametrize("region", ["eu-west-9", "us-east-7", "eu-west-1\n"])
def test_a_region_no_partition_lists_is_refused(region):
    with pytest.raises(ConfigError, match=r"is not an AWS region that botocore .* knows.*upgrade it"):
        settings(regions=f'["eu-west-1", {region!r}]'.replace("'", '"').replace("\n", "\\n"))
    with pytest.raises(ConfigError, match="aws:region = "):
        settings(region=region)


def test_regions_of_every_partition_botocore_ships_are_known_but_only_the_aws_partition_is_deployed():
    from components.config import known_regions

    assert {"eu-west-1", "us-gov-west-1", "cn-north-1", "us-isob-east-1"} <= known_regions()
    assert not any(r.endswith("-global") for r in known_regions())
    # every ARN the program writes is arn:aws:..., wrong in aws-cn or aws-us-gov (red team, issue 20)
    with pytest.raises(ConfigError, match=r"in the aws-cn partition; this program writes ARNs of the aws partition"):
        settings("cn-north-1", regions='["cn-north-1", "cn-northwest-1"]')


@pytest.mark.parametrize("other", ["cn-north-1", "us-gov-west-1"])
def test_regions_of_another_partition_are_refused(other):
    """Route 53 in the aws partition cannot health-check an alarm in aws-cn / aws-us-gov, a global table cannot
    replicate across partitions and the ARNs differ; botocore's CloudWatchRegion enum lists both partitions' regions,
    so the health-check check alone does not catch it (red team, issue 20)."""
    from components.config import validate_regions

    with pytest.raises(ConfigError, match=r"spans AWS partitions .*keep only the aws regions \['eu-west-1'\]"):
        validate_regions(["eu-west-1", other], "regions", "eu-west-1")
    with pytest.raises(ConfigError, match="spans AWS partitions"):
        settings(regions=f'["eu-west-1", "{other}"]')


@pytest.mark.parametrize("level", ["OFF", "off"])
def test_log_level_off_is_refused_naming_the_mandatory_rule(level):
    with pytest.raises(ConfigError, match=r"stateMachineLogLevel = '(OFF|off)'.*sfn-logging-enabled.*ERROR"):
        settings(stateMachineLogLevel=level)


def test_every_log_level_config_accepts_passes_the_policy_rule():
    from components.config import LOG_LEVELS
    from policy.rules.workflows import LOGGING_LEVELS

    assert set(LOG_LEVELS) == set(LOGGING_LEVELS)
    assert settings(stateMachineLogLevel="FATAL").state_machine_log_level == "FATAL"


@pytest.mark.parametrize("stack", ["acme/other-project/eu-west-1", "acme/multi-region-iot-old/eu-west-1"])
def test_primary_stack_of_another_project_is_refused(stack):
    with pytest.raises(ConfigError, match=r"names a stack of project .*expected a stack of this project, "
                                          r"acme/multi-region-iot/<primary stack>"):
        parse_settings({"primaryStack": stack}.get, "us-west-2", Path("/p"))


def test_primary_stack_that_is_a_secondary_or_has_no_outputs_says_what_was_expected():
    with pytest.raises(ConfigError, match=r"names a secondary stack.*pulumi config set primaryStack acme/multi-region-iot/eu-west-1"):
        shared_from_exports({"primaryStack": "acme/multi-region-iot/eu-west-1", "region": "ap-south-1"},
                            "us-west-2", "acme/multi-region-iot/ap-south-1")
    with pytest.raises(ConfigError, match=r"expected the fully qualified name \(org/multi-region-iot/<stack>\)"):
        shared_from_exports({}, "us-west-2", "acme/multi-region-iot/nonexistent")


@pytest.mark.parametrize("key, value", [
    ("application", "my-app\n"), ("hostedZoneId", "Z0123456789EXAMPLE\n"), ("domainName", "iot.example.com\n"),
    ("alarmTopicArn", "arn:aws:sns:eu-west-1:123456789012:iot-alarms\n"),
])
def test_names_with_a_trailing_newline_are_refused(key, value):
    with pytest.raises(ConfigError, match=key):
        settings(**{key: value})
    with pytest.raises(ConfigError, match=r"primaryStack = .* must be a fully qualified stack name"):
        parse_settings({"primaryStack": "acme/multi-region-iot/eu-west-1\n"}.get, "us-west-2", Path("/p"))


def test_quotas_file_defaults_to_aws_defaults_and_is_read_relative_to_the_project(tmp_path):
    assert settings().quotas_file is None
    raised = tmp_path / "raised.json"
    raised.write_text('{"apis": [{"service": "iot", "operation": "AttachPolicy", "default": {"burst": 50, "rate": 50}}]}')
    values = {**PRIMARY, "quotasFile": "raised.json"}

    assert parse_settings(lambda key: values.get(key), "eu-west-1", tmp_path).quotas_file == raised


@pytest.mark.parametrize("content, problem", [
    (None, "cannot read"),
    ("{not json", "not JSON"),
    ('{"apis": [{"service": "iot", "operation": "AttachPolicy", "default": {"burst": 0, "rate": 5}}]}', "burst must be"),
    ('{"quota": []}', "unknown keys"),
])
def test_a_quotas_file_that_cannot_be_used_names_the_key_the_entry_and_the_fix(tmp_path, content, problem):
    if content is not None:
        (tmp_path / "q.json").write_text(content)
    values = {**PRIMARY, "quotasFile": "q.json"}

    with pytest.raises(ConfigError, match=f"quotasFile: .*{problem}.*pulumi config rm quotasFile"):
        parse_settings(lambda key: values.get(key), "eu-west-1", tmp_path)


# --- Route 53 health checks on CloudWatch alarms: AlarmIdentifier.Region is an enum --------------------------------

def _regions_route53_cannot_health_check() -> list[str]:
    """Regions botocore's partitions know that its route53 model's CloudWatchRegion enum does not list."""
    from botocore.loaders import Loader

    from components.config import known_regions

    enum = set(Loader().load_service_model("route53", "service-2")["shapes"]["CloudWatchRegion"]["enum"])
    return sorted(known_regions() - enum)


def test_a_region_route53_cannot_health_check_is_refused_naming_the_fix():
    unsupported = _regions_route53_cannot_health_check()
    assert unsupported, "every region botocore knows is in the enum: nothing to refuse with this botocore"
    region = unsupported[0]
    with pytest.raises(ConfigError, match=rf"regions\[1\] = '{region}'.*Route 53.*AlarmIdentifier.Region.*"
                                          r"pick a region Route 53 lists.*upgrade botocore"):
        settings(regions=f'["eu-west-1", "{region}"]')
    with pytest.raises(ConfigError, match=rf"aws:region = '{region}'.*Route 53"):
        parse_settings({"primaryStack": "acme/multi-region-iot/eu-west-1"}.get, region, Path("/p"))


def test_every_region_the_health_check_accepts_passes():
    from botocore.loaders import Loader

    enum = Loader().load_service_model("route53", "service-2")["shapes"]["CloudWatchRegion"]["enum"]
    assert {"eu-west-1", "us-west-2", "ap-southeast-2"} <= set(enum)
    assert settings(regions='["eu-west-1", "ap-southeast-2"]').shared.regions[1] == "ap-southeast-2"
