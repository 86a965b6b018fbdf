"""Two regions of moto with this project's resources and the builders' exact state machines.

``Cloud`` owns one ``mock_aws`` context with ``localcloud.fixes`` applied; per region it creates the CA
(SNI_ONLY, auto-registration on), the device policy, the inventory table, the device bus (with an SQS queue
catching every event, so tests can read what the machines reported), the inspector Lambda (served in-process by
the real handler), the pacer Lambda and its queue table, and the three state machines from ``builders.asl`` as the
program builds them (JITR and replication paced at AWS's default quotas).
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3

from localcloud import fixes
from localcloud.compat.moto.core import mock_aws
from builders import inventory as inv
import quotas
from builders.asl import decommission, jitr, replication
from builders.asl.pacing import Pacer
from components.pacing import JITR_HORIZON_SECONDS, REPLICATION_HORIZON_SECONDS
from localcloud import interception as aws_calls
from localcloud.services.awslambda import inprocess as lambda_inprocess
from localcloud.speedups import sfn_accel, sfn_definition_cache

from .certs import Device, TestCA

ACCOUNT = "123456789012"
REGIONS = ("eu-west-1", "us-west-2")
TABLE = "iotmr-device-inventory"
POLICY = "iotmr-device"
BUS = "iotmr-devices"
SOURCE = "iotmr.devices"
FUNCTION = "iotmr-certificate-inspector"
LEASES = "iotmr-registration-leases"
PACER = "iotmr-pacer"
PACING = "iotmr-api-pacing"
#: The AWS default quotas of the throttled IoT APIs, as the program paces them (quotas/aws-defaults.json).
RATES = quotas.load().rates("iot", "eu-west-1")
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "iot": {"use_valid_cert": True}}


@dataclass
class Run:
    """A finished execution: status, output/error and its history."""

    arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict[str, Any]]

    @property
    def transitions(self) -> int:
        return sum(1 for event in self.history if event["type"].endswith("StateEntered"))

    @property
    def states(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if e["type"].endswith("StateEntered")]


@dataclass
class Region:
    name: str
    ca_pem: str
    machines: dict[str, str] = field(default_factory=dict)
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    queue_url: str = ""

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.name)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    raise RuntimeError('served in-process')\n")
    return buffer.getvalue()


class Cloud:
    def __init__(self, ca: TestCA, regions: tuple[str, ...] = REGIONS) -> None:
        self.ca = ca
        self.region_names = regions
        self.regions: dict[str, Region] = {}
        self._mock = mock_aws(config=MOTO_CONFIG)

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def __enter__(self) -> Cloud:
        self._accel_was_installed = sfn_accel.installed()
        sfn_accel.install()  # the emulator's opt-in speed-ups: one parse per definition, cached clients
        self._definitions_were_cached = sfn_definition_cache.installed()
        sfn_definition_cache.install()  # a definition that passed validation is not parsed again at create
        self._mock.start()
        self._saved_scale = fixes.SETTINGS.retry_time_scale
        self._saved_sync = fixes.SETTINGS.synchronous_executions
        self._patch_context = fixes.patched()
        self._patch_context.__enter__()
        fixes.SETTINGS.retry_time_scale = 0.0
        fixes.SETTINGS.synchronous_executions = True
        lambda_inprocess.register(FUNCTION, "functions.certificate_inspector.handler:handler")
        lambda_inprocess.register(PACER, "functions.pacer.handler:handler")
        lambda_inprocess.INVOCATIONS.clear()
        iam = boto3.client("iam", region_name=self.region_names[0])
        self.role_arn = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        for name in self.region_names:
            self.regions[name] = self._build_region(name)
        aws_calls.clear()
        return self

    def __exit__(self, *exc: Any) -> None:
        lambda_inprocess.unregister_all()
        aws_calls.clear()
        fixes.SETTINGS.retry_time_scale = self._saved_scale
        fixes.SETTINGS.synchronous_executions = self._saved_sync
        self._patch_context.__exit__(*exc)
        self._mock.stop()
        if not self._definitions_were_cached:
            sfn_definition_cache.uninstall()
        if not self._accel_was_installed:
            sfn_accel.uninstall()

    def _build_region(self, name: str) -> Region:
        region = Region(name, self.ca.pem)
        iot = region.client("iot")
        ca_id = iot.register_ca_certificate(caCertificate=self.ca.pem, setAsActive=True, allowAutoRegistration=True,
                                            certificateMode="SNI_ONLY")["certificateId"]
        assert ca_id == self.ca.certificate_id
        iot.create_policy(policyName=POLICY, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}))
        region.client("dynamodb").create_table(
            TableName=TABLE, KeySchema=[{"AttributeName": inv.HASH_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": inv.HASH_KEY, "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        region.client("dynamodb").create_table(
            TableName=LEASES, KeySchema=[{"AttributeName": "CertificateId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "CertificateId", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        events, sqs = region.client("events"), region.client("sqs")
        events.create_event_bus(Name=BUS)
        queue_url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="tap", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
        events.put_targets(Rule="tap", EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])
        region.queue_url = queue_url
        function_arn = region.client("lambda").create_function(
            FunctionName=FUNCTION, Runtime="python3.12", Role=self.role_arn, Handler="handler.handler",
            Code={"ZipFile": _zip()},
            Environment={"Variables": {"INVENTORY_TABLE": TABLE, "EXPECTED_CA_CERTIFICATE_ID": ca_id,
                                       "REGISTRATION_LEASE_TABLE": LEASES}})["FunctionArn"]
        region.client("dynamodb").create_table(
            TableName=PACING, KeySchema=[{"AttributeName": "Api", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "Api", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        pacer_arn = region.client("lambda").create_function(
            FunctionName=PACER, Runtime="python3.12", Role=self.role_arn, Handler="handler.handler",
            Code={"ZipFile": _zip()}, Environment={"Variables": {"PACING_TABLE": PACING}})["FunctionArn"]
        region.definitions = {
            "jitr": jitr.definition(inspector_function_arn=function_arn, inventory_table=TABLE,
                                    device_policy_name=POLICY, event_bus_name=BUS, source=SOURCE, lease_table=LEASES,
                                    pacer=Pacer(pacer_arn, RATES, JITR_HORIZON_SECONDS)),
            "replication": replication.definition(inventory_table=TABLE, device_policy_name=POLICY, event_bus_name=BUS,
                                                  source=SOURCE, pacer=Pacer(pacer_arn, RATES, REPLICATION_HORIZON_SECONDS)),
            "decommission": decommission.definition(inventory_table=TABLE, device_policy_name=POLICY, event_bus_name=BUS, source=SOURCE),
        }
        return region

    def machine(self, region: str, key: str) -> str:
        """ARN of state machine ``key`` (jitr/replication/decommission) in ``region``, created on first use."""
        state = self.regions[region]
        if key not in state.machines:
            state.machines[key] = state.client("stepfunctions").create_state_machine(
                name=f"iotmr-{key}", definition=json.dumps(state.definitions[key]), roleArn=self.role_arn,
                type="STANDARD")["stateMachineArn"]
        return state.machines[key]

    # ---- the world ----------------------------------------------------------------------------------------
    def connect(self, region: str, device: Device) -> dict[str, Any]:
        """A device's first TLS connection: IoT auto-registers its certificate PENDING_ACTIVATION (JITR).

        Returns the JITR event as the topic rule selects it (``SELECT *``).
        """
        iot = self.regions[region].client("iot")
        iot.register_certificate(certificatePem=device.pem, status="PENDING_ACTIVATION")
        return {
            "certificateId": device.certificate_id,
            "caCertificateId": self.ca.certificate_id,
            "timestamp": 1700000000000,
            "certificateStatus": "PENDING_ACTIVATION",
            "awsAccountId": ACCOUNT,
            "certificateRegistrationTimestamp": None,
        }

    def run(self, region: str, machine: str, payload: dict[str, Any]) -> Run:
        """Start ``machine`` in ``region`` with ``payload`` and return the finished execution."""
        sfn = self.regions[region].client("stepfunctions")
        arn = sfn.start_execution(stateMachineArn=self.machine(region, machine), input=json.dumps(payload))["executionArn"]
        return self.result(region, arn)

    def result(self, region: str, arn: str) -> Run:
        sfn = self.regions[region].client("stepfunctions")
        described = sfn.describe_execution(executionArn=arn)
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        output = json.loads(described["output"]) if described.get("output") else None
        return Run(arn, described["status"], output, described.get("error"), described.get("cause"), history)

    def jitr(self, region: str, device: Device) -> Run:
        return self.run(region, "jitr", self.connect(region, device))

    # ---- global table and pipes, simulated ---------------------------------------------------------------
    def item(self, region: str, thing_name: str) -> dict[str, Any] | None:
        return self.regions[region].client("dynamodb").get_item(
            TableName=TABLE, Key={inv.HASH_KEY: {"S": thing_name}}, ConsistentRead=True).get("Item")

    def items(self, region: str) -> list[dict[str, Any]]:
        return self.regions[region].client("dynamodb").scan(TableName=TABLE)["Items"]

    def replicate_table(self, source: str, target: str) -> None:
        """Global-table replication of every item from ``source`` to ``target`` (last writer wins)."""
        destination = self.regions[target].client("dynamodb")
        for item in self.items(source):
            destination.put_item(TableName=TABLE, Item=item)

    def put_item(self, region: str, item: dict[str, Any]) -> None:
        self.regions[region].client("dynamodb").put_item(TableName=TABLE, Item=item)

    def replicate(self, target: str, item: dict[str, Any], event_name: str = "INSERT",
                  old_certificate_id: str | None = None, *, arrive: bool = True) -> Run:
        """What global tables + the pipe + the rule do in ``target`` for this item: the item arrives in ``target``'s
        replica (unless ``arrive`` is False: a stale or redriven event), then the replication machine runs."""
        if arrive:
            self.put_item(target, item)
        return self.run(target, "replication", inv.flat_item(item, event_name, old_certificate_id))

    def decommission(self, region: str, item: dict[str, Any]) -> Run:
        """The operator's REVOKED item as the decommission rule delivers it in ``region`` (the item is there)."""
        return self.run(region, "decommission", inv.flat_item(item, "MODIFY", item[inv.CERTIFICATE_ID]["S"]))

    # ---- observations -------------------------------------------------------------------------------------
    def certificate(self, region: str, certificate_id: str) -> dict[str, Any] | None:
        iot = self.regions[region].client("iot")
        try:
            return iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]
        except iot.exceptions.ResourceNotFoundException:
            return None

    def thing_exists(self, region: str, name: str) -> bool:
        iot = self.regions[region].client("iot")
        try:
            iot.describe_thing(thingName=name)
            return True
        except iot.exceptions.ResourceNotFoundException:
            return False

    def principals(self, region: str, name: str) -> list[str]:
        return self.regions[region].client("iot").list_thing_principals(thingName=name)["principals"]

    def policies(self, region: str, certificate_arn: str) -> list[str]:
        return [p["policyName"] for p in self.regions[region].client("iot").list_attached_policies(target=certificate_arn)["policies"]]

    def bus_events(self, region: str) -> list[dict[str, Any]]:
        sqs = self.regions[region].client("sqs")
        messages = sqs.receive_message(QueueUrl=self.regions[region].queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]


