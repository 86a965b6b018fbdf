"""Stack configuration: read, validate, and turn into typed settings before any resource exists.

Every error names the config key and says how to set it, and is raised as ``ConfigError``
(a ``pulumi.RunError``, shown without a stack trace) before the program registers anything.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Mapping

import pulumi

import quotas
from contract.names import application_refusal

PROJECT = "multi-region-iot"
DEFAULT_TLS_POLICY = "IoTSecurityPolicy_TLS13_1_3_2022_10"
ROUTING_POLICIES = ("latency", "geolocation")
ARCHITECTURES = ("arm64", "x86_64")
# OFF is not offered: the mandatory policy rule sfn-logging-enabled (policy/rules/workflows.py) refuses it.
LOG_LEVELS = ("ALL", "ERROR", "FATAL")
LOGGING_RULE = "sfn-logging-enabled"
# CloudWatch Logs accepts only these retention periods (days).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)
CONTINENTS = ("AF", "AN", "AS", "EU", "OC", "NA", "SA")
# The canary runs once a minute for at most 30 s: 2 covers a run that overlaps the next. Reserved concurrency comes out
# of the region's pool for every other function, so the config keeps it small.
CANARY_RESERVED_CONCURRENCY = 2
CANARY_RESERVED_CONCURRENCY_MAX = 10

# Every pattern below is used with fullmatch: "$" would also accept a trailing newline.
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_ZONE_ID = re.compile(r"Z[A-Z0-9]{1,31}")
_STACK_NAME = re.compile(r"([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)")
_SNS_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


class ConfigError(pulumi.RunError):
    """Invalid or missing configuration; the message says which key and how to fix it."""


def _set_hint(key: str, example: str, secret: bool = False) -> str:
    flag = " --secret" if secret else ""
    return f"set it with `pulumi config set{flag} {key} {example}`"


@dataclass(frozen=True)
class GeoLocation:
    """A Route 53 geolocation: a continent code, a country code, or "*" for the default."""

    continent: str | None = None
    country: str | None = None
    subdivision: str | None = None

    @property
    def is_default(self) -> bool:
        return self.country == "*"

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in (("continent", self.continent), ("country", self.country),
                                  ("subdivision", self.subdivision)) if v}


@dataclass(frozen=True)
class SharedSettings:
    """Settings every region shares; the primary stack owns them and exports them."""

    regions: tuple[str, ...]
    domain_name: str
    hosted_zone_id: str
    routing_policy: str = "latency"
    geolocation: Mapping[str, GeoLocation] = field(default_factory=dict)

    @property
    def primary_region(self) -> str:
        return self.regions[0]

    def to_exports(self) -> dict[str, Any]:
        return {
            "regions": list(self.regions),
            "primaryRegion": self.primary_region,
            "domainName": self.domain_name,
            "hostedZoneId": self.hosted_zone_id,
            "routingPolicy": self.routing_policy,
            "geolocation": {r: g.as_dict() for r, g in self.geolocation.items()},
        }


@dataclass(frozen=True)
class PemOverrides:
    """Certificate material given as (secret) config values instead of a PKI folder."""

    server_certificate: str
    server_private_key: str
    certificate_chain: str
    ca_certificate: str


@dataclass(frozen=True)
class StackSettings:
    """Everything one regional stack needs, validated."""

    application: str
    region: str
    pki_dir: Path
    tls_security_policy: str = DEFAULT_TLS_POLICY
    lambda_architecture: str = "arm64"
    log_retention_days: int = 30
    state_machine_log_level: str = "ERROR"
    test_resources: bool = True
    alarm_topic_arn: str | None = None  # SNS topic every alarm of the stack notifies (None: alarms only)
    # Primary only: regions whose table replicas are not deletion-protected (the first step of removing a region).
    removable_regions: tuple[str, ...] = ()
    primary_stack: str | None = None  # None: this stack is the primary
    shared: SharedSettings | None = None  # given on the primary; read from it on secondaries
    pem_overrides: PemOverrides | None = None
    provisioning: Provisioning = field(default_factory=lambda: Provisioning())
    provisioning_api: ProvisioningApiSettings | None = None  # None: no provisioning API in this stack
    # The account's raised quotas (same format as quotas/aws-defaults.json); None: AWS's defaults. The pacer spaces
    # throttled calls at these rates (docs/design.md, "Onboarding storms").
    quotas_file: Path | None = None
    # Lambda concurrency reserved for the region's canary (docs/design.md, "Health-checked failover").
    canary_reserved_concurrency: int = CANARY_RESERVED_CONCURRENCY
    # Secondary only: the first step of removing this region (README, "Removing a region"). Nothing may attach the
    # device policy here any more: no DNS records, CA auto-registration off, the JITR rule and fleet template
    # disabled, the replication pipe stopped.
    retiring: bool = False

    @property
    def is_primary(self) -> bool:
        return self.primary_stack is None


@dataclass(frozen=True)
class Provisioning:
    """How devices arrive (config ``provisioning``): exactly one of JITR / JITP for certificates our CA signed at
    the factory, plus fleet provisioning by claim when ``fleet`` is on (docs/design.md, "Provisioning modes")."""

    certificate_path: str = "jitr"  # "jitr" or "jitp": what the CA's auto-registration starts
    fleet: bool = False

    @property
    def jitr(self) -> bool:
        return self.certificate_path == "jitr"

    @property
    def jitp(self) -> bool:
        return self.certificate_path == "jitp"


PROVISIONING_MODES = ("jitr", "jitp", "fleet")

_KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})")
_S3_OBJECT = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(\S+)")


@dataclass(frozen=True)
class ProvisioningApiSettings:
    """The provisioning API (docs/design.md, "The provisioning API"), on when ``provisioningSigningKeyArn`` is set."""

    signing_key_arn: str  # the KMS key (in this stack's region) holding the registered CA's key
    geolocation_bucket: str | None = None
    geolocation_key: str | None = None
    default_region: str | None = None  # None: the primary region

    @property
    def geolocation_object_arn(self) -> str | None:
        return f"arn:aws:s3:::{self.geolocation_bucket}/{self.geolocation_key}" if self.geolocation_bucket else None


def validate_provisioning_api(get: Callable[[str], Any], region: str) -> ProvisioningApiSettings | None:
    """``provisioningSigningKeyArn`` (a KMS key ARN in this stack's region; an alias cannot be narrowed in IAM),
    ``provisioningGeolocationDatabase`` (``s3://bucket/key`` of a MaxMind City database) and
    ``provisioningDefaultRegion`` (for addresses the database does not place)."""
    key_arn = get("provisioningSigningKeyArn")
    others = [k for k in ("provisioningGeolocationDatabase", "provisioningDefaultRegion") if get(k) not in (None, "")]
    if key_arn in (None, ""):
        if others:
            raise ConfigError(f"{', '.join(others)} set without provisioningSigningKeyArn: the provisioning API needs the "
                              "KMS key holding the CA's key; "
                              f"{_set_hint('provisioningSigningKeyArn', f'arn:aws:kms:{region}:123456789012:key/mrk-...')}.")
        return None
    found = _KMS_KEY_ARN.fullmatch(key_arn) if isinstance(key_arn, str) else None
    if found is None or found.group(1) != region:
        raise ConfigError(f"provisioningSigningKeyArn = {key_arn!r} is not a KMS key ARN in {region} (this stack's "
                          "region; a multi-Region key has one ARN per region, an alias cannot be narrowed in IAM); "
                          f"{_set_hint('provisioningSigningKeyArn', f'arn:aws:kms:{region}:123456789012:key/mrk-...')}.")
    bucket = key = None
    database = get("provisioningGeolocationDatabase")
    if database not in (None, ""):
        location = _S3_OBJECT.fullmatch(database) if isinstance(database, str) else None
        if location is None:
            raise ConfigError(f"provisioningGeolocationDatabase = {database!r} is not s3://bucket/key; "
                              f"{_set_hint('provisioningGeolocationDatabase', 's3://my-bucket/GeoLite2-City.mmdb')}.")
        bucket, key = location.group(1), location.group(2)
    default = get("provisioningDefaultRegion")
    default = validate_region(default, "provisioningDefaultRegion") if default not in (None, "") else None
    return ProvisioningApiSettings(key_arn, bucket, key, default)


def validate_provisioning(raw: Any, key: str = "provisioning") -> Provisioning:
    """``jitr`` (default), ``jitp``, ``fleet``, or ``fleet,jitr`` (a string or a YAML list); ``fleet`` alone keeps
    JITR for devices with factory certificates. ``jitr`` and ``jitp`` together are refused: both would act on the
    same auto-registration of the same CA. ``fleet`` and ``jitp`` together are refused too (issue 21): the fleet
    certificate provider signs with the CA that carries the JITP template, so a fleet certificate the hook never
    admitted would be activated by JITP wherever its holder presents it (docs/design.md, "Provisioning modes")."""
    if raw is None or raw == "" or raw == []:
        return Provisioning()
    if isinstance(raw, str) and raw.lstrip().startswith("["):
        raw = _parse_json(raw, key, list, '["fleet", "jitp"]')
    values = raw if isinstance(raw, list) else str(raw).replace("+", ",").split(",")
    modes = [str(v).strip().lower() for v in values if str(v).strip()]
    unknown = [m for m in modes if m not in PROVISIONING_MODES]
    if unknown or not modes:
        raise ConfigError(f"{key} = {raw!r} names {unknown or 'nothing'}; use jitr (the default), jitp, fleet, or fleet "
                          f"with jitr: {_set_hint(key, 'fleet,jitr')}.")
    if len(set(modes)) != len(modes):
        raise ConfigError(f"{key} = {raw!r} names a mode twice; name each once, e.g. {_set_hint(key, 'fleet,jitr')}.")
    if "jitr" in modes and "jitp" in modes:
        raise ConfigError(f"{key} = {raw!r} turns on both jitr and jitp: one CA has one auto-registration, and JITP "
                          "would activate every certificate JITR is meant to inspect first (issuer, validity, revocation "
                          "list, one owner per thing name); pick one: "
                          f"{_set_hint(key, 'jitr')} or {_set_hint(key, 'jitp')}.")
    if "fleet" in modes and "jitp" in modes:
        raise ConfigError(f"{key} = {raw!r} turns on both fleet and jitp: the fleet certificate provider signs with the "
                          "CA that carries the JITP template, so a fleet certificate the pre-provisioning hook never "
                          "admitted would be auto-registered and activated by JITP wherever it is presented; pick one: "
                          f"{_set_hint(key, 'fleet')} (fleet by claim, with JITR for factory certificates) or "
                          f"{_set_hint(key, 'jitp')}, or run them as two deployments.")
    return Provisioning("jitp" if "jitp" in modes else "jitr", "fleet" in modes)


#: CreateProvisioningTemplate's templateName: at most 36 characters (botocore's iot model, shape TemplateName).
PROVISIONING_TEMPLATE_MAX_LENGTH = 36
FLEET_TEMPLATE_SUFFIX = "-fleet"  # the template is `<application>-fleet` (components/fleet_provisioning.py)


def validate_fleet_template_fits(provisioning: Provisioning, application: str) -> Provisioning:
    """With ``fleet``, the provisioning template ``<application>-fleet`` must fit AWS's 36 characters."""
    longest = PROVISIONING_TEMPLATE_MAX_LENGTH - len(FLEET_TEMPLATE_SUFFIX)
    if provisioning.fleet and len(application) > longest:
        raise ConfigError(f"application {application!r} is {len(application)} characters: with provisioning fleet the "
                          f"provisioning template {application + FLEET_TEMPLATE_SUFFIX!r} must fit AWS's "
                          f"{PROVISIONING_TEMPLATE_MAX_LENGTH} characters; use an application of at most {longest} "
                          f"characters ({_set_hint('application', PROJECT)}) or turn fleet off.")
    return provisioning


# --- validation of single values ------------------------------------------------------------

def validate_alarm_topic(value: Any, region: str) -> str | None:
    """An SNS topic ARN in the stack's own region (CloudWatch alarm actions cannot cross regions)."""
    if value in (None, ""):
        return None
    example = f"arn:aws:sns:{region}:123456789012:iot-alarms"
    found = _SNS_TOPIC_ARN.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise ConfigError(f"alarmTopicArn = {value!r} is not an SNS topic ARN; {_set_hint('alarmTopicArn', example)}, "
                          "or remove it to deploy the alarm without notifications.")
    if found.group(1) != region:
        raise ConfigError(f"alarmTopicArn is a topic in {found.group(1)} but this stack deploys to {region}: a "
                          f"CloudWatch alarm can only notify a topic of its own region; {_set_hint('alarmTopicArn', example)}.")
    return value


@functools.lru_cache(maxsize=1)
def known_regions() -> frozenset[str]:
    """The regions of every partition botocore ships (its ``partitions`` data), without the ``*-global``
    pseudo-regions: a name outside it is a typo, or a region newer than the installed botocore."""
    from botocore.loaders import Loader

    partitions = Loader().load_data("partitions")["partitions"]
    return frozenset(r for p in partitions for r in p.get("regions", {}) if not r.endswith("-global"))


@functools.lru_cache(maxsize=1)
def health_check_regions() -> frozenset[str]:
    """The regions a Route 53 CLOUDWATCH_METRIC health check can read an alarm in: the enum of
    ``AlarmIdentifier.Region`` (shape ``CloudWatchRegion``) in botocore's route53 service model."""
    from botocore.loaders import Loader

    return frozenset(Loader().load_service_model("route53", "service-2")["shapes"]["CloudWatchRegion"]["enum"])


def partition_of(region: str) -> str:
    """The AWS partition (aws, aws-cn, aws-us-gov, ...) a known region belongs to, from botocore's partition data
    (the same answer as ``boto3.session.Session().get_partition_for_region``)."""
    from botocore.loaders import Loader

    for partition in Loader().load_data("partitions")["partitions"]:
        if region in partition.get("regions", {}):
            return partition["id"]
    raise ConfigError(f"{region!r} is in no partition botocore knows; upgrade botocore "
                      "(`pip install -U botocore boto3`).")


def validate_one_partition(regions: tuple[str, ...], key: str) -> tuple[str, ...]:
    """Every region of a deployment in one AWS partition: the primary's Route 53 records health-check each region's
    alarm, the DynamoDB global tables replicate between them and every ARN the stacks exchange starts
    ``arn:<partition>:``, none of which crosses a partition boundary (a partition is a separate set of accounts)."""
    partitions: dict[str, list[str]] = {}
    for region in regions:
        partitions.setdefault(partition_of(region), []).append(region)
    if len(partitions) > 1:
        (first, kept), *_ = partitions.items()
        others = {p: r for p, r in partitions.items() if p != first}
        raise ConfigError(f"{key} = {list(regions)} spans AWS partitions {sorted(partitions)} "
                          f"({', '.join(f'{p}: {r}' for p, r in partitions.items())}): accounts, Route 53 health checks, "
                          "DynamoDB global tables and ARNs do not cross a partition, so one deployment lives in one; "
                          f"keep only the {first} regions {kept} in {key} and deploy the "
                          f"{', '.join(f'{p} region(s) {r}' for p, r in others.items())} as a separate deployment "
                          "(its own primary stack and account).")
    (partition,) = partitions or {"aws": []}
    if partition != "aws":
        raise ConfigError(f"{key} = {list(regions)} is in the {partition} partition; this program writes ARNs of the "
                          "aws partition (arn:aws:..., builders/arns.py and the IAM and state machine builders), so "
                          "it deploys to aws-partition regions only: choose regions such as eu-west-1 and us-west-2.")
    return regions


def validate_health_checked_region(region: str, key: str) -> str:
    """A region whose canary alarm Route 53 can health-check (docs/design.md, "Health-checked failover")."""
    if region not in health_check_regions():
        import botocore

        raise ConfigError(f"{key} = {region!r}: Route 53 cannot health-check a CloudWatch alarm there "
                          f"(AlarmIdentifier.Region in botocore {botocore.__version__}'s route53 model does not list "
                          "it), so the region's record could never be taken out of DNS when its canary fails; pick a "
                          "region Route 53 lists, or, if AWS has added it since, upgrade botocore "
                          "(`pip install -U botocore boto3`).")
    return region


def validate_region(value: Any, key: str) -> str:
    if not isinstance(value, str) or value not in known_regions():
        import botocore

        raise ConfigError(f"{key} = {value!r} is not an AWS region that botocore {botocore.__version__} knows "
                          f"(like eu-west-1); {_set_hint(key, 'eu-west-1')}. If AWS opened the region after this "
                          "botocore was released, upgrade it (`pip install -U botocore boto3`).")
    return value


def validate_hostname(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} is not set: it is the custom domain devices connect to; "
                          f"{_set_hint(key, 'iot.example.com')}.")
    name = value.rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_HOST_LABEL.fullmatch(lab) for lab in labels) \
            or labels[-1].isdigit():
        raise ConfigError(f"{key} = {value!r} is not a hostname (letters, digits and hyphens in "
                          f"dot-separated labels, like iot.example.com); {_set_hint(key, 'iot.example.com')}.")
    return name


