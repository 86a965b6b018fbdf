"""An AWS IoT Core data plane per region, over moto's IoT registry (which has none).

``IotCore.connect(region, certificate_pem, client_id)`` does what the broker does at the
TLS + MQTT CONNECT handshake:

* a certificate unknown to the region but signed by a CA registered there (ACTIVE, with
  auto-registration not disabled) is registered ``PENDING_ACTIVATION`` with its
  ``caCertificateId`` (id = SHA-256 of the DER, the same in every region) and the JITR event
  ``{certificateId, caCertificateId, timestamp, certificateStatus, awsAccountId,
  certificateRegistrationTimestamp}`` is published on
  ``$aws/events/certificates/registered/<caCertificateId>`` (unless the region's event
  configurations, when ``localcloud.fixes`` records them, disable CERTIFICATE events);
  the connection is refused;
* a known certificate still ``PENDING_ACTIVATION`` is refused and the same event is published
  again ("When AWS IoT automatically registers a certificate or when a client presents a
  certificate in the PENDING_ACTIVATION status, AWS IoT publishes a message", developer guide,
  auto-register-device-cert.html), with the first registration's timestamp; a device that
  reconnects before the JITR machine ran thus starts it again (the machine must be idempotent);
* any other known certificate must be ACTIVE (and its CA, if any, ACTIVE): INACTIVE and
  REVOKED certificates are refused without an event;
* ``iot:Connect`` on ``client/<client id>`` must be allowed by the policies attached to the
  certificate, with ``${iot:Connection.Thing.ThingName}`` set when a thing named like the
  client id is attached to it.

``publish`` refuses a payload over AWS's 128 KB message size limit (and disconnects, as the broker does
with ``CLIENT_ERROR`` / ``PAYLOAD_LIMIT_EXCEEDED``), checks ``iot:Publish`` on ``topic/<topic>``, then matches every enabled topic rule
of the region (SQL read from moto's ``create_topic_rule`` store, evaluated by ``iot_sql``)
and queues their actions; ``settle()`` runs them: ``stepFunctions`` (StartExecution with the
SELECT result as input and ``executionNamePrefix``), ``dynamoDBv2`` (PutItem of the result)
and ``lambda`` (through an in-process invoker). Rule actions are asynchronous in AWS, so
they are here too: a refused first connection leaves the JITR execution queued until the
cloud settles. A failed action (the exception is the service's error) runs the rule's ``errorAction``
(``sqs`` or ``cloudwatchLogs``) once per rule and message, with AWS's error-action message: ``ruleName``,
``topic``, ``cloudwatchTraceId``, ``clientId``, ``base64OriginalPayload`` and ``failures[]`` of
``failedAction`` / ``failedResource`` / ``errorMessage`` (developer guide, rule-error-handling.html). No payload
makes ``publish`` raise: one the emulator cannot decode (JSON nested deeper than Python's parser goes) fails the
matched rules' actions instead. ``publish_internal`` is the service's own publish for ``$aws/...`` events
(no policy). A rule whose SQL calls ``get_dynamodb()`` reads the item with a GetItem on the region's table while it
is evaluated (``get_dynamodb_item``); a lookup that fails, or (by default, ``assumptions``) finds no item, is
IoT SQL's FunctionExecution error: the rule matches nothing and no error action runs (docs/emulator.md §12).
``connect_with_backoff`` is the device side: refused, back off (let the cloud settle), retry.

Lookups are dictionary lookups (certificate by id, thing attachment by (ARN, name), policy
attachment by (ARN, policy)), never scans of every certificate or thing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ... import interception
from ...assumptions import AWS_AS_REPORTED, Assumptions
from ...compat.moto.core import DEFAULT_ACCOUNT_ID, mock_random
from ...compat.moto.dynamodb import dynamodb_backends
from ...compat.moto.iot import FakeCertificate, IoTBackend, iot_backends
from ...compat.moto.services import logs_backends, sqs_backends
from ...compat.moto.stepfunctions import sfn_backend
from . import provisioning, tls_checks
from . import sql as iot_sql
from .ca_link import signing_ca
from .policy_eval import RequestContext, is_allowed

LambdaInvoker = Callable[[str, str, Any], Any]

JITR_TOPIC = "$aws/events/certificates/registered/{ca_id}"

# Message size quota: 128 KB per publish payload (https://docs.aws.amazon.com/general/latest/gr/iot-core.html,
# message broker limits). Over it AWS refuses the publish with CLIENT_ERROR / PAYLOAD_LIMIT_EXCEEDED
# (https://docs.aws.amazon.com/iot/latest/developerguide/topicdata.html), a disconnect reason
# (https://docs.aws.amazon.com/iot/latest/developerguide/life-cycle-events.html).
MQTT_MAX_PAYLOAD_BYTES = 128 * 1024

# Message broker limits: "Client ID size: 128 bytes of UTF-8 encoded characters" (AWS IoT Core quotas,
# https://docs.aws.amazon.com/general/latest/gr/iot-core.html); a longer client id is refused at CONNECT.
MQTT_MAX_CLIENT_ID_BYTES = 128

# Message broker limits (same page): a topic name or filter is at most 256 bytes (UTF-8) and has at most 7 forward
# slashes, Basic Ingest's "$aws/rules/<rule>/" prefix not counted; a SUBSCRIBE carries at most 8 filters and a
# connection holds at most 50 subscriptions (both enforced by the MQTT endpoint).
MQTT_MAX_TOPIC_BYTES = 256
MQTT_MAX_TOPIC_SLASHES = 7
_BASIC_INGEST_PREFIX = re.compile(r"^\$aws/rules/[^/]+/")


def topic_limit_error(topic: str, what: str = "topic") -> str | None:
    """Why AWS's message broker limits refuse ``topic`` (a topic name or filter), or None."""
    size = len(topic.encode("utf-8"))
    if size > MQTT_MAX_TOPIC_BYTES:
        return f"{what} of {size} bytes: AWS IoT's message broker accepts at most {MQTT_MAX_TOPIC_BYTES} bytes"
    slashes = _BASIC_INGEST_PREFIX.sub("", topic).count("/")
    if slashes > MQTT_MAX_TOPIC_SLASHES:
        return (f"{what} with {slashes} forward slashes: AWS IoT's message broker accepts at most "
                f"{MQTT_MAX_TOPIC_SLASHES} (the $aws/rules/<rule>/ prefix not counted)")
    return None

