"""What each AWS service accepts as a name, read from botocore's service models (length and pattern of the create
call's name member), plus the few limits the models leave to their documentation text:

* S3 bucket names: botocore's ``BucketName`` has no constraints and points to the S3 User Guide's "General purpose
  bucket naming rules" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html), coded in
  ``s3_bucket_problems``;
* Lambda function names: the model's 140 characters cover a full ARN; the member's documentation says how long a
  bare name may be, and the number is read from that text;
* SQS queue names: the model says ``String``; the member's documentation gives the length and the characters, and
  both are read from that text.

``problems(resource_type, name)`` lists what is wrong with a physical name for its service (empty: valid).
"""
from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from botocore.loaders import Loader


@dataclass(frozen=True)
class Rule:
    minimum: int
    maximum: int
    pattern: str | None  # fullmatch; None: any characters
    source: str


@functools.cache
def _model(service: str) -> dict:
    return Loader().load_service_model(service, "service-2")


def _member(service: str, operation: str, member: str) -> tuple[dict, dict]:
    model = _model(service)
    members = model["shapes"][model["operations"][operation]["input"]["shape"]]["members"]
    return members[member], model["shapes"][members[member]["shape"]]


def _shape(service: str, shape: str) -> Rule:
    found = _model(service)["shapes"][shape]
    return Rule(found.get("min", 1), found["max"], found.get("pattern"), f"botocore {service} shape {shape}")


def _create(service: str, operation: str, member: str) -> Rule:
    _, shape = _member(service, operation, member)
    return Rule(shape.get("min", 1), shape["max"], shape.get("pattern"), f"botocore {service} {operation}.{member}")


def _lambda_function_name() -> Rule:
    documentation = _member("lambda", "CreateFunction", "FunctionName")[0]["documentation"]
    found = re.search(r"only the function name, it is limited to (\d+) characters", documentation)
    assert found, "botocore's lambda CreateFunction.FunctionName no longer documents the bare name's length"
    return Rule(1, int(found.group(1)), r"[a-zA-Z0-9-_]+",
                "botocore lambda CreateFunction.FunctionName (documentation)")


def _sqs_queue_name() -> Rule:
    documentation = _member("sqs", "CreateQueue", "QueueName")[0]["documentation"]
    found = re.search(r"up to (\d+) characters", documentation)
    assert found and "alphanumeric characters, hyphens" in documentation and "underscores" in documentation, \
        "botocore's sqs CreateQueue.QueueName no longer documents the limits"
    return Rule(1, int(found.group(1)), r"[A-Za-z0-9_-]+", "botocore sqs CreateQueue.QueueName (documentation)")


def _dashboard_name() -> Rule:
    documentation = _member("cloudwatch", "PutDashboard", "DashboardName")[0]["documentation"]
    found = re.search(r"maximum length is (\d+)", documentation)
    assert found and 'valid characters are A-Z, a-z, 0-9, "-", and "_"' in documentation, \
        "botocore's cloudwatch PutDashboard.DashboardName no longer documents the limits"
    return Rule(1, int(found.group(1)), r"[A-Za-z0-9_-]+", "botocore cloudwatch PutDashboard.DashboardName (documentation)")


@functools.lru_cache(maxsize=1)
def rules() -> dict[tuple[str, str], Rule]:
    """(Pulumi resource type, input property) -> the rule its value must satisfy."""
    return {
        ("aws:lambda/function:Function", "name"): _lambda_function_name(),
        ("aws:sqs/queue:Queue", "name"): _sqs_queue_name(),
        ("aws:dynamodb/table:Table", "name"): _shape("dynamodb", "TableName"),
        ("aws:sfn/stateMachine:StateMachine", "name"): _create("stepfunctions", "CreateStateMachine", "name"),
        ("aws:cloudwatch/eventRule:EventRule", "name"): _create("events", "PutRule", "Name"),
        ("aws:cloudwatch/eventBus:EventBus", "name"): _create("events", "CreateEventBus", "Name"),
        ("aws:cloudwatch/logGroup:LogGroup", "name"): _create("logs", "CreateLogGroup", "logGroupName"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "name"): _create("cloudwatch", "PutMetricAlarm", "AlarmName"),
        ("aws:cloudwatch/dashboard:Dashboard", "dashboardName"): _dashboard_name(),
        ("aws:pipes/pipe:Pipe", "name"): _create("pipes", "CreatePipe", "Name"),
        ("aws:iot/topicRule:TopicRule", "name"): _create("iot", "CreateTopicRule", "ruleName"),
        ("aws:iot/policy:Policy", "name"): _create("iot", "CreatePolicy", "policyName"),
        ("aws:iot/thing:Thing", "name"): _create("iot", "CreateThing", "thingName"),
        ("aws:iot/domainConfiguration:DomainConfiguration", "name"):
            _create("iot", "CreateDomainConfiguration", "domainConfigurationName"),
        ("aws:iot/provisioningTemplate:ProvisioningTemplate", "name"):
            _create("iot", "CreateProvisioningTemplate", "templateName"),
        ("aws-native:iot:CertificateProvider", "certificateProviderName"):
            _create("iot", "CreateCertificateProvider", "certificateProviderName"),
        ("aws:secretsmanager/secret:Secret", "name"): _create("secretsmanager", "CreateSecret", "Name"),
        ("aws:iam/role:Role", "name"): _create("iam", "CreateRole", "RoleName"),
        ("aws:iam/rolePolicy:RolePolicy", "name"): _create("iam", "PutRolePolicy", "PolicyName"),
    }


S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def s3_bucket_problems(name: str) -> list[str]:
    """The S3 User Guide's general purpose bucket naming rules (see the module docstring)."""
    found = []
    if not 3 <= len(name) <= 63:
        found.append(f"{len(name)} characters (3 to 63)")
    if not re.fullmatch(r"[a-z0-9.-]*", name):
        found.append("a character other than lower-case letters, digits, '.' and '-'")
    if not re.fullmatch(r"[a-z0-9](.*[a-z0-9])?", name):
        found.append("does not begin and end with a letter or digit")
    if ".." in name:
        found.append("two adjacent periods")
    try:
        ipaddress.IPv4Address(name)
        found.append("formatted as an IP address")
    except ValueError:
        pass
    found += [f"reserved prefix {p}" for p in S3_RESERVED_PREFIXES if name.startswith(p)]
    found += [f"reserved suffix {s}" for s in S3_RESERVED_SUFFIXES if name.endswith(s)]
    return found


def problems(resource_type: str, prop: str, name: str) -> list[str]:
    if resource_type.startswith("aws:s3/bucket") and prop == "bucket":
        return s3_bucket_problems(name)
    rule = rules().get((resource_type, prop))
    if rule is None:
        return []
    found = []
    if not rule.minimum <= len(name) <= rule.maximum:
        found.append(f"{len(name)} characters ({rule.minimum} to {rule.maximum}, {rule.source})")
    if rule.pattern and not re.fullmatch(rule.pattern.removeprefix("^").removesuffix("$"), name):
        found.append(f"does not match {rule.pattern} ({rule.source})")
    if resource_type == "aws:secretsmanager/secret:Secret" and re.search(r"-[^-]{6}$", name):
        # CreateSecret.Name's documentation: "Do not end your secret name with a hyphen followed by six characters"
        found.append("ends with a hyphen and six characters (Secrets Manager's random suffix)")
    return found


def named_properties(resource_type: str) -> tuple[str, ...]:
    """The input properties of ``resource_type`` that are physical names the program chooses."""
    if resource_type in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        return ("bucket",)
    return tuple(prop for typ, prop in rules() if typ == resource_type)