def validate_hosted_zone_id(value: Any, key: str) -> str:
    if not value:
        raise ConfigError(f"{key} is not set: it is the id of the Route 53 public hosted zone that "
                          f"serves the domain; {_set_hint(key, 'Z0123456789ABCDEFGHIJ')} "
                          "(find it with `aws route53 list-hosted-zones`).")
    if not isinstance(value, str) or not _ZONE_ID.fullmatch(value.removeprefix("/hostedzone/")):
        raise ConfigError(f"{key} = {value!r} is not a Route 53 hosted zone id (Z followed by "
                          f"letters and digits); {_set_hint(key, 'Z0123456789ABCDEFGHIJ')}.")
    return value.removeprefix("/hostedzone/")


def validate_choice(value: Any, key: str, choices: tuple, default: Any) -> Any:
    if value is None or value == "":
        return default
    if value not in choices:
        raise ConfigError(f"{key} = {value!r} is not one of {', '.join(map(str, choices))}; "
                          f"{_set_hint(key, str(choices[0]))}.")
    return value


def validate_log_level(value: Any, key: str = "stateMachineLogLevel") -> str:
    """ALL, ERROR (default) or FATAL; OFF gets its own message because the policy pack refuses it."""
    if isinstance(value, str) and value.upper() == "OFF":
        raise ConfigError(f"{key} = {value!r} turns Step Functions execution logging off, which the mandatory policy "
                          f"rule {LOGGING_RULE} refuses; use ERROR (the default), ALL or FATAL: "
                          f"{_set_hint(key, 'ERROR')}.")
    return validate_choice(value, key, LOG_LEVELS, "ERROR")


