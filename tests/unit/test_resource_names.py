"""Every physical name the program chooses is valid for its service, whatever `application` the config accepts.

The rules come from botocore's service models (tests/unit/name_rules.py) and, for S3 buckets, the S3 User Guide's
naming rules. A property test draws applications from the config's own pattern; two runs of both stacks under
Pulumi mocks at the longest application the config accepts (32 characters; 30 with fleet provisioning, whose
template name AWS limits to 36) check every named resource the program registers."""

from __future__ import annotations


import pytest
from hypothesis import given, settings, strategies as st

from builders import canary as canary_builders
from components import config
from components.config import ConfigError, known_regions, parse_settings
from components.naming import Names
from contract.names import APPLICATION_PATTERN
from localcloud.mockrun import run_stack
from tests.unit import name_rules
from tests.unit.conftest import PRIMARY_REF

ACCOUNT = "123456789012"
#: What each Names attribute names (a new attribute must be classified here).
NAMES_KINDS = {
    "inventory_table": "aws:dynamodb/table:Table", "data_table": "aws:dynamodb/table:Table",
    "allow_list_table": "aws:dynamodb/table:Table", "provisioning_nonce_table": "aws:dynamodb/table:Table",
    "registration_lease_table": "aws:dynamodb/table:Table", "pacing_table": "aws:dynamodb/table:Table",
    "provisioning_function": "aws:lambda/function:Function", "pacer_function": "aws:lambda/function:Function",
    "inspector_function": "aws:lambda/function:Function", "device_policy": "aws:iot/policy:Policy",
    "event_bus": "aws:cloudwatch/eventBus:EventBus", "jitr_state_machine": "aws:sfn/stateMachine:StateMachine",
    "replication_state_machine": "aws:sfn/stateMachine:StateMachine",
    "decommission_state_machine": "aws:sfn/stateMachine:StateMachine",
    "domain_configuration": "aws:iot/domainConfiguration:DomainConfiguration", "pipe": "aws:pipes/pipe:Pipe",
    "replication_dead_letter_queue": "aws:sqs/queue:Queue", "telemetry_error_queue": "aws:sqs/queue:Queue",
    "failed_executions_rule": "aws:cloudwatch/eventRule:EventRule",
    "jitr_failure_alarm": "aws:cloudwatch/metricAlarm:MetricAlarm",
    "replication_dead_letter_alarm": "aws:cloudwatch/metricAlarm:MetricAlarm",
    "telemetry_error_alarm": "aws:cloudwatch/metricAlarm:MetricAlarm",
    "jitr_rule": "aws:iot/topicRule:TopicRule", "telemetry_rule": "aws:iot/topicRule:TopicRule",
    "event_source": None,  # an EventBridge event's `source`, not a resource name
}
LOWER, DIGITS = "abcdefghijklmnopqrstuvwxyz", "0123456789"


@st.composite
def applications(draw) -> str:
    """Names the config's pattern accepts, every length from 3 to 32 equally likely (the long ones matter)."""
    length = draw(st.integers(3, 32))
    middle = draw(st.text(LOWER + DIGITS + "-", min_size=length - 2, max_size=length - 2))
    name = draw(st.sampled_from(LOWER)) + middle + draw(st.sampled_from(LOWER + DIGITS))
    assert APPLICATION_PATTERN.fullmatch(name)
    return name


APPLICATIONS = applications().filter(lambda a: not a.startswith(name_rules.S3_RESERVED_PREFIXES))
LONGEST = "a" + "b-c" * 10 + "d"  # 32 characters: the longest the config accepts
LONGEST_WITH_FLEET = LONGEST[:29] + "e"  # 30 characters


def test_the_longest_applications_are_the_longest_the_config_accepts():
    assert len(LONGEST) == 32 and APPLICATION_PATTERN.fullmatch(LONGEST)
    assert len(LONGEST_WITH_FLEET) == 30 and APPLICATION_PATTERN.fullmatch(LONGEST_WITH_FLEET)
    assert not APPLICATION_PATTERN.fullmatch(LONGEST + "e")