# "DynamoDB supports nested attributes up to 32 levels deep", the top-level attribute being level 1
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html): 31 lists/maps in a chain.
DYNAMODB_MAX_CONTAINER_NESTING = 31

# The error action's failedAction names, after the developer guide's example ("S3Action").
FAILED_ACTION_NAMES = {"dynamoDBv2": "DynamoDBv2Action", "stepFunctions": "StepFunctionsAction",
                       "lambda": "LambdaAction"}


class ConnectionRefused(Exception):
    """The broker closed the connection; ``reason`` says why (as the device would log it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PublishRefused(Exception):
    """The broker refused a publish (and, like IoT Core, disconnected the client)."""


class DynamoDBValidationError(ValueError):
    """DynamoDB's ValidationException for an item it will not store (what moto does not check itself)."""


class RuleFunctionError(Exception):
    """IoT SQL's FunctionExecution error: a rule's ``get_dynamodb()`` found no item (unless the assumption says
    Undefined) or its GetItem failed (table missing, key not the table's). The rule produces no match: no action
    and no error action runs (re:Post QUtmrQNjM4SkiP8mWy31_8Ew; error actions cover failed actions only,
    rule-error-handling.html). Counted in ``IotStats.sql_function_errors``; docs/emulator.md §12."""


@dataclass
class Connection:
    """An open MQTT connection of one device to one region."""

    region: str
    client_id: str
    certificate_id: str
    certificate_arn: str
    thing_name: str | None
    attempts: int = 1
    open: bool = True


@dataclass
class RuleInvocation:
    """One rule matched by one message: what its error action needs once every action has run."""

    region: str
    rule_name: str
    topic: str
    client_id: str | None
    payload: bytes
    error_action: dict[str, Any]
    remaining: int
    failures: list[dict[str, str]] = field(default_factory=list)


@dataclass
class RuleAction:
    """A matched rule action waiting to run (``error`` set: it fails with that reason when run)."""

    region: str
    rule_name: str
    action_type: str
    action: dict[str, Any]
    result: dict[str, Any] | None
    invocation: RuleInvocation | None = None
    error: str | None = None


@dataclass
class IotStats:
    connects: int = 0
    refused: int = 0
    auto_registered: int = 0
    jitp_provisioned: int = 0
    jitr_events: int = 0
    published: int = 0
    rule_matches: int = 0
    executions_started: int = 0
    items_written: int = 0
    lambdas_invoked: int = 0
    failed_actions: int = 0
    refused_oversized: int = 0
    error_actions: int = 0
    failed_error_actions: int = 0
    throttled_starts: int = 0  # stepFunctions actions the account's StartExecution quota refused
    dynamodb_lookups: int = 0  # get_dynamodb() GetItems made by rule SQL, failed ones included
    sql_function_errors: int = 0  # rules that matched nothing because a SQL function failed (FunctionExecution)
    undecodable_payloads: int = 0  # rules that matched nothing: the payload could not be parsed (assumptions register)


@dataclass
class ActionFailure:
    rule_name: str
    action_type: str
    reason: str