def _parse_json(raw: Any, key: str, kind: type, example: str) -> Any:
    if raw is None or isinstance(raw, kind):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, kind):
        raise ConfigError(f"{key} must be a {kind.__name__} in YAML or JSON, like {example}; got {raw!r}.")
    return value


def validate_regions(raw: Any, key: str, own_region: str) -> tuple[str, ...]:
    if raw is None or raw == "":
        raise ConfigError(f"{key} is not set: the primary stack lists every region, itself first; "
                          f"set it with `pulumi config set --path '{key}[0]' {own_region}` and "
                          f"`pulumi config set --path '{key}[1]' us-west-2`.")
    regions = _parse_json(raw, key, list, '["eu-west-1", "us-west-2"]')
    regions = tuple(validate_health_checked_region(validate_region(r, f"{key}[{i}]"), f"{key}[{i}]")
                    for i, r in enumerate(regions))
    if len(set(regions)) != len(regions):
        raise ConfigError(f"{key} lists a region twice: {list(regions)}; list each region once.")
    validate_one_partition(regions, key)
    if own_region not in regions:
        raise ConfigError(f"{key} = {list(regions)} does not include this stack's region "
                          f"{own_region} (aws:region); add it to {key}.")
    if regions[0] != own_region:
        raise ConfigError(f"{key} must start with the primary stack's own region {own_region}, "
                          f"got {list(regions)}; move {own_region} to the front.")
    return regions


