"""Pulumi mocks that create every resource of the real program in moto (the local cloud's deployer).

``Deployer.create`` receives one registered resource (type token, logical name, engine camelCase
inputs) and makes it with boto3 in the resource's region: the stack's ``aws:region``, or the
resource's own ``region`` input. It answers with the real ids and ARNs moto assigned plus the
output properties the program reads (a table's ``streamArn`` and ``replicas[].streamArn``, an ACM
certificate's ``domainValidationOptions``, ...). Tables with replicas become global tables in the
replication engine, so each replica has its own stream ARN.

A resource type without a creator is an error naming the type (``UnsupportedResource``): a deploy
must never pretend something exists that the local cloud did not make.

Creation runs under one lock: the Pulumi SDK registers resources from worker threads and moto's
backends are plain dicts.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pulumi

from localcloud import fleet_resources
from localcloud.fixes import lambda_inprocess
from localcloud.mockrun import CloudMocks, DEFAULT_ACCOUNT, session_context

PROJECT_DIR = Path(__file__).resolve().parent.parent
FUNCTIONS_PACKAGE = "functions"


DYNAMIC_TYPE = "pulumi-python:dynamic"  # every Python dynamic resource type starts so


class UnsupportedResource(Exception):
    """The program declared a resource type the local cloud cannot create."""


@dataclass
class Created:
    """One resource the deployer made: its type, logical name, region and physical id."""

    type: str
    name: str
    region: str
    id: str


def _hex(*parts: str, n: int = 7) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


@functools.lru_cache(maxsize=1)
def _aws_managed_policies() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def _load_aws_managed_policy(account_id: str, arn: str) -> None:
    """moto knows AWS managed policies only with MOTO_IAM_LOAD_MANAGED_POLICIES (all of them, slowly): load the one
    an attachment names from moto's own copy of AWS's documents, so attaching it works as in AWS."""
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[account_id]["aws"]
    name = arn.rsplit("/", 1)[-1]
    if not arn.startswith("arn:aws:iam::aws:policy/") or arn in backend.managed_policies \
            or name not in _aws_managed_policies():
        return
    policy = AWSManagedPolicy.from_data(name, account_id, backend.region_name, _aws_managed_policies()[name])
    backend.managed_policies[policy.arn] = policy


def _autoname(logical: str, *, limit: int = 64) -> str:
    """Pulumi's auto-naming shape: ``<logical name>-<7 hex>`` (deterministic here)."""
    name = f"{logical}-{_hex(logical)}"
    return name[-limit:] if len(name) > limit else name


def _stub_zip() -> bytes:
    """moto stores the code; the handler itself runs in-process (``lambda_inprocess``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "served in-process by localcloud.fixes.lambda_inprocess\n")
    return buffer.getvalue()


def _pascal(value: Any) -> Any:
    """camelCase keys (engine names) to the PascalCase members of JSON-protocol APIs."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _ints(value: Any) -> Any:
    """Pulumi numbers arrive as floats; AWS integer members want ints."""
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# SQS queue: the pulumi-aws input -> the queue attribute CreateQueue takes (all strings).
SQS_QUEUE_ATTRIBUTES = {
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "fifoQueue": "FifoQueue",
    "contentBasedDeduplication": "ContentBasedDeduplication",
    "policy": "Policy",
    "redrivePolicy": "RedrivePolicy",
    "redriveAllowPolicy": "RedriveAllowPolicy",
}