@dataclass
class _ParsedCertificate:
    certificate_id: str
    certificate: x509.Certificate
    pem_hash: str


def from_dynamodb_json(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as plain JSON, in IoT SQL's number model: ``N`` -> ``int`` when integral, else
    ``float``; sets -> lists; binary -> base64 text (JSON has no bytes)."""
    ((kind, data),) = value.items()
    if kind == "S":
        return data
    if kind == "N":
        return iot_sql.json_number(Decimal(data))
    if kind == "BOOL":
        return bool(data)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_dynamodb_json(v) for k, v in data.items()}
    if kind == "L":
        return [from_dynamodb_json(v) for v in data]
    if kind == "SS":
        return list(data)
    if kind == "NS":
        return [from_dynamodb_json({"N": v}) for v in data]
    if kind in ("B", "BS"):
        blobs = [data] if kind == "B" else list(data)
        text = [b if isinstance(b, str) else base64.b64encode(b).decode("ascii") for b in blobs]
        return text[0] if kind == "B" else text
    raise TypeError(f"unknown DynamoDB attribute type {kind!r}")


def to_dynamodb_json(value: Any, _containers: int = 0) -> dict[str, Any]:
    """A JSON value as a DynamoDB attribute value (what the dynamoDBv2 rule action writes); lists and maps
    nested deeper than DynamoDB stores raise its ValidationException (moto does not check nesting)."""
    if isinstance(value, (list, dict)):
        if _containers >= DYNAMODB_MAX_CONTAINER_NESTING:
            raise DynamoDBValidationError(
                "ValidationException: Nesting Levels have exceeded supported limits: "
                "Attributes in the item have nested levels beyond supported limit")
        if isinstance(value, list):
            return {"L": [to_dynamodb_json(v, _containers + 1) for v in value]}
        return {"M": {k: to_dynamodb_json(v, _containers + 1) for k, v in value.items()}}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float, Decimal)):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if value is None:
        return {"NULL": True}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


class IotCore:
    """The data plane of every region of one account."""

    def __init__(
        self,
        account_id: str = DEFAULT_ACCOUNT_ID,
        *,
        lambda_invoker: LambdaInvoker | None = None,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        assumptions: Assumptions = AWS_AS_REPORTED,
    ) -> None:
        self.account_id = account_id
        self.assumptions = assumptions
        self.lambda_invoker = lambda_invoker
        self.clock_ms = clock_ms
        self.queue: deque[RuleAction] = deque()
        self.stats = IotStats()
        self.failures: list[ActionFailure] = []
        self.started_executions: list[str] = []
        self.on_execution: Callable[[Any], None] | None = None  # e.g. settle's waiter
        self.published_events: list[tuple[str, str, dict[str, Any]]] = []  # (region, topic, payload)
        self._certificates: dict[str, _ParsedCertificate] = {}
        self._queries: dict[tuple[str, str, str], iot_sql.Query] = {}
        self._registered_ms: dict[tuple[str, str], int] = {}  # (region, certificate id) -> auto-registered at

    # registry access --------------------------------------------------------------
    def backend(self, region: str) -> IoTBackend:
        return iot_backends[self.account_id][region]

    def _parse(self, certificate_pem: str) -> _ParsedCertificate:
        parsed = self._certificates.get(certificate_pem)
        if parsed is None:
            try:
                certificate = x509.load_pem_x509_certificate(certificate_pem.encode("utf-8"))
            except ValueError as error:
                raise ConnectionRefused(f"TLS handshake failed: not a PEM certificate ({error})") from error
            der = certificate.public_bytes(serialization.Encoding.DER)
            parsed = _ParsedCertificate(
                certificate_id=hashlib.sha256(der).hexdigest(),
                certificate=certificate,
                pem_hash=hashlib.sha256(certificate_pem.encode("utf-8")).hexdigest(),
            )
            self._certificates[certificate_pem] = parsed
        return parsed

    def _find_certificate(self, backend: IoTBackend, parsed: _ParsedCertificate) -> FakeCertificate | None:
        # moto keys certificates by id: the DER hash (patched, or use_valid_cert) or the PEM hash.
        return backend.certificates.get(parsed.certificate_id) or backend.certificates.get(
            parsed.pem_hash
        )

    def _certificate_events_enabled(self, backend: IoTBackend) -> bool:
        state = getattr(backend, "_localcloud_event_configurations", None)
        if state is None:
            return True  # unknown (event configurations not emulated): publish
        return bool(state["eventConfigurations"].get("CERTIFICATE", {}).get("Enabled", False))

    def _policies(self, backend: IoTBackend, certificate_arn: str) -> list[tuple[str, str]]:
        attached = backend.principal_policies
        found = []
        for name, policy in backend.policies.items():
            if (certificate_arn, name) in attached:
                document = policy.document
                found.append((name, document if isinstance(document, str) else json.dumps(document)))
        return found

    # connect ------------------------------------------------------------------------
    def connect(self, region: str, certificate_pem: str, client_id: str) -> Connection:
        """Open a connection or raise ``ConnectionRefused`` with the broker's reason."""
        self.stats.connects += 1
        try:
            return self._connect(region, certificate_pem, client_id)
        except ConnectionRefused:
            self.stats.refused += 1
            raise

    def _connect(self, region: str, certificate_pem: str, client_id: str) -> Connection:
        if not client_id:
            raise ConnectionRefused("MQTT CONNECT without a client id")
        if len(client_id.encode("utf-8")) > MQTT_MAX_CLIENT_ID_BYTES:
            raise ConnectionRefused(f"client id of {len(client_id.encode('utf-8'))} bytes: AWS IoT's message broker "
                                    f"accepts at most {MQTT_MAX_CLIENT_ID_BYTES} bytes (UTF-8)")
        backend = self.backend(region)
        parsed = self._parse(certificate_pem)
        if self.assumptions.expired_certificate_handshake == "refused":  # docs/emulator.md, assumptions register
            tls_checks.check_client_certificate(parsed.certificate, error=ConnectionRefused)  # validity: wall clock
        certificate = self._find_certificate(backend, parsed)
        if certificate is None:
            provisioned = self._auto_register(region, backend, certificate_pem, parsed)
            if provisioned and self.assumptions.jitp_first_connection == "accepted":
                certificate = self._find_certificate(backend, parsed)  # JITP made it ACTIVE: go on connecting
            if certificate is None or certificate.status != "ACTIVE":
                raise ConnectionRefused(
                    f"certificate {parsed.certificate_id} was unknown in {region}: registered "
                    "PENDING_ACTIVATION (just-in-time registration); reconnect once it is activated"
                )
        if certificate.status == "PENDING_ACTIVATION":
            self._publish_registered(region, backend, certificate, parsed)
            raise ConnectionRefused(
                f"certificate {certificate.certificate_id} is PENDING_ACTIVATION in {region}: "
                "registration event published again; reconnect once it is activated"
            )
        if certificate.status != "ACTIVE":
            raise ConnectionRefused(
                f"certificate {certificate.certificate_id} is {certificate.status} in {region}"
            )
        ca_id = certificate.ca_certificate_id
        if ca_id and ca_id in backend.ca_certificates:
            ca_status = backend.ca_certificates[ca_id].status
            if ca_status != "ACTIVE":
                raise ConnectionRefused(f"issuing CA {ca_id} is {ca_status} in {region}")
        thing_arn = f"arn:aws:iot:{region}:{self.account_id}:thing/{client_id}"
        attached = (certificate.arn, client_id) in backend.principal_things and (
            thing_arn in backend.things
        )
        context = RequestContext(client_id=client_id, thing_name=client_id if attached else None)
        resource = f"arn:aws:iot:{region}:{self.account_id}:client/{client_id}"
        if not is_allowed(self._policies(backend, certificate.arn), "iot:Connect", resource, context):
            raise ConnectionRefused(
                f"not authorized: iot:Connect on {resource} is not allowed by the policies "
                f"attached to certificate {certificate.certificate_id}"
            )
        return Connection(
            region=region,
            client_id=client_id,
            certificate_id=certificate.certificate_id,
            certificate_arn=certificate.arn,
            thing_name=context.thing_name,
        )

    def _auto_register(
        self, region: str, backend: IoTBackend, certificate_pem: str, parsed: _ParsedCertificate
    ) -> bool:
        """Auto-register (and, with a JITP template on the CA, provision); True when JITP provisioned it."""
        ca = signing_ca(backend, parsed.certificate)
        if ca is None:
            raise ConnectionRefused(
                f"TLS handshake failed: certificate {parsed.certificate_id} is not registered in "
                f"{region} and no CA registered there signed it"
            )
        if ca.status != "ACTIVE":
            raise ConnectionRefused(f"TLS handshake failed: issuing CA {ca.certificate_id} is {ca.status}")
        if getattr(ca, "auto_registration_status", "ENABLE") != "ENABLE":
            raise ConnectionRefused(
                f"TLS handshake failed: certificate {parsed.certificate_id} is not registered and "
                f"CA {ca.certificate_id} does not allow auto-registration"
            )
        registered = backend.register_certificate(
            certificate_pem, ca.certificate_pem, False, "PENDING_ACTIVATION"
        )
        if registered.ca_certificate_id is None:
            registered.ca_certificate_id = ca.certificate_id
        self.stats.auto_registered += 1
        self._registered_ms[(region, registered.certificate_id)] = self.clock_ms()
        jitp = provisioning.jitp_template(ca) is not None
        if not jitp or self.assumptions.jitp_registration_event == "published":  # docs/emulator.md, register
            self._publish_registered(region, backend, registered, parsed)
        # JITP: a CA whose registration config carries a template provisions the device now (services/iot/provisioning.py)
        provisioned = provisioning.provision_jitp(backend, ca, registered, parsed.certificate,
                                                  assumptions=self.assumptions)
        if provisioned is not None:
            self.stats.jitp_provisioned += 1
        return provisioned is not None and "error" not in provisioned

    def _publish_registered(
        self, region: str, backend: IoTBackend, certificate: FakeCertificate, parsed: _ParsedCertificate
    ) -> None:
        """The JITR event for a PENDING_ACTIVATION certificate, unless certificate events are off."""
        if not self._certificate_events_enabled(backend):
            return
        ca_id = certificate.ca_certificate_id
        if ca_id is None:
            ca = signing_ca(backend, parsed.certificate)
            if ca is None:
                return  # no CA to publish under: AWS's topic is per CA
            ca_id = ca.certificate_id
        now = self.clock_ms()
        registered_ms = self._registered_ms.get((region, certificate.certificate_id))
        if registered_ms is None:  # registered through the API, not by this data plane
            registered_ms = int(certificate.creation_date.replace(tzinfo=UTC).timestamp() * 1000)
        event = {
            "certificateId": certificate.certificate_id,
            "caCertificateId": ca_id,
            "timestamp": now,
            "certificateStatus": "PENDING_ACTIVATION",
            "awsAccountId": self.account_id,
            "certificateRegistrationTimestamp": str(registered_ms),
        }
        self.stats.jitr_events += 1
        self.publish_internal(region, JITR_TOPIC.format(ca_id=ca_id), event)

    # publish ------------------------------------------------------------------------
    def _check_open(self, connection: Connection) -> FakeCertificate:
        if not connection.open:
            raise PublishRefused(f"connection of {connection.client_id} is closed")
        backend = self.backend(connection.region)
        certificate = backend.certificates.get(connection.certificate_id)
        if certificate is None or certificate.status != "ACTIVE":
            connection.open = False
            raise PublishRefused(
                f"certificate {connection.certificate_id} is no longer ACTIVE; disconnected"
            )
        return certificate

    def _authorize(self, connection: Connection, action: str, resource_suffix: str) -> None:
        backend = self.backend(connection.region)
        resource = f"arn:aws:iot:{connection.region}:{self.account_id}:{resource_suffix}"
        context = RequestContext(connection.client_id, connection.thing_name)
        if not is_allowed(self._policies(backend, connection.certificate_arn), action, resource, context):
            connection.open = False
            raise PublishRefused(f"not authorized: {action} on {resource}; disconnected")

    def publish(self, connection: Connection, topic: str, payload: bytes | str | dict[str, Any]) -> int:
        """A device publish: size limit, policy check, then the region's rules; returns rules matched."""
        raw = self.check_publish(connection, topic, payload)
        self.stats.published += 1
        return self._run_rules(connection.region, topic, payload, connection.client_id, raw)

    def check_publish(self, connection: Connection, topic: str, payload: bytes | str | dict[str, Any]) -> bytes:
        """What a device publish must pass before anything handles it (open connection, topic, size, ``iot:Publish``);
        returns the payload's bytes. Raises :class:`PublishRefused` (the connection is then closed)."""
        self._check_open(connection)
        if not topic or "+" in topic or "#" in topic or "\x00" in topic:
            raise PublishRefused(f"invalid topic {topic!r} for PUBLISH")
        limit = topic_limit_error(topic)
        if limit is not None:
            connection.open = False
            raise PublishRefused(f"{limit}; disconnected")
        if topic.startswith("$aws/events/"):
            connection.open = False
            raise PublishRefused(f"{topic!r} is reserved for AWS IoT; disconnected")
        raw = payload_bytes(payload)
        if len(raw) > MQTT_MAX_PAYLOAD_BYTES:
            connection.open = False
            self.stats.refused_oversized += 1
            raise PublishRefused(
                f"CLIENT_ERROR PAYLOAD_LIMIT_EXCEEDED: Message payload exceeds size limit for message type "
                f"({len(raw)} bytes > {MQTT_MAX_PAYLOAD_BYTES}, AWS IoT's 128 KB); disconnected. Send smaller "
                "messages (split the data, or store large data in S3 and publish its key)")
        self._authorize(connection, "iot:Publish", f"topic/{topic}")
        return raw

    def check_retain(self, connection: Connection, topic: str) -> None:
        """A PUBLISH (or a will) with the RETAIN flag also needs ``iot:RetainPublish`` on ``topic/<topic>``
        (https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html), and no reserved topic can be
        retained (https://docs.aws.amazon.com/iot/latest/developerguide/mqtt.html#mqtt-retain). Raises
        :class:`PublishRefused` (the connection is then closed)."""
        if topic.startswith("$"):
            connection.open = False
            raise PublishRefused(f"{topic!r} is a reserved topic: it cannot be retained; disconnected")
        self._authorize(connection, "iot:RetainPublish", f"topic/{topic}")

    def subscribe(self, connection: Connection, topic_filter: str) -> None:
        """A device subscribe: ``iot:Subscribe`` on ``topicfilter/<filter>`` (delivery: ``localcloud.services.iot.mqtt``)."""
        self._check_open(connection)
        limit = topic_limit_error(topic_filter, "topic filter")
        if limit is not None:
            raise PublishRefused(limit)
        iot_sql.validate_topic_filter(topic_filter)
        self._authorize(connection, "iot:Subscribe", f"topicfilter/{topic_filter}")

    def may_receive(self, connection: Connection, topic: str) -> bool:
        """``iot:Receive`` on ``topic/<topic>`` for a subscribed connection: deliver only when allowed.

        IoT Core checks Receive every time it delivers a message to a client (so revoking it stops a current
        subscriber; https://docs.aws.amazon.com/iot/latest/developerguide/iot-policy-actions.html); a refusal drops that
        message for that client and keeps it connected. A connection whose certificate is no longer ACTIVE
        receives nothing."""
        backend = self.backend(connection.region)
        certificate = backend.certificates.get(connection.certificate_id)
        if not connection.open or certificate is None or certificate.status != "ACTIVE":
            return False
        resource = f"arn:aws:iot:{connection.region}:{self.account_id}:topic/{topic}"
        context = RequestContext(connection.client_id, connection.thing_name)
        return is_allowed(self._policies(backend, connection.certificate_arn), "iot:Receive", resource, context)

    def publish_internal(self, region: str, topic: str, payload: dict[str, Any]) -> int:
        """The service publishing its own event (no policy applies); returns rules matched."""
        self.published_events.append((region, topic, payload))
        return self._run_rules(region, topic, payload, client_id=None, raw=payload_bytes(payload))

    def _query(self, region: str, rule: Any) -> iot_sql.Query:
        key = (region, rule.rule_name, rule.sql)
        query = self._queries.get(key)
        if query is None:
            query = self._queries[key] = iot_sql.parse(rule.sql, rule.aws_iot_sql_version)
        return query

    def get_dynamodb_item(self, region: str, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
        """GetItem for IoT SQL's ``get_dynamodb()``: the item of ``table_name`` in ``region`` as plain JSON, or
        ``None`` when there is none.

        ``key`` maps the key attributes' names to plain values, which become ``S``/``N`` attribute values by the
        table's key schema; key names that are not exactly the table's key, or a value of another type than
        its schema's, are DynamoDB's ValidationException ("The provided key element does not match the
        schema"). A missing table raises moto's ResourceNotFoundException. The role ARN is not checked (no IAM
        is emulated), so it is not a parameter."""
        backend = dynamodb_backends[self.account_id][region]
        table = backend.get_table(table_name)
        schema = {table.hash_key_attr: table.hash_key_type}
        if table.range_key_attr is not None:
            schema[table.range_key_attr] = str(table.range_key_type)
        mismatch = DynamoDBValidationError("ValidationException: The provided key element does not match the "
                                           f"schema (table key {schema}, given {key!r})")
        if set(key) != set(schema):
            raise mismatch
        attributes: dict[str, Any] = {}
        for name, value in key.items():
            if schema[name] == "S" and isinstance(value, str):
                attributes[name] = {"S": value}
            elif schema[name] == "N" and isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[name] = {"N": str(value)}
            else:
                raise mismatch
        item = backend.get_item(table.name, attributes)
        if item is None:
            return None
        return {name: from_dynamodb_json(value) for name, value in item.to_json()["Attributes"].items()}

    def _dynamodb_lookup(self, region: str) -> iot_sql.DynamoDbLookup:
        """The ``get_dynamodb()`` lookup of a rule in ``region``: counted; a failed GetItem, and a missing item
        under the default assumption, is a RuleFunctionError."""
        def lookup(table_name: str, key: dict[str, Any], role_arn: str) -> dict[str, Any] | None:
            self.stats.dynamodb_lookups += 1
            try:
                item = self.get_dynamodb_item(region, table_name, key)
            except Exception as error:
                raise RuleFunctionError(f"function getdynamodb failed to execute: get_dynamodb({table_name!r}, "
                                        f"key {key!r}): {type(error).__name__}: {error}") from error
            if item is None and self.assumptions.get_dynamodb_missing_item == "function_error":
                raise RuleFunctionError(f"function getdynamodb failed to execute: not able to retrieve the "
                                        f"requested item (table {table_name!r}, key {key!r})")
            return item
        return lookup

    def _run_rules(self, region: str, topic: str, payload: Any, client_id: str | None, raw: bytes) -> int:
        undecodable: str | None = None
        try:
            document = iot_sql.decode_payload(payload)
        except (RecursionError, MemoryError) as error:  # JSON nested deeper than Python's parser goes
            document, undecodable = None, f"payload could not be evaluated: {type(error).__name__}: {error}"
        matched = 0
        timestamp = self.clock_ms()
        for rule in list(self.backend(region).rules.values()):
            if rule.rule_disabled:
                continue
            query = self._query(region, rule)
            if not query.matches_topic(topic):
                continue
            error = undecodable
            unparsed = undecodable is not None
            result = None
            if error is None:
                try:
                    result = query.evaluate(
                        document,
                        topic,
                        client_id=client_id,
                        timestamp_ms=timestamp,
                        new_uuid=lambda: str(mock_random.uuid4()),
                        get_dynamodb=self._dynamodb_lookup(region) if query.dynamodb_lookups else None,
                    )
                except (RecursionError, MemoryError) as failure:
                    error = f"payload could not be evaluated: {type(failure).__name__}: {failure}"
                    unparsed = True
                except RuleFunctionError:  # FunctionExecution: the rule matches nothing, no error action
                    self.stats.sql_function_errors += 1
                    continue
                except iot_sql.IotSqlError as failure:  # e.g. a non-string table name
                    error = f"rule SQL could not be evaluated: {type(failure).__name__}: {failure}"
                if error is None and result is None:
                    continue
            if unparsed and self.assumptions.undecodable_payload == "no_error_action":
                self.stats.undecodable_payloads += 1  # an evaluation problem: no match, no error action (register)
                continue
            matched += 1
            self.stats.rule_matches += 1
            actions = [(t, p) for action in rule.actions for t, p in action.items()]
            invocation = RuleInvocation(region, rule.rule_name, topic, client_id, raw,
                                        dict(rule.error_action or {}), remaining=len(actions))
            for action_type, parameters in actions:
                self.queue.append(RuleAction(region, rule.rule_name, action_type, parameters, result,
                                             invocation, error))
        return matched

    # actions ------------------------------------------------------------------------
    def pending(self) -> int:
        return len(self.queue)

    def settle(self, limit: int | None = None) -> int:
        """Run queued rule actions (at most ``limit``); return how many succeeded."""
        done = 0
        while self.queue and (limit is None or done < limit):
            action = self.queue.popleft()
            try:
                if action.error is not None:
                    raise ActionError(action.error)
                self._run_action(action)
                done += 1
            except Exception as error:  # noqa: BLE001 - every failure goes to the rule's errorAction
                reason = f"{type(error).__name__}: {error}"
                self.stats.failed_actions += 1
                self.failures.append(ActionFailure(action.rule_name, action.action_type, reason))
                if action.invocation is not None:
                    action.invocation.failures.append({
                        "failedAction": FAILED_ACTION_NAMES.get(
                            action.action_type, action.action_type[:1].upper() + action.action_type[1:] + "Action"),
                        "failedResource": _failed_resource(action),
                        "errorMessage": reason,
                    })
            invocation = action.invocation
            if invocation is not None:
                invocation.remaining -= 1
                if invocation.remaining == 0 and invocation.failures:
                    self._run_error_action(invocation)
        return done

    def error_message(self, invocation: RuleInvocation) -> dict[str, Any]:
        """AWS's error-action message for one rule and one message (rule-error-handling.html)."""
        message: dict[str, Any] = {
            "ruleName": invocation.rule_name,
            "topic": invocation.topic,
            "cloudwatchTraceId": str(mock_random.uuid4()),
            "clientId": invocation.client_id or "",
            "base64OriginalPayload": base64.b64encode(invocation.payload).decode("ascii"),
            "failures": list(invocation.failures),
        }
        return message

    def _run_error_action(self, invocation: RuleInvocation) -> None:
        """Deliver the error message; a failing (or missing) error action leaves only the in-memory record."""
        if not invocation.error_action:
            return
        ((action_type, parameters),) = invocation.error_action.items()
        body = json.dumps(self.error_message(invocation))
        try:
            if action_type == "sqs":
                url = parameters["queueUrl"]
                if parameters.get("useBase64"):
                    body = base64.b64encode(body.encode("utf-8")).decode("ascii")
                region = _url_region(url) or invocation.region
                sqs_backends[self.account_id][region].send_message(url.rstrip("/").rsplit("/", 1)[1], body)
            elif action_type == "cloudwatchLogs":
                logs = logs_backends[self.account_id][invocation.region]
                group = parameters["logGroupName"]
                stream = f"{invocation.rule_name}-errors"
                if stream not in logs.groups[group].streams:
                    logs.create_log_stream(group, stream)
                logs.put_log_events(group, stream, [{"timestamp": self.clock_ms(), "message": body}])
            else:
                raise NotImplementedError(f"error action {action_type!r} is not emulated; supported: sqs, "
                                          "cloudwatchLogs")
            self.stats.error_actions += 1
        except Exception as error:  # noqa: BLE001 - AWS drops the message (it logs when IoT logging is on)
            self.stats.failed_error_actions += 1
            self.failures.append(ActionFailure(invocation.rule_name, f"errorAction:{action_type}",
                                               f"{type(error).__name__}: {error}"))

    def _run_action(self, action: RuleAction) -> None:
        region = action.region
        if action.action_type == "stepFunctions":
            machine = action.action["stateMachineName"]
            arn = f"arn:aws:states:{region}:{self.account_id}:stateMachine:{machine}"
            refused = interception.service_refusal(interception.Call("sfn", "StartExecution", region))
            if refused is not None:  # the account's StartExecution quota: a failed action, so the error action runs
                self.stats.throttled_starts += 1
                raise ActionThrottled(f"{refused}: Rate exceeded (states:StartExecution on {arn})")
            name = f"{action.action.get('executionNamePrefix', '')}{mock_random.uuid4()}"
            execution = sfn_backend(self.account_id, region).start_execution(
                arn, name[:80], json.dumps(action.result)
            )
            self.started_executions.append(execution.execution_arn)
            if self.on_execution is not None:
                self.on_execution(execution)
            self.stats.executions_started += 1
        elif action.action_type == "dynamoDBv2":
            table = action.action["putItem"]["tableName"]
            item = {k: to_dynamodb_json(v) for k, v in action.result.items()}
            dynamodb_backends[self.account_id][region].put_item(table, item)
            self.stats.items_written += 1
        elif action.action_type == "lambda":
            if self.lambda_invoker is None:
                raise RuntimeError(
                    f"lambda action {action.action['functionArn']} needs an in-process invoker: "
                    "pass IotCore(lambda_invoker=...)"
                )
            self.lambda_invoker(region, action.action["functionArn"], action.result)
            self.stats.lambdas_invoked += 1
        else:
            raise NotImplementedError(
                f"rule action {action.action_type!r} is not emulated; supported: stepFunctions, "
                "dynamoDBv2, lambda"
            )


class ActionError(Exception):
    """A rule action that could not run because its message could not be evaluated."""


class ActionThrottled(Exception):
    """The account's quota for the API an action calls refused it (a ThrottlingException): the action failed."""


def payload_bytes(payload: bytes | str | dict[str, Any] | list[Any]) -> bytes:
    """The bytes on the wire: what the size limit counts and the error message carries (base64)."""
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload).encode("utf-8")


def _failed_resource(action: RuleAction) -> str:
    parameters = action.action
    if action.action_type == "dynamoDBv2":
        return str(parameters.get("putItem", {}).get("tableName", ""))
    if action.action_type == "stepFunctions":
        return str(parameters.get("stateMachineName", ""))
    if action.action_type == "lambda":
        return str(parameters.get("functionArn", ""))
    return str(next(iter(parameters.values()), "")) if parameters else ""


def _url_region(url: str) -> str | None:
    """The region of an SQS queue URL (``https://sqs.<region>.amazonaws.com/<account>/<name>``)."""
    found = re.search(r"sqs\.([a-z0-9-]+)\.amazonaws", url)
    return found.group(1) if found else None


def connect_with_backoff(
    core: IotCore,
    region: str,
    certificate_pem: str,
    client_id: str,
    *,
    settle: Callable[[], Any],
    attempts: int = 5,
    backoff: Callable[[int], None] = lambda attempt: None,
) -> Connection:
    """The device's firmware loop: connect; when refused, back off and retry.

    ``settle`` lets the cloud move while the device waits (run the JITR machine, replicate,
    ...); ``backoff(attempt)`` may sleep in real time. The returned connection records how
    many attempts it took; after ``attempts`` refusals the last refusal is raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    last: ConnectionRefused | None = None
    for attempt in range(1, attempts + 1):
        try:
            connection = core.connect(region, certificate_pem, client_id)
            connection.attempts = attempt
            return connection
        except ConnectionRefused as refused:
            last = refused
            if attempt < attempts:
                backoff(attempt)
                settle()
    assert last is not None
    raise last


__all__ = [
    "ConnectionRefused",
    "PublishRefused",
    "Connection",
    "IotCore",
    "connect_with_backoff",
    "payload_bytes",
    "to_dynamodb_json",
    "MQTT_MAX_PAYLOAD_BYTES",
]