def validate_geolocation(raw: Any, key: str, regions: tuple[str, ...]) -> dict[str, GeoLocation]:
    example = '{"eu-west-1": {"country": "*"}, "us-west-2": {"continent": "NA"}}'
    mapping = _parse_json(raw, key, dict, example)
    if not mapping:
        raise ConfigError(f"{key} is not set but routingPolicy is geolocation: map every region to "
                          f"a location, one of them the default (country \"*\"), e.g. {example}.")
    result: dict[str, GeoLocation] = {}
    for region in regions:
        loc = mapping.get(region)
        if not isinstance(loc, dict):
            raise ConfigError(f"{key} has no location for region {region}; add one, e.g. "
                              f'{{"continent": "EU"}}.')
        unknown = set(loc) - {"continent", "country", "subdivision"}
        if unknown:
            raise ConfigError(f"{key}.{region} has unknown field(s) {sorted(unknown)}; use continent, "
                              "country or subdivision.")
        geo = GeoLocation(loc.get("continent"), loc.get("country"), loc.get("subdivision"))
        if bool(geo.continent) == bool(geo.country):
            raise ConfigError(f"{key}.{region} must give exactly one of continent or country "
                              f"(\"*\" for the default), got {loc}.")
        if geo.continent and geo.continent not in CONTINENTS:
            raise ConfigError(f"{key}.{region}.continent = {geo.continent!r} is not one of "
                              f"{', '.join(CONTINENTS)}.")
        if geo.country and geo.country != "*" and not re.fullmatch(r"[A-Z]{2}|UA", geo.country):
            raise ConfigError(f"{key}.{region}.country = {geo.country!r} is not a two-letter ISO "
                              "country code or \"*\".")
        if geo.subdivision and geo.country in (None, "*"):
            raise ConfigError(f"{key}.{region}.subdivision needs a country.")
        result[region] = geo
    extra = set(mapping) - set(regions)
    if extra:
        raise ConfigError(f"{key} names region(s) {sorted(extra)} that are not in regions; remove "
                          "them or add them to regions.")
    defaults = [r for r, g in result.items() if g.is_default]
    if len(defaults) != 1:
        raise ConfigError(f"{key} must mark exactly one region as the default location "
                          f"(country \"*\"), found {defaults or 'none'}; without a default, devices "
                          "outside every listed location get no answer.")
    if len({tuple(sorted(g.as_dict().items())) for g in result.values()}) != len(result):
        raise ConfigError(f"{key} gives two regions the same location; each needs its own.")
    return result