def _queue_attribute(value: Any) -> str:
    """SQS attributes are strings: booleans lower-case, Pulumi's float numbers as integers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(_ints(value))


# IoT topic rule: the pulumi-aws input (list per action kind) -> the API's action member name.
TOPIC_RULE_ACTIONS = {
    "stepFunctions": "stepFunctions",
    "dynamodbv2s": "dynamoDBv2",
    "dynamodbs": "dynamoDB",
    "lambdas": "lambda",
    "cloudwatchLogs": "cloudwatchLogs",
    "sqs": "sqs",
    "sns": "sns",
    "republishes": "republish",
    "s3": "s3",
}


def _topic_rule_action(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    api = TOPIC_RULE_ACTIONS.get(key)
    if api is None:
        raise UnsupportedResource(f"aws:iot/topicRule:TopicRule action {key!r} is not known to the local cloud; "
                                  f"known: {sorted(TOPIC_RULE_ACTIONS)}")
    return {api: _ints(spec)}


@dataclass
class Deployer(CloudMocks):
    """``CloudMocks`` whose ``create`` makes each resource in moto (inside an active ``mock_aws``).

    ``on_global_table(name, home_region, replica_regions)`` wires a table with replicas into the
    global-table engine and must create the replicas (``LocalCloud`` passes the engine's
    ``register``). ``functions_package`` names the importable package holding the Lambda
    handlers (``functions/``), so ``certificate_inspector.handler.handler`` runs as
    ``functions.certificate_inspector.handler:handler`` in-process.
    """

    on_global_table: Callable[[str, str, list[str]], Any] | None = None
    functions_package: str = FUNCTIONS_PACKAGE
    account: str = DEFAULT_ACCOUNT
    created: list[Created] = field(default_factory=list)
    _endpoints: dict[str, str] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        CloudMocks.__init__(self, {}, account_id=self.account)
        self.creators: dict[str, Callable[[pulumi.runtime.MockResourceArgs, dict[str, Any], str],
                                          tuple[str, dict[str, Any]]]] = {
            "aws:acm/certificate:Certificate": self._acm_certificate,
            "aws:apigatewayv2/api:Api": self._http_api,
            "aws:apigatewayv2/apiMapping:ApiMapping": self._api_mapping,
            "aws:apigatewayv2/domainName:DomainName": self._api_domain_name,
            "aws:apigatewayv2/integration:Integration": self._api_integration,
            "aws:apigatewayv2/route:Route": self._api_route,
            "aws:apigatewayv2/stage:Stage": self._api_stage,
            "aws:lambda/permission:Permission": self._lambda_permission,
            "aws:acm/certificateValidation:CertificateValidation": self._acm_validation,
            "aws:cloudwatch/eventBus:EventBus": self._event_bus,
            "aws:cloudwatch/eventRule:EventRule": self._event_rule,
            "aws:cloudwatch/eventTarget:EventTarget": self._event_target,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:cloudwatch/metricAlarm:MetricAlarm": self._metric_alarm,
            "aws:dynamodb/table:Table": self._table,
            "aws:iam/instanceProfile:InstanceProfile": self._instance_profile,
            "aws:iam/role:Role": self._role,
            "aws:iam/rolePolicy:RolePolicy": self._role_policy,
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment": self._role_policy_attachment,
            "aws:iot/caCertificate:CaCertificate": self._ca_certificate,
            "aws:iot/domainConfiguration:DomainConfiguration": self._domain_configuration,
            "aws:iot/eventConfigurations:EventConfigurations": self._event_configurations,
            "aws:iot/policy:Policy": self._iot_policy,
            "aws:iot/certificate:Certificate": self._iot_certificate,
            "aws:iot/thing:Thing": self._iot_thing,
            "aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment": self._iot_thing_principal,
            "aws:iot/policyAttachment:PolicyAttachment": self._iot_policy_attachment,
            "aws:kms/key:Key": self._kms_key,
            "aws:secretsmanager/secret:Secret": self._secret,
            "aws:secretsmanager/secretVersion:SecretVersion": self._secret_version,
            "aws:secretsmanager/secretPolicy:SecretPolicy": self._secret_policy,
            "aws:route53/healthCheck:HealthCheck": self._health_check,
            "aws:iot/topicRule:TopicRule": self._topic_rule,
            "aws:lambda/function:Function": self._function,
            "aws:pipes/pipe:Pipe": self._pipe,
            "aws:route53/record:Record": self._record,
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:s3/bucketObjectv2:BucketObjectv2": self._bucket_object,
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls": self._bucket_ownership,
            "aws:s3/bucketPolicy:BucketPolicy": self._bucket_policy,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": self._bucket_public_access,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
                self._bucket_encryption,
            "aws:sfn/stateMachine:StateMachine": self._state_machine,
            "aws:sqs/queue:Queue": self._queue,
            "aws:sqs/queuePolicy:QueuePolicy": self._queue_policy,
        }
        # Fleet provisioning (localcloud/fleet_resources.py); the aws-native provider itself needs nothing.
        for typ, creator in (("aws:iot/certificate:Certificate", fleet_resources.certificate),
                             ("aws:iot/policyAttachment:PolicyAttachment", fleet_resources.policy_attachment),
                             ("aws:iot/provisioningTemplate:ProvisioningTemplate", fleet_resources.provisioning_template),
                             ("aws-native:iot:CertificateProvider", fleet_resources.aws_native_certificate_provider),
                             (f"{DYNAMIC_TYPE}/fleet:CertificateProviderGuard",
                              fleet_resources.certificate_provider_guard)):
            self.creators[typ] = lambda args, inputs, region, c=creator: c(self.account_id, region, args.name, inputs)
        self.creators["pulumi:providers:aws-native"] = lambda args, inputs, region: (args.name, dict(inputs))

    # -- CloudMocks ------------------------------------------------------------------------
    def create(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        creator = self.creators.get(args.typ) or (self._dynamic if args.typ.startswith(DYNAMIC_TYPE) else None)
        if creator is None:
            raise UnsupportedResource(
                f"the local cloud cannot create resources of type {args.typ} (resource {args.name!r}); "
                f"add a creator for it to localcloud/deployer.py (known types: {len(self.creators)})")
        inputs = dict(args.inputs)
        region = inputs.get("region") or self.region
        with self._lock:
            id_, state = creator(args, inputs, region)
        self.created.append(Created(args.typ, args.name, region, id_))
        return id_, state

    def invoke(self, token: str, args: dict) -> dict:
        region = args.get("region") or self.region
        with self._lock:
            if token == "aws:index/getCallerIdentity:getCallerIdentity":
                identity = self._client("sts", region).get_caller_identity()
                return {"accountId": identity["Account"], "arn": identity["Arn"], "userId": identity["UserId"],
                        "id": identity["Account"]}
            if token == "aws:iam/getSessionContext:getSessionContext":
                return session_context(args["arn"])
            if token == "aws:iot/getEndpoint:getEndpoint":
                # moto invents a new host per call; AWS answers the same one: keep the first.
                if region not in self._endpoints:
                    self._endpoints[region] = self._client("iot", region).describe_endpoint(
                        endpointType=args.get("endpointType") or "iot:Data-ATS")["endpointAddress"]
                return {"endpointAddress": self._endpoints[region], "id": region}
        raise UnsupportedResource(f"the local cloud does not answer the invoke {token}; "
                                  "add it to Deployer.invoke in localcloud/deployer.py")

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _client(service: str, region: str) -> Any:
        return boto3.client(service, region_name=region)

    def _name(self, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], *, limit: int = 64) -> str:
        return inputs.get("name") or _autoname(args.name, limit=limit)

    def created_in(self, region: str) -> list[Created]:
        return [c for c in self.created if c.region == region]

    # -- ACM ---------------------------------------------------------------------------------
    def _acm_certificate(self, args, inputs, region):
        acm = self._client("acm", region)
        if inputs.get("certificateBody"):
            request = {"Certificate": inputs["certificateBody"].encode(), "PrivateKey": inputs["privateKey"].encode()}
            if inputs.get("certificateChain"):
                request["CertificateChain"] = inputs["certificateChain"].encode()
            arn = acm.import_certificate(**request)["CertificateArn"]
            return arn, {**inputs, "arn": arn, "status": "ISSUED"}
        if not inputs.get("domainName"):
            raise UnsupportedResource(f"aws:acm/certificate:Certificate {args.name!r}: neither an import "
                                      "(certificateBody) nor a request (domainName); the local cloud makes only these")
        arn = acm.request_certificate(DomainName=inputs["domainName"],
                                      ValidationMethod=inputs.get("validationMethod", "DNS"))["CertificateArn"]
        described = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        options = []
        for option in described.get("DomainValidationOptions", []):
            record = option.get("ResourceRecord") or {}
            options.append({"domainName": option["DomainName"], "resourceRecordName": record.get("Name", ""),
                            "resourceRecordType": record.get("Type", "CNAME"),
                            "resourceRecordValue": record.get("Value", "")})
        return arn, {**inputs, "arn": arn, "domainValidationOptions": options, "status": described.get("Status")}

    def _acm_validation(self, args, inputs, region):
        arn = inputs["certificateArn"]
        self._client("acm", region).describe_certificate(CertificateArn=arn)  # must exist
        return arn, {**inputs}

    # -- API Gateway v2 (HTTP APIs) ------------------------------------------------------------------
    def _http_api(self, args, inputs, region):
        request: dict[str, Any] = {"Name": self._name(args, inputs, limit=128), "ProtocolType": inputs["protocolType"]}
        for key, member in (("description", "Description"), ("disableExecuteApiEndpoint", "DisableExecuteApiEndpoint"),
                            ("routeSelectionExpression", "RouteSelectionExpression")):
            if inputs.get(key) is not None:
                request[member] = inputs[key]
        api = self._client("apigatewayv2", region).create_api(**request)
        execution_arn = f"arn:aws:execute-api:{region}:{self.account_id}:{api['ApiId']}"
        return api["ApiId"], {**inputs, "name": request["Name"], "apiEndpoint": api.get("ApiEndpoint", ""),
                              "arn": f"arn:aws:apigateway:{region}::/apis/{api['ApiId']}",
                              "executionArn": execution_arn}

    def _api_integration(self, args, inputs, region):
        request: dict[str, Any] = {"ApiId": inputs["apiId"], "IntegrationType": inputs["integrationType"]}
        for key, member in (("integrationUri", "IntegrationUri"), ("integrationMethod", "IntegrationMethod"),
                            ("payloadFormatVersion", "PayloadFormatVersion"), ("description", "Description")):
            if inputs.get(key) is not None:
                request[member] = inputs[key]
        if inputs.get("timeoutMilliseconds") is not None:
            request["TimeoutInMillis"] = int(inputs["timeoutMilliseconds"])
        integration = self._client("apigatewayv2", region).create_integration(**request)
        return integration["IntegrationId"], {**inputs}

    def _api_route(self, args, inputs, region):
        request: dict[str, Any] = {"ApiId": inputs["apiId"], "RouteKey": inputs["routeKey"]}
        if inputs.get("target"):
            request["Target"] = inputs["target"]
        route = self._client("apigatewayv2", region).create_route(**request)
        return route["RouteId"], {**inputs}

    def _api_stage(self, args, inputs, region):
        request: dict[str, Any] = {"ApiId": inputs["apiId"], "StageName": inputs["name"],
                                   "AutoDeploy": bool(inputs.get("autoDeploy", False))}
        if inputs.get("defaultRouteSettings"):
            request["DefaultRouteSettings"] = _pascal(inputs["defaultRouteSettings"])
        if inputs.get("accessLogSettings"):
            request["AccessLogSettings"] = _pascal(inputs["accessLogSettings"])
        self._client("apigatewayv2", region).create_stage(**request)
        return inputs["name"], {**inputs, "invokeUrl": f"https://{inputs['apiId']}.execute-api.{region}.amazonaws.com/"}

    def _api_domain_name(self, args, inputs, region):
        configuration = inputs["domainNameConfiguration"]
        domain = self._client("apigatewayv2", region).create_domain_name(
            DomainName=inputs["domainName"], DomainNameConfigurations=[_pascal(configuration)])
        target = (domain.get("DomainNameConfigurations") or [{}])[0].get("ApiGatewayDomainName") \
            or f"d-{_hex(inputs['domainName'], region, n=10)}.execute-api.{region}.amazonaws.com"
        return inputs["domainName"], {**inputs, "domainNameConfiguration": {**configuration,
                                                                            "targetDomainName": target}}

    def _api_mapping(self, args, inputs, region):
        request = {"ApiId": inputs["apiId"], "DomainName": inputs["domainName"], "Stage": inputs["stage"]}
        if inputs.get("apiMappingKey"):
            request["ApiMappingKey"] = inputs["apiMappingKey"]
        mapping = self._client("apigatewayv2", region).create_api_mapping(**request)
        return mapping["ApiMappingId"], {**inputs}

    def _lambda_permission(self, args, inputs, region):
        statement_id = inputs.get("statementId") or _autoname(args.name, limit=100)
        request = {"FunctionName": inputs["function"], "StatementId": statement_id, "Action": inputs["action"],
                   "Principal": inputs["principal"]}
        for key, member in (("sourceArn", "SourceArn"), ("sourceAccount", "SourceAccount")):
            if inputs.get(key):
                request[member] = inputs[key]
        self._client("lambda", region).add_permission(**request)
        return statement_id, {**inputs, "statementId": statement_id}

    # -- EventBridge / CloudWatch Logs ----------------------------------------------------------
    def _event_bus(self, args, inputs, region):
        name = self._name(args, inputs)
        arn = self._client("events", region).create_event_bus(Name=name)["EventBusArn"]
        return name, {**inputs, "name": name, "arn": arn}

    def _event_rule(self, args, inputs, region):
        name = self._name(args, inputs)
        request: dict[str, Any] = {"Name": name, "EventBusName": inputs.get("eventBusName", "default"),
                                   "State": inputs.get("state") or "ENABLED"}
        for key, member in (("eventPattern", "EventPattern"), ("scheduleExpression", "ScheduleExpression"),
                            ("description", "Description"), ("roleArn", "RoleArn")):
            if inputs.get(key):
                request[member] = inputs[key]
        arn = self._client("events", region).put_rule(**request)["RuleArn"]
        return f"{request['EventBusName']}/{name}", {**inputs, "name": name, "arn": arn}

    def _event_target(self, args, inputs, region):
        target_id = inputs.get("targetId") or _autoname(args.name)
        target: dict[str, Any] = {"Id": target_id, "Arn": inputs["arn"]}
        if inputs.get("roleArn"):
            target["RoleArn"] = inputs["roleArn"]
        if inputs.get("input"):
            target["Input"] = inputs["input"]
        if inputs.get("inputPath"):
            target["InputPath"] = inputs["inputPath"]
        if inputs.get("inputTransformer"):
            transformer = inputs["inputTransformer"]
            target["InputTransformer"] = {"InputPathsMap": transformer.get("inputPaths", {}),
                                          "InputTemplate": transformer["inputTemplate"]}
        if inputs.get("retryPolicy"):
            target["RetryPolicy"] = _pascal(inputs["retryPolicy"])
        if inputs.get("deadLetterConfig"):
            target["DeadLetterConfig"] = _pascal(inputs["deadLetterConfig"])
        bus = inputs.get("eventBusName", "default")
        response = self._client("events", region).put_targets(Rule=inputs["rule"], EventBusName=bus, Targets=[target])
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"put_targets for {args.name!r} failed: {response['FailedEntries']}")
        return f"{bus}-{inputs['rule']}-{target_id}", {**inputs, "targetId": target_id}

    def _log_group(self, args, inputs, region):
        name = self._name(args, inputs, limit=512)
        logs = self._client("logs", region)
        logs.create_log_group(logGroupName=name)
        if inputs.get("retentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(inputs["retentionInDays"]))
        arn = f"arn:aws:logs:{region}:{self.account_id}:log-group:{name}"
        return name, {**inputs, "name": name, "arn": arn}

    # -- DynamoDB ------------------------------------------------------------------------------
    def _metric_alarm(self, args, inputs, region):
        name = self._name(args, inputs, limit=255)
        if inputs.get("metricQueries"):
            raise UnsupportedResource(f"aws:cloudwatch/metricAlarm:MetricAlarm {name!r}: metric math alarms are not "
                                      "emulated")
        request: dict[str, Any] = {
            "AlarmName": name, "Namespace": inputs["namespace"], "MetricName": inputs["metricName"],
            "Statistic": inputs["statistic"], "Period": int(inputs["period"]),
            "EvaluationPeriods": int(inputs["evaluationPeriods"]), "Threshold": float(inputs["threshold"]),
            "ComparisonOperator": inputs["comparisonOperator"],
            "Dimensions": [{"Name": k, "Value": v} for k, v in (inputs.get("dimensions") or {}).items()],
            "AlarmActions": list(inputs.get("alarmActions") or []), "OKActions": list(inputs.get("okActions") or []),
        }
        for key, member in (("alarmDescription", "AlarmDescription"), ("treatMissingData", "TreatMissingData")):
            if inputs.get(key) is not None:
                request[member] = inputs[key]
        if inputs.get("datapointsToAlarm") is not None:
            request["DatapointsToAlarm"] = int(inputs["datapointsToAlarm"])
        cloudwatch = self._client("cloudwatch", region)
        cloudwatch.put_metric_alarm(**request)
        arn = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
        return name, {**inputs, "name": name, "arn": arn}

    def _table(self, args, inputs, region):
        name = self._name(args, inputs, limit=255)
        keys = [(inputs["hashKey"], "HASH")] + ([(inputs["rangeKey"], "RANGE")] if inputs.get("rangeKey") else [])
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in keys],
            "AttributeDefinitions": [{"AttributeName": a["name"], "AttributeType": a["type"]}
                                     for a in inputs.get("attributes", [])],
            "BillingMode": inputs.get("billingMode", "PROVISIONED"),
        }
        if request["BillingMode"] == "PROVISIONED":
            request["ProvisionedThroughput"] = {"ReadCapacityUnits": int(inputs.get("readCapacity") or 1),
                                                "WriteCapacityUnits": int(inputs.get("writeCapacity") or 1)}
        if inputs.get("streamEnabled"):
            request["StreamSpecification"] = {"StreamEnabled": True,
                                              "StreamViewType": inputs.get("streamViewType", "NEW_AND_OLD_IMAGES")}
        if inputs.get("deletionProtectionEnabled"):
            request["DeletionProtectionEnabled"] = True
        dynamodb = self._client("dynamodb", region)
        table = dynamodb.create_table(**request)["TableDescription"]
        ttl = inputs.get("ttl") or {}
        if ttl.get("enabled"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["attributeName"]})
        replicas = inputs.get("replicas") or []
        replica_regions = [r["regionName"] for r in replicas]
        if replica_regions:
            if self.on_global_table is None:
                raise UnsupportedResource(f"table {name!r} has replicas {replica_regions} but this deployer has no "
                                          "global-table engine (pass on_global_table=engines.global_tables.register)")
            self.on_global_table(name, region, replica_regions)
        state = {**inputs, "name": name, "arn": table["TableArn"], "streamArn": table.get("LatestStreamArn", ""),
                 "streamLabel": table.get("LatestStreamLabel", "")}
        state["replicas"] = []
        for replica in replicas:
            replica_client = self._client("dynamodb", replica["regionName"])
            if replica.get("deletionProtectionEnabled"):
                replica_client.update_table(TableName=name, DeletionProtectionEnabled=True)
            described = replica_client.describe_table(TableName=name)["Table"]
            state["replicas"].append({**replica, "arn": described["TableArn"],
                                      "streamArn": described.get("LatestStreamArn", ""),
                                      "streamLabel": described.get("LatestStreamLabel", "")})
        return name, state

    # -- IAM -----------------------------------------------------------------------------------
    def _role(self, args, inputs, region):
        name = self._name(args, inputs)
        request = {"RoleName": name, "AssumeRolePolicyDocument": inputs["assumeRolePolicy"],
                   "Path": inputs.get("path") or "/"}
        if inputs.get("description"):
            request["Description"] = inputs["description"]
        role = self._client("iam", region).create_role(**request)["Role"]
        return name, {**inputs, "name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}

    def _role_policy(self, args, inputs, region):
        name = self._name(args, inputs, limit=128)
        self._client("iam", region).put_role_policy(RoleName=inputs["role"], PolicyName=name,
                                                    PolicyDocument=inputs["policy"])
        return f"{inputs['role']}:{name}", {**inputs, "name": name}

    def _role_policy_attachment(self, args, inputs, region):
        _load_aws_managed_policy(self.account_id, inputs["policyArn"])
        self._client("iam", region).attach_role_policy(RoleName=inputs["role"], PolicyArn=inputs["policyArn"])
        return f"{inputs['role']}-{_autoname(args.name)}", dict(inputs)

    def _instance_profile(self, args, inputs, region):
        name = self._name(args, inputs, limit=128)
        iam = self._client("iam", region)
        profile = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        if inputs.get("role"):
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=inputs["role"])
        return name, {**inputs, "name": name, "arn": profile["Arn"]}

    # -- IoT -----------------------------------------------------------------------------------
    def _ca_certificate(self, args, inputs, region):
        request: dict[str, Any] = {
            "caCertificate": inputs["caCertificatePem"],
            "setAsActive": bool(inputs.get("active", False)),
            "allowAutoRegistration": bool(inputs.get("allowAutoRegistration", False)),
            "certificateMode": inputs.get("certificateMode", "DEFAULT"),
        }
        if inputs.get("verificationCertificatePem"):
            request["verificationCertificate"] = inputs["verificationCertificatePem"]
        if inputs.get("registrationConfig"):  # JITP: the template and the role AWS IoT runs it with
            config = inputs["registrationConfig"]
            request["registrationConfig"] = {k: config[k] for k in ("templateBody", "roleArn", "templateName")
                                             if config.get(k)}
        response = self._client("iot", region).register_ca_certificate(**request)
        return response["certificateId"], {**inputs, "arn": response["certificateArn"]}

    def _domain_configuration(self, args, inputs, region):
        name = self._name(args, inputs, limit=128)
        request: dict[str, Any] = {"domainConfigurationName": name}
        for key in ("domainName", "serverCertificateArns", "validationCertificateArn", "serviceType"):
            if inputs.get(key):
                request[key] = inputs[key]
        if inputs.get("tlsConfig"):
            request["tlsConfig"] = inputs["tlsConfig"]
        iot = self._client("iot", region)
        response = iot.create_domain_configuration(**request)
        return name, {**inputs, "name": name, "arn": response["domainConfigurationArn"]}

    def _event_configurations(self, args, inputs, region):
        configurations = {k: {"Enabled": bool(v)} for k, v in (inputs.get("eventConfigurations") or {}).items()}
        self._client("iot", region).update_event_configurations(eventConfigurations=configurations)
        return region, {**inputs}

    def _iot_policy(self, args, inputs, region):
        name = self._name(args, inputs, limit=128)
        response = self._client("iot", region).create_policy(policyName=name, policyDocument=inputs["policy"])
        return name, {**inputs, "name": name, "arn": response["policyArn"],
                      "defaultVersionId": response.get("policyVersionId", "1")}

    def _iot_certificate(self, args, inputs, region):
        iot = self._client("iot", region)
        status = "ACTIVE" if inputs.get("active") else "INACTIVE"
        if inputs.get("csr") or not inputs.get("certificatePem"):
            raise UnsupportedResource(f"aws:iot/certificate:Certificate {args.name!r}: only registering a given "
                                      "certificate is emulated")
        if inputs.get("caPem"):
            created = iot.register_certificate(certificatePem=inputs["certificatePem"], caCertificatePem=inputs["caPem"],
                                               status=status)
        else:
            created = iot.register_certificate_without_ca(certificatePem=inputs["certificatePem"], status=status)
        return created["certificateId"], {**inputs, "arn": created["certificateArn"]}

    def _iot_thing(self, args, inputs, region):
        name = self._name(args, inputs, limit=128)
        created = self._client("iot", region).create_thing(thingName=name)
        return name, {**inputs, "name": name, "arn": created["thingArn"], "defaultClientId": name}

    def _iot_thing_principal(self, args, inputs, region):
        self._client("iot", region).attach_thing_principal(thingName=inputs["thing"], principal=inputs["principal"])
        return f"{inputs['thing']}|{inputs['principal']}", {**inputs}

    def _iot_policy_attachment(self, args, inputs, region):
        self._client("iot", region).attach_policy(policyName=inputs["policy"], target=inputs["target"])
        return f"{inputs['policy']}|{inputs['target']}", {**inputs}

    def _topic_rule(self, args, inputs, region):
        name = self._name(args, inputs, limit=128).replace("-", "_")
        actions: list[dict[str, Any]] = []
        ignored = {"name", "description", "sql", "sqlVersion", "enabled", "errorAction", "tags", "tagsAll",
                   "region"}
        for key, value in inputs.items():
            if key in ignored or value in (None, [], {}):
                continue
            for spec in value:
                actions.append(_topic_rule_action(key, spec))
        payload: dict[str, Any] = {"sql": inputs["sql"], "awsIotSqlVersion": inputs.get("sqlVersion", "2016-03-23"),
                                   "ruleDisabled": not inputs.get("enabled", True), "actions": actions}
        if inputs.get("description"):
            payload["description"] = inputs["description"]
        if inputs.get("errorAction"):
            (key, spec), = inputs["errorAction"].items()
            api = TOPIC_RULE_ACTIONS.get(key, key)
            payload["errorAction"] = {api: _ints(spec[0] if isinstance(spec, list) else spec)}
        iot = self._client("iot", region)
        iot.create_topic_rule(ruleName=name, topicRulePayload=payload)
        arn = f"arn:aws:iot:{region}:{self.account_id}:rule/{name}"
        return name, {**inputs, "name": name, "arn": arn}

    # -- Lambda ----------------------------------------------------------------------------------
    def _function(self, args, inputs, region):
        name = self._name(args, inputs)
        handler = inputs.get("handler")
        if not handler or "." not in handler:
            raise UnsupportedResource(f"Lambda {name!r}: handler {handler!r} is not 'module.function'")
        module, function = handler.rsplit(".", 1)
        code = inputs.get("code")
        folder = getattr(code, "path", None)
        package_module = f"{self.functions_package}.{module}"
        if not (PROJECT_DIR / self.functions_package / Path(*module.split("."))).with_suffix(".py").exists():
            raise UnsupportedResource(f"Lambda {name!r}: handler module {module!r} (code {folder}) is not in "
                                      f"{self.functions_package}/; the local cloud runs handlers from there")
        lambda_inprocess.register(name, f"{package_module}:{function}")
        request: dict[str, Any] = {
            "FunctionName": name, "Role": inputs["role"], "Handler": handler,
            "Runtime": inputs.get("runtime", "python3.12"), "Code": {"ZipFile": _stub_zip()},
            "Timeout": int(inputs.get("timeout") or 3), "MemorySize": int(inputs.get("memorySize") or 128),
            "Architectures": inputs.get("architectures") or ["x86_64"],
        }
        if inputs.get("description"):
            request["Description"] = inputs["description"]
        if inputs.get("environment"):
            request["Environment"] = {"Variables": dict(inputs["environment"].get("variables") or {})}
        response = self._client("lambda", region).create_function(**request)
        return name, {**inputs, "name": name, "arn": response["FunctionArn"],
                      "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
                                   f"{response['FunctionArn']}/invocations",
                      "qualifiedArn": f"{response['FunctionArn']}:$LATEST", "version": "$LATEST",
                      "code": None}

    # -- Pipes -------------------------------------------------------------------------------------
    def _pipe(self, args, inputs, region):
        name = self._name(args, inputs)
        request: dict[str, Any] = {"Name": name, "RoleArn": inputs["roleArn"], "Source": inputs["source"],
                                   "Target": inputs["target"], "DesiredState": inputs.get("desiredState") or "RUNNING"}
        source = inputs.get("sourceParameters") or {}
        if source:
            parameters: dict[str, Any] = {}
            if source.get("dynamodbStreamParameters"):
                parameters["DynamoDBStreamParameters"] = _pascal(source["dynamodbStreamParameters"])
            if source.get("filterCriteria"):
                parameters["FilterCriteria"] = {"Filters": [{"Pattern": f["pattern"]}
                                                            for f in source["filterCriteria"].get("filters", [])]}
            unknown = set(source) - {"dynamodbStreamParameters", "filterCriteria"}
            if unknown:
                raise UnsupportedResource(f"pipe {name!r}: source parameters {sorted(unknown)} are not emulated")
            request["SourceParameters"] = parameters
        target = inputs.get("targetParameters") or {}
        if target:
            if set(target) != {"eventbridgeEventBusParameters"}:
                raise UnsupportedResource(f"pipe {name!r}: target parameters {sorted(target)} are not emulated")
            bus = target["eventbridgeEventBusParameters"]
            request["TargetParameters"] = {"EventBridgeEventBusParameters": {
                k: v for k, v in {"Source": bus.get("source"), "DetailType": bus.get("detailType"),
                                  "EndpointId": bus.get("endpointId"), "Resources": bus.get("resources"),
                                  "Time": bus.get("time")}.items() if v}}
        if inputs.get("description"):
            request["Description"] = inputs["description"]
        response = self._client("pipes", region).create_pipe(**request)
        return name, {**inputs, "name": name, "arn": response["Arn"]}

    # -- Route 53 ----------------------------------------------------------------------------------
    def _record(self, args, inputs, region):
        name = inputs["name"].rstrip(".")
        record: dict[str, Any] = {"Name": name, "Type": inputs["type"]}
        if inputs.get("ttl") is not None:
            record["TTL"] = int(inputs["ttl"])
        if inputs.get("records"):
            record["ResourceRecords"] = [{"Value": v} for v in inputs["records"]]
        if inputs.get("setIdentifier"):
            record["SetIdentifier"] = inputs["setIdentifier"]
        if inputs.get("latencyRoutingPolicies"):
            record["Region"] = inputs["latencyRoutingPolicies"][0]["region"]
        if inputs.get("geolocationRoutingPolicies"):
            record["GeoLocation"] = _pascal(inputs["geolocationRoutingPolicies"][0])
        if inputs.get("healthCheckId"):
            record["HealthCheckId"] = inputs["healthCheckId"]
        if inputs.get("weightedRoutingPolicies"):
            record["Weight"] = int(inputs["weightedRoutingPolicies"][0]["weight"])
        action = "UPSERT" if inputs.get("allowOverwrite") else "CREATE"
        self._client("route53", region).change_resource_record_sets(
            HostedZoneId=inputs["zoneId"],
            ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": record}]})
        id_ = "_".join(filter(None, (inputs["zoneId"], name, inputs["type"], inputs.get("setIdentifier"))))
        return id_, {**inputs, "fqdn": name}

    def _health_check(self, args, inputs, region):
        if inputs["type"] != "CLOUDWATCH_METRIC":
            raise UnsupportedResource(f"aws:route53/healthCheck:HealthCheck {args.name!r}: only CLOUDWATCH_METRIC "
                                      "health checks are emulated (localcloud/canaries.py evaluates them)")
        config = {"Type": "CLOUDWATCH_METRIC", "AlarmIdentifier": {
            "Region": inputs["cloudwatchAlarmRegion"], "Name": inputs["cloudwatchAlarmName"]},
            "InsufficientDataHealthStatus": inputs.get("insufficientDataHealthStatus") or "LastKnownStatus"}
        created = self._client("route53", region).create_health_check(
            CallerReference=_autoname(args.name), HealthCheckConfig=config)["HealthCheck"]
        return created["Id"], {**inputs}

    # -- Pulumi dynamic resources (components/canary_key.py, ...) ------------------------------------
    @staticmethod
    def _dynamic(args, inputs, region):
        """Run the resource's own provider, as the dynamic provider process would: its ``check``, then ``create``;
        its AWS calls reach moto like the program's."""
        import base64

        import dill

        provider = dill.loads(base64.b64decode(inputs["__provider"]))
        props = {k: v for k, v in inputs.items() if k != "__provider"}
        checked = provider.check({}, props)
        if checked.failures:
            raise UnsupportedResource(f"{args.typ} {args.name!r}: " + "; ".join(
                f"{f.property}: {f.reason}" for f in checked.failures))
        created = provider.create(checked.inputs)
        return created.id, {**props, **(created.outs or {})}

    # -- KMS / Secrets Manager -----------------------------------------------------------------------
    def _kms_key(self, args, inputs, region):
        key = self._client("kms", region).create_key(Description=inputs.get("description") or args.name)["KeyMetadata"]
        return key["KeyId"], {**inputs, "arn": key["Arn"], "keyId": key["KeyId"]}

    def _secret(self, args, inputs, region):
        name = self._name(args, inputs, limit=256)
        request = {"Name": name, **({"KmsKeyId": inputs["kmsKeyId"]} if inputs.get("kmsKeyId") else {}),
                   **({"Description": inputs["description"]} if inputs.get("description") else {})}
        arn = self._client("secretsmanager", region).create_secret(**request)["ARN"]
        return arn, {**inputs, "name": name, "arn": arn}

    def _secret_version(self, args, inputs, region):
        value = inputs.get("secretStringWo") or inputs.get("secretString")
        if value is None:
            raise UnsupportedResource(f"secret version {args.name!r}: only string secrets are emulated")
        version = self._client("secretsmanager", region).put_secret_value(SecretId=inputs["secretId"],
                                                                           SecretString=value)["VersionId"]
        kept = {k: v for k, v in inputs.items() if k not in ("secretStringWo", "secretString")}  # write-only
        return f"{inputs['secretId']}|{version}", {**kept, "versionId": version, "arn": inputs["secretId"]}

    def _secret_policy(self, args, inputs, region):
        self._client("secretsmanager", region).put_resource_policy(SecretId=inputs["secretArn"],
                                                                   ResourcePolicy=inputs["policy"])
        return inputs["secretArn"], {**inputs}

    # -- S3 ------------------------------------------------------------------------------------------
    def _bucket(self, args, inputs, region):
        name = inputs.get("bucket") or _autoname(args.name, limit=63).lower()
        request: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": region}
        self._client("s3", region).create_bucket(**request)
        return name, {**inputs, "bucket": name, "arn": f"arn:aws:s3:::{name}",
                      "bucketDomainName": f"{name}.s3.amazonaws.com",
                      "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com", "region": region}

    def _bucket_object(self, args, inputs, region):
        """An object from ``content`` or a ``FileAsset`` ``source`` (read now, as ``pulumi up`` uploads it)."""
        unknown = set(inputs) - {"bucket", "key", "source", "content", "contentType", "serverSideEncryption",
                                 "cacheControl", "metadata", "tags", "tagsAll", "region", "forceDestroy"}
        if unknown:
            raise UnsupportedResource(f"aws:s3/bucketObjectv2:BucketObjectv2 {args.name!r}: inputs {sorted(unknown)} "
                                      "are not emulated")
        source = inputs.get("source")
        if source is not None:
            path = getattr(source, "path", None)
            if path is None:
                raise UnsupportedResource(f"BucketObjectv2 {args.name!r}: only a FileAsset source is emulated, got "
                                          f"{type(source).__name__}")
            body = Path(path).read_bytes()
        else:
            body = str(inputs.get("content") or "").encode()
        key = inputs.get("key") or args.name
        request: dict[str, Any] = {"Bucket": inputs["bucket"], "Key": key, "Body": body}
        for name, member in (("contentType", "ContentType"), ("serverSideEncryption", "ServerSideEncryption"),
                             ("cacheControl", "CacheControl"), ("metadata", "Metadata")):
            if inputs.get(name):
                request[member] = inputs[name]
        response = self._client("s3", region).put_object(**request)
        return key, {**inputs, "key": key, "etag": response.get("ETag", "").strip('"'),
                     "versionId": response.get("VersionId", ""), "arn": f"arn:aws:s3:::{inputs['bucket']}/{key}"}

    def _bucket_ownership(self, args, inputs, region):
        self._client("s3", region).put_bucket_ownership_controls(
            Bucket=inputs["bucket"],
            OwnershipControls={"Rules": [{"ObjectOwnership": inputs["rule"]["objectOwnership"]}]})
        return inputs["bucket"], {**inputs}

    def _bucket_policy(self, args, inputs, region):
        self._client("s3", region).put_bucket_policy(Bucket=inputs["bucket"], Policy=inputs["policy"])
        return inputs["bucket"], {**inputs}

    def _bucket_public_access(self, args, inputs, region):
        configuration = {member: bool(inputs.get(key, False)) for key, member in (
            ("blockPublicAcls", "BlockPublicAcls"), ("ignorePublicAcls", "IgnorePublicAcls"),
            ("blockPublicPolicy", "BlockPublicPolicy"), ("restrictPublicBuckets", "RestrictPublicBuckets"))}
        self._client("s3", region).put_public_access_block(Bucket=inputs["bucket"],
                                                           PublicAccessBlockConfiguration=configuration)
        return inputs["bucket"], {**inputs}

    def _bucket_encryption(self, args, inputs, region):
        rules = []
        for rule in inputs.get("rules", []):
            default = rule.get("applyServerSideEncryptionByDefault") or {}
            entry: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": default["sseAlgorithm"]}}
            if default.get("kmsMasterKeyId"):
                entry["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = default["kmsMasterKeyId"]
            if "bucketKeyEnabled" in rule:
                entry["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
            rules.append(entry)
        self._client("s3", region).put_bucket_encryption(
            Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
        return inputs["bucket"], {**inputs}

    # -- SQS -------------------------------------------------------------------------------------------
    def _queue(self, args, inputs, region):
        name = self._name(args, inputs, limit=80)
        unknown = set(inputs) - set(SQS_QUEUE_ATTRIBUTES) - {"name", "tags", "tagsAll", "region"}
        if unknown:
            raise UnsupportedResource(f"aws:sqs/queue:Queue {name!r}: inputs {sorted(unknown)} are not emulated")
        attributes = {member: _queue_attribute(inputs[key]) for key, member in SQS_QUEUE_ATTRIBUTES.items()
                      if inputs.get(key) is not None}
        sqs = self._client("sqs", region)
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, {**inputs, "name": name, "arn": arn, "url": url}

    def _queue_policy(self, args, inputs, region):
        self._client("sqs", region).set_queue_attributes(QueueUrl=inputs["queueUrl"],
                                                         Attributes={"Policy": inputs["policy"]})
        return inputs["queueUrl"], {**inputs}

    # -- Step Functions ------------------------------------------------------------------------------
    def _state_machine(self, args, inputs, region):
        name = self._name(args, inputs, limit=80)
        request: dict[str, Any] = {"name": name, "definition": inputs["definition"], "roleArn": inputs["roleArn"],
                                   "type": inputs.get("type") or "STANDARD"}
        logging = inputs.get("loggingConfiguration")
        if logging and logging.get("logDestination"):
            request["loggingConfiguration"] = {
                "level": logging.get("level", "OFF"),
                "includeExecutionData": bool(logging.get("includeExecutionData", False)),
                "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": logging["logDestination"]}}]}
        response = self._client("stepfunctions", region).create_state_machine(**request)
        arn = response["stateMachineArn"]
        return arn, {**inputs, "name": name, "arn": arn, "status": "ACTIVE",
                     "creationDate": str(response.get("creationDate", ""))}