@settings(max_examples=200, deadline=None)
@given(application=APPLICATIONS, region=st.sampled_from(sorted(known_regions())))
def test_every_name_names_builds_is_valid_for_its_service(application, region):
    names = Names(application)
    properties = [p for p in dir(Names) if isinstance(getattr(Names, p), property)]
    assert set(properties) == set(NAMES_KINDS), "classify the new Names attribute in NAMES_KINDS"
    for attribute, kind in NAMES_KINDS.items():
        if kind:
            assert name_rules.problems(kind, "name", getattr(names, attribute)) == [], attribute
    for bucket in (names.certificate_store_bucket(region, ACCOUNT), names.crl_bucket(region, ACCOUNT)):
        assert name_rules.s3_bucket_problems(bucket) == [], bucket
        # S3 names are global: region and the whole account id keep them unique (a cut account id would not)
        assert bucket.endswith(f"-{region}-{ACCOUNT}"), bucket
    for function in (names.inspector_function, names.pacer_function, names.provisioning_function):
        assert name_rules.problems("aws:cloudwatch/logGroup:LogGroup", "name", Names.function_log_group(function)) == []
    assert name_rules.problems("aws:cloudwatch/dashboard:Dashboard", "dashboardName", names.dashboard(region)) == []
    assert name_rules.problems("aws:cloudwatch/metricAlarm:MetricAlarm", "name",
                               names.replication_lag_alarm(region)) == []


@settings(max_examples=100, deadline=None)
@given(application=APPLICATIONS, regions=st.lists(st.sampled_from(sorted(known_regions())), min_size=2, max_size=2,
                                                  unique=True))
def test_bucket_names_stay_distinct_per_region_and_kind(application, regions):
    names = Names(application)
    buckets = {f(r, ACCOUNT) for r in regions for f in (names.certificate_store_bucket, names.crl_bucket)}
    assert len(buckets) == 4


def test_a_bucket_name_that_fits_is_unchanged_and_one_that_does_not_is_shortened_keeping_region_and_account():
    assert Names("multi-region-iot").crl_bucket("eu-west-1", ACCOUNT) == f"multi-region-iot-crl-eu-west-1-{ACCOUNT}"
    long = Names(LONGEST).certificate_store_bucket("ap-southeast-2", ACCOUNT)
    assert len(long) <= 63 and long.endswith(f"-certs-ap-southeast-2-{ACCOUNT}") and long.startswith(LONGEST[:10])


@pytest.mark.parametrize("application", ["xn--app", "sthree-app", "amzn-s3-demo-app"])
def test_an_application_s3_would_refuse_as_a_bucket_prefix_is_refused_at_config_time(application):
    values = {"regions": '["eu-west-1", "us-west-2"]', "domainName": "iot.example.com",
              "hostedZoneId": "Z0123456789EXAMPLE", "application": application}
    with pytest.raises(ConfigError, match=rf"application = '{application}'.*S3.*pulumi config set application"):
        parse_settings(values.get, "eu-west-1", config.Path("/p"))


def test_fleet_with_an_application_too_long_for_the_template_name_is_refused_at_config_time():
    values = {"regions": '["eu-west-1", "us-west-2"]', "domainName": "iot.example.com",
              "hostedZoneId": "Z0123456789EXAMPLE", "application": LONGEST, "provisioning": "fleet"}
    with pytest.raises(ConfigError, match=r"application .* 32 characters.*36.*at most 30"):
        parse_settings(values.get, "eu-west-1", config.Path("/p"))


def _key(region: str) -> str:
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/mrk-" + "0" * 32


@pytest.fixture(scope="module")
def long_pki(tmp_path_factory):
    import pki
    from pki.claim import issue_claim

    out = tmp_path_factory.mktemp("pki-long-names")
    pki.init_pki(out, "iot.example.com")
    pki.issue_device_certificates(out, [canary_builders.thing_name(r) for r in ("eu-west-1", "us-west-2")])
    issue_claim(out)
    return out


@pytest.mark.parametrize("application, provisioning", [(LONGEST, "jitr"), (LONGEST, "jitp"),
                                                          (LONGEST_WITH_FLEET, "fleet,jitr")])
def test_every_named_resource_of_both_stacks_is_valid_at_the_longest_application(long_pki, application, provisioning):
    common = {"pkiDir": str(long_pki), "application": application, "provisioning": provisioning}
    primary = run_stack("eu-west-1", config_overrides={**common, "provisioningSigningKeyArn": _key("eu-west-1")})
    secondary = run_stack("us-west-2", config_overrides={**common, "provisioningSigningKeyArn": _key("us-west-2")},
                          stack_outputs={PRIMARY_REF: primary.outputs})
    checked, invalid = 0, []
    for run in (primary, secondary):
        for resource in run.resources:
            for prop in name_rules.named_properties(resource.type):
                value = resource.inputs.get(prop)
                if isinstance(value, str):
                    checked += 1
                    invalid += [f"{resource.type} {value!r}: {p}"
                                for p in name_rules.problems(resource.type, prop, value)]
    assert invalid == [] and checked > 40, "\n".join(invalid)
    for run in (primary, secondary):
        buckets = [r.inputs["bucket"] for r in run.of_type("aws:s3/bucket:Bucket")]
        assert buckets and all(b.endswith(f"-{run.stack}-{ACCOUNT}") for b in buckets), buckets