def validate_removable_regions(raw: Any, key: str, own_region: str) -> tuple[str, ...]:
    """Regions whose replicas of the global tables may be deleted: deletion protection off for them only.

    Any known region may be named, in ``regions`` or no longer (the last step of a removal); never the primary's
    own region, whose tables carry the data of every region."""
    if raw is None or raw == "" or raw == []:
        return ()
    regions = _parse_json(raw, key, list, '["us-west-2"]')
    regions = tuple(validate_region(r, f"{key}[{i}]") for i, r in enumerate(regions))
    if len(set(regions)) != len(regions):
        raise ConfigError(f"{key} lists a region twice: {list(regions)}; list each region once.")
    if own_region in regions:
        raise ConfigError(f"{key} names the primary region {own_region}: the primary's tables stay deletion-protected "
                          "(they hold every region's data); turn their protection off deliberately with "
                          "`aws dynamodb update-table --no-deletion-protection-enabled` before destroying the primary.")
    return regions


def _bool(value: Any, key: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ConfigError(f"{key} = {value!r} must be true or false; {_set_hint(key, 'false')}.")


def validate_canary_concurrency(value: Any, key: str = "canaryReservedConcurrency") -> int:
    """A small whole number of concurrent executions kept for the canary alone (1 to 10; default 2)."""
    if value is None or value == "":
        return CANARY_RESERVED_CONCURRENCY
    try:
        number = int(value) if not isinstance(value, (bool, float)) and str(value).strip().isdigit() else None
    except (TypeError, ValueError):
        number = None
    if number is None or not 1 <= number <= CANARY_RESERVED_CONCURRENCY_MAX:
        raise ConfigError(f"{key} = {value!r} must be a whole number from 1 to {CANARY_RESERVED_CONCURRENCY_MAX} "
                          "(concurrent executions kept for the canary alone, taken from the region's pool for every "
                          f"other function); {_set_hint(key, str(CANARY_RESERVED_CONCURRENCY))}.")
    return number


def _int_choice(value: Any, key: str, choices: tuple[int, ...], default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number not in choices:
        raise ConfigError(f"{key} = {value!r} is not a retention CloudWatch Logs accepts; use one of "
                          f"{', '.join(map(str, choices))}.")
    return number


def parse_shared(get: Callable[[str], Any], region: str) -> SharedSettings:
    """Validate the settings only the primary stack carries."""
    regions = validate_regions(get("regions"), "regions", region)
    domain = validate_hostname(get("domainName"), "domainName")
    zone = validate_hosted_zone_id(get("hostedZoneId"), "hostedZoneId")
    routing = validate_choice(get("routingPolicy"), "routingPolicy", ROUTING_POLICIES, "latency")
    geolocation = validate_geolocation(get("geolocation"), "geolocation", regions) \
        if routing == "geolocation" else {}
    return SharedSettings(regions, domain, zone, routing, geolocation)


def shared_from_exports(outputs: Mapping[str, Any], own_region: str, primary_stack: str) -> SharedSettings:
    """Rebuild the shared settings from the primary stack's outputs, checking them again."""
    if outputs and "primaryStack" in outputs:
        raise ConfigError(f"primaryStack = {primary_stack!r} names a secondary stack (it exports primaryStack "
                          f"{outputs['primaryStack']!r}): expected this project's primary stack, "
                          f"`pulumi config set primaryStack {outputs['primaryStack']}`.")
    if not outputs or "regions" not in outputs:
        raise ConfigError(f"the primary stack {primary_stack} has no outputs (or not this program's): expected the "
                          f"fully qualified name (org/{PROJECT}/<stack>) of this project's primary stack, deployed; "
                          "deploy it first with `pulumi up --stack <primary>`, and check primaryStack "
                          "(`pulumi stack ls --all` lists the stacks).")
    regions = tuple(outputs["regions"])
    if own_region not in regions:
        raise ConfigError(f"this stack's region {own_region} is not in the primary stack's regions "
                          f"{list(regions)}: add it to `regions` in the primary stack's config and run "
                          "`pulumi up` on the primary first (it creates this region's table replicas).")
    geo = {r: GeoLocation(**g) for r, g in (outputs.get("geolocation") or {}).items()}
    return SharedSettings(regions, outputs["domainName"], outputs["hostedZoneId"],
                          outputs.get("routingPolicy", "latency"), geo)


def parse_settings(get: Callable[[str], Any], region: Any, project_dir: Path) -> StackSettings:
    """Validate one stack's config. ``get(key)`` returns the raw value or None."""
    region = validate_health_checked_region(validate_region(region, "aws:region"), "aws:region")
    application = get("application") or PROJECT
    why = application_refusal(application)  # the rule ops applies too (contract/names.py)
    if why:
        raise ConfigError(f"application = {application!r} {why}; {_set_hint('application', PROJECT)}.")
    primary_stack = get("primaryStack") or None
    if primary_stack is not None:
        parts = _STACK_NAME.fullmatch(primary_stack) if isinstance(primary_stack, str) else None
        if parts is None:
            raise ConfigError(f"primaryStack = {primary_stack!r} must be a fully qualified stack name "
                              f"org/project/stack; {_set_hint('primaryStack', 'my-org/multi-region-iot/eu-west-1')}.")
        if parts.group(2) != PROJECT:
            raise ConfigError(f"primaryStack = {primary_stack!r} names a stack of project {parts.group(2)!r}; expected "
                              f"a stack of this project, {parts.group(1)}/{PROJECT}/<primary stack>; "
                              f"{_set_hint('primaryStack', f'{parts.group(1)}/{PROJECT}/{parts.group(3)}')}.")
        for key in ("regions", "domainName", "hostedZoneId", "routingPolicy", "geolocation", "removableRegions"):
            if get(key) not in (None, ""):
                raise ConfigError(f"{key} is set on a secondary stack (primaryStack is set); shared "
                                  f"settings live on the primary only: `pulumi config rm {key}`.")
        shared = None
    else:
        shared = parse_shared(get, region)

    tls = get("tlsSecurityPolicy") or DEFAULT_TLS_POLICY
    if not re.fullmatch(r"IoTSecurityPolicy_TLS13_1_[23]_\d{4}_\d{2}|IoTSecurityPolicy_TLS12_1_[02]_\d{4}_\d{2}(_PQ)?", tls):
        raise ConfigError(f"tlsSecurityPolicy = {tls!r} is not an AWS IoT security policy name (note "
                          f"the capital T in IoT); {_set_hint('tlsSecurityPolicy', DEFAULT_TLS_POLICY)}.")

    pki_dir = Path(get("pkiDir") or "pki-out")
    if not pki_dir.is_absolute():
        pki_dir = project_dir / pki_dir

    pem_values = {k: get(k) for k in ("serverCertificate", "serverPrivateKey", "certificateChain", "caCertificate")}
    given = [k for k, v in pem_values.items() if v]
    overrides = None
    if given:
        missing = [k for k, v in pem_values.items() if not v]
        if missing:
            raise ConfigError(f"certificate material is partly given as config ({', '.join(given)}) but "
                              f"{', '.join(missing)} is missing; give all four with `pulumi config set "
                              "--secret <key> -- \"$(cat FILE)\"`, or none and use pkiDir.")
        for key, value in pem_values.items():
            if "-----BEGIN" not in value:
                raise ConfigError(f"{key} does not contain a PEM block (-----BEGIN ...); set it from "
                                  f"the file with `pulumi config set --secret {key} -- \"$(cat FILE)\"`.")
        overrides = PemOverrides(pem_values["serverCertificate"], pem_values["serverPrivateKey"],
                                 pem_values["certificateChain"], pem_values["caCertificate"])

    quotas_file = validate_quotas_file(get("quotasFile"), project_dir)

    return StackSettings(
        application=application,
        region=region,
        pki_dir=pki_dir,
        tls_security_policy=tls,
        lambda_architecture=validate_choice(get("lambdaArchitecture"), "lambdaArchitecture", ARCHITECTURES, "arm64"),
        log_retention_days=_int_choice(get("logRetentionDays"), "logRetentionDays", RETENTION_DAYS, 30),
        state_machine_log_level=validate_log_level(get("stateMachineLogLevel")),
        test_resources=_bool(get("testResources"), "testResources", True),
        alarm_topic_arn=validate_alarm_topic(get("alarmTopicArn"), region),
        removable_regions=validate_removable_regions(get("removableRegions"), "removableRegions", region)
        if primary_stack is None else (),
        primary_stack=primary_stack,
        shared=shared,
        pem_overrides=overrides,
        provisioning=validate_fleet_template_fits(validate_provisioning(get("provisioning")), application),
        provisioning_api=validate_provisioning_api(get, region),
        quotas_file=quotas_file,
        canary_reserved_concurrency=validate_canary_concurrency(get("canaryReservedConcurrency")),
        retiring=validate_retiring(get("retiring"), primary_stack, region),
    )


def validate_retiring(value: Any, primary_stack: str | None, region: str) -> bool:
    """``retiring``: a secondary on its way out (README, "Removing a region"); the primary owns the tables and goes
    last, so it cannot retire."""
    retiring = _bool(value, "retiring", False)
    if retiring and primary_stack is None:
        raise ConfigError(f"retiring = true on the primary stack ({region}): the primary owns the global tables and is "
                          "removed last (`pulumi destroy`, after every secondary); retire secondaries only: "
                          "`pulumi config rm retiring`.")
    return retiring


def validate_quotas_file(value: Any, project_dir: Path) -> Path | None:
    """``quotasFile``: a JSON file of the account's quotas (relative to the project), read now so that a bad one
    fails the preview, not the pacer at 3 a.m."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ConfigError(f"quotasFile = {value!r} must be a path to a JSON file; "
                          f"{_set_hint('quotasFile', 'quotas/my-account.json')}.")
    path = Path(value)
    if not path.is_absolute():
        path = project_dir / path
    try:
        quotas.load(path)
    except quotas.QuotaFileError as error:
        raise ConfigError(f"quotasFile: {error}; fix the file (format: quotas/aws-defaults.json, entries replace the "
                          "defaults for their service/operation) or `pulumi config rm quotasFile` for AWS's defaults."
                          ) from None
    return path


#: Every ``multi-region-iot:<key>`` the program reads (``parse_settings`` reads no other: ``parse_config`` checks).
CONFIG_KEYS = (
    "application", "primaryStack", "regions", "domainName", "hostedZoneId", "routingPolicy", "geolocation",
    "removableRegions", "tlsSecurityPolicy", "pkiDir", "serverCertificate", "serverPrivateKey", "certificateChain",
    "caCertificate", "quotasFile", "lambdaArchitecture", "logRetentionDays", "stateMachineLogLevel", "testResources",
    "alarmTopicArn", "provisioning", "provisioningSigningKeyArn", "provisioningGeolocationDatabase",
    "provisioningDefaultRegion", "canaryReservedConcurrency", "retiring",
)
REGION_KEY = "aws:region"


def qualified(key: str) -> str:
    """A key as ``pulumi config`` names it: ``aws:region`` stays, ``domainName`` is ``multi-region-iot:domainName``."""
    return key if ":" in key else f"{PROJECT}:{key}"


def parse_config(raw: Mapping[str, Any], project_dir: Path) -> StackSettings:
    """The one parser of a stack's configuration, whatever its source: the program's Pulumi runtime
    (``read_settings``) or the local cloud's ``Pulumi.<stack>.yaml`` plus overrides
    (``localcloud.mockrun.stack_settings``). ``raw`` maps keys as ``pulumi config`` names them (``aws:region``,
    ``multi-region-iot:<key>``; a key without a namespace is this project's) to values as the Pulumi CLI hands them
    to the program (strings, lists and objects as JSON) or as the YAML holds them (lists, mappings, booleans,
    numbers): either gives the same settings, and the same ``ConfigError``."""
    values = {qualified(k): v for k, v in raw.items()}

    def get(key: str) -> Any:
        if key not in CONFIG_KEYS:  # a key read here but missing from CONFIG_KEYS would be lost by read_settings
            raise AssertionError(f"config key {key!r} is not in CONFIG_KEYS")
        return values.get(qualified(key))

    return parse_settings(get, values.get(REGION_KEY), project_dir)


def read_settings(project_dir: Path) -> StackSettings:
    """This stack's settings, from the config the Pulumi CLI hands the program (``pulumi config set``)."""
    from pulumi.runtime.config import get_config

    # Raw reads rather than pulumi.Config().get(), which warns on every secret key: secret values (certificate
    # material) are wrapped as secrets where they are used (components/endpoint.py).
    keys = (REGION_KEY, *map(qualified, CONFIG_KEYS))
    return parse_config({k: v for k in keys if (v := get_config(k)) is not None}, project_dir)