# ---- the pipe and the bus rules, simulated with moto's EventBridge pattern matcher ------------------------------
def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    from localcloud.compat.moto.events import EventPattern

    return EventPattern.load(json.dumps(pattern)).matches_event(event)


def stream_record(region: str, item: dict[str, Any], event_name: str, old: dict[str, Any] | None = None) -> dict[str, Any]:
    """A DynamoDB stream record (as a pipe sees it, not base64) for a write that turned ``old`` into ``item``."""
    images = {"NewImage": item} if old is None else {"NewImage": item, "OldImage": old}
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "awsRegion": region,
            "dynamodb": {"Keys": {inv.HASH_KEY: item[inv.HASH_KEY]}, **images, "StreamViewType": "NEW_AND_OLD_IMAGES"}}


def render_input(event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge's input transformer with ``builders.inventory.item_input_transformer()`` (unquoted placeholders)."""
    paths, template = inv.item_input_transformer()
    for key, path in paths.items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        template = template.replace(f"<{key}>", json.dumps(value))
    return json.loads(template)


def routed_machines(region: str, record: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Which machines ``region``'s pipe + bus rules start for a stream ``record``, and the input they get."""
    if not any(matches(pattern, record) for pattern in inv.pipe_filters(region)):
        return [], {}
    event = {"version": "0", "id": "1", "source": SOURCE, "detail-type": inv.DETAIL_TYPE, "account": ACCOUNT,
             "region": region, "time": "2025-01-01T00:00:00Z", "resources": [], "detail": record}
    machines = [name for name, pattern in (("replication", inv.replicate_rule_pattern(SOURCE)),
                                           ("decommission", inv.decommission_rule_pattern(SOURCE))) if matches(pattern, event)]
    return machines, render_input(event)


def deliver(cloud: Cloud, region: str, record: dict[str, Any]) -> list[Run]:
    """Run what the pipe and rules of ``region`` would start for ``record``."""
    machines, payload = routed_machines(region, record)
    return [cloud.run(region, machine, payload) for machine in machines]
