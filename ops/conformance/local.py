"""``LocalWorld``: the probes against the local cloud (``LocalCloud``: moto, the named fixes, the engines).

The control-plane calls are the probes' own boto3 calls, answered by moto with the local cloud's fixes. The rest is
the local cloud's code, as AWS would run it:

* a publish goes to the rules engine (``IotCore.publish_internal``: moto's iot-data runs no rules), and the world's
  ``sleep`` settles the engines (rule actions, error actions) and counts virtual seconds;
* an MQTT connection is ``IotCore.connect`` (JITR, policies), its fleet provisioning requests are answered by
  ``FleetProvisioning.answer`` as the served endpoints answer them (``localcloud/services/iot/mqtt/broker.py``);
* provisioning templates and certificate providers are kept by ``localcloud.services.iot.fleet_resources`` (moto
  has neither); a Lambda function's handler runs in-process (``localcloud.services.awslambda.inprocess``);
* the TLS probe talks to the served MQTT endpoint (``MqttEndpoints``, started for the handshake only).

One gap of the local cloud is filled here, and only while a CreateCertificateFromCsr request is answered in a
region without a certificate provider: AWS then signs with its own CA, which the local cloud does not model
("Fleet provisioning over MQTT", not modelled); a stand-in provider signs with a throw-away CA for that request.
"""
from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from localcloud.assumptions import AWS_AS_REPORTED, Assumptions
from ops.conformance import certs
from ops.conformance.world import MqttSession, Refused, TlsTarget, World, tls_attempt

STAND_IN = "localcloud-amazon-ca-stand-in"


def _client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _aws_managed_policy(account_id: str, name: str) -> None:
    """Make one AWS managed policy attachable, as it is in every account (moto loads none of them by default:
    ``iam.load_aws_managed_policies`` is off, and loading them all costs seconds)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[account_id]["aws"]
    policy = AWSManagedPolicy.from_data(name, account_id, "aws", json.loads(aws_managed_policies_data)[name])
    backend.managed_policies.setdefault(policy.arn, policy)


class LocalSession:
    """One device connection to the local cloud's IoT Core, speaking the fleet provisioning MQTT API."""

    def __init__(self, world: LocalWorld, region: str, certificate_pem: str, client_id: str) -> None:
        from localcloud.services.iot.core import ConnectionRefused

        self.world, self.region = world, region
        self.core = world.cloud.engines.iot
        self.filters: list[str] = []
        try:
            self.connection = self.core.connect(region, certificate_pem, client_id)
        except ConnectionRefused as refused:
            raise Refused(refused.reason) from None

    def subscribe(self, topic_filter: str) -> None:
        from localcloud.services.iot.core import PublishRefused

        try:
            self.core.subscribe(self.connection, topic_filter)
        except PublishRefused as refused:
            raise Refused(str(refused)) from None
        self.filters.append(topic_filter)

    def request(self, topic: str, payload: dict[str, Any], timeout_s: float = 10.0) -> tuple[str, dict[str, Any]]:
        from builders.fleet import CREATE_FROM_CSR
        from localcloud.services.iot import sql
        from localcloud.services.iot.core import PublishRefused

        fleet = self.world.fleet
        try:
            if not fleet.is_request(topic):
                self.core.publish(self.connection, topic, payload)
                raise Refused(f"no reply to {topic}: it is not a request of the fleet provisioning API")
            with self.world.amazon_ca(self.region) if topic == CREATE_FROM_CSR else _nothing():
                reply_topic, reply = fleet.answer(self.connection, topic, json.dumps(payload))
        except PublishRefused as refused:
            raise Refused(str(refused)) from None
        if not any(sql.topic_matches(f, reply_topic) for f in self.filters):
            raise Refused(f"no reply to {topic} within {timeout_s:g} s (not subscribed to {reply_topic})")
        if not self.core.may_receive(self.connection, reply_topic):
            raise Refused(f"no reply to {topic}: iot:Receive on {reply_topic} is not allowed")
        return reply_topic, reply

    def close(self) -> None:
        self.connection.open = False


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class LocalWorld(World):
    """The local cloud in this process (``with LocalWorld(...) as world``)."""

    mode = "local"

    def __init__(self, region: str, partner_region: str, *, assumptions: Assumptions = AWS_AS_REPORTED,
                 state_dir: Path | None = None) -> None:
        from localcloud.cloud import LocalCloud

        self.region, self.partner_region = region, partner_region
        self.cloud = LocalCloud(assumptions=assumptions, state_dir=state_dir)
        self._clock = 0.0
        self._clients: dict[tuple[str, str], Any] = {}
        self._stand_in: certs.Material | None = None

    def __enter__(self) -> LocalWorld:
        from localcloud.services.iot.fleet import FleetProvisioning

        self.cloud.start()
        try:
            self.fleet = FleetProvisioning(self.cloud.engines.iot)
            identity = self.client("sts").get_caller_identity()
            self.account_id, self.partition = identity["Account"], identity["Arn"].split(":")[1]
            _aws_managed_policy(self.account_id, "AWSIoTThingsRegistration")
        except BaseException:
            self.cloud.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cloud.stop()

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self._watch(boto3.client(service, region_name=key[1]))
        return self._clients[key]

    def sleep(self, seconds: float) -> None:
        self._clock += seconds
        self.cloud.settle()

    def now(self) -> float:
        return self._clock

    def publish(self, region: str, topic: str, payload: dict[str, Any]) -> None:
        self.cloud.engines.iot.publish_internal(region, topic, payload)

    def mqtt(self, region: str, certificate_pem: str, key_pem: str, client_id: str,
             chain_pem: str = "") -> MqttSession:
        return LocalSession(self, region, certificate_pem, client_id)

    def tls_target(self, region: str, domain_configuration_name: str) -> TlsTarget:
        self.client("iot", region).describe_domain_configuration(domainConfigurationName=domain_configuration_name)
        return TlsTarget("127.0.0.1", 0, self.cloud.domain, verify=False)  # the port: see tls_handshake

    def tls_handshake(self, target: TlsTarget, version: ssl.TLSVersion) -> tuple[str, str]:
        """The handshake against the region's served MQTT endpoint, started for it alone (its settler thread
        must not run beside the probes' own calls into moto)."""
        from localcloud.services.iot.mqtt.endpoints import MqttEndpoints

        region = self.region if self.region in self.cloud.regions else self.cloud.regions[0]
        with MqttEndpoints(self.cloud, ports={r: 0 for r in self.cloud.regions}, resolver_port=0) as endpoints:
            return tls_attempt(TlsTarget(target.host, endpoints.port(region), target.server_name, False), version)

    def function_created(self, region: str, name: str, handler: str) -> None:
        from localcloud.services.awslambda import inprocess as lambda_inprocess

        lambda_inprocess.register(name, handler)

    # what moto lacks: the local cloud's fleet_resources ---------------------------------------------------------
    def create_provisioning_template(self, region: str, **request: Any) -> str:
        from localcloud.services.iot import fleet_resources

        name = request["templateName"]
        if name in fleet_resources.templates(self.account_id, region):
            raise _client_error("ResourceAlreadyExistsException", f"template {name} exists",
                                "CreateProvisioningTemplate")
        inputs = {"name": name, "templateBody": request["templateBody"], "enabled": request.get("enabled", False),
                  "provisioningRoleArn": request["provisioningRoleArn"], "type": request.get("type"),
                  "preProvisioningHook": request.get("preProvisioningHook")}
        _, outputs = fleet_resources.provisioning_template(self.account_id, region, name, inputs)
        return outputs["arn"]

    def delete_provisioning_template(self, region: str, name: str) -> None:
        from localcloud.services.iot import fleet_resources

        if fleet_resources.templates(self.account_id, region).pop(name, None) is None:
            raise _client_error("ResourceNotFoundException", f"no template {name}", "DeleteProvisioningTemplate")

    def provisioning_templates(self, region: str) -> list[str]:
        from localcloud.services.iot import fleet_resources

        return list(fleet_resources.templates(self.account_id, region))

    def create_certificate_provider(self, region: str, **request: Any) -> str:
        from localcloud.services.iot import fleet_resources

        refusals = tuple(c for c in (NotImplementedError, getattr(fleet_resources, "CertificateProviderExists", None))
                         if c is not None)
        try:
            _, outputs = fleet_resources.aws_native_certificate_provider(self.account_id, region,
                                                                         request["certificateProviderName"], request)
        except refusals as refused:  # the local cloud's refusal: one provider per account (or region)
            raise _client_error("ResourceAlreadyExistsException", str(refused), "CreateCertificateProvider") from None
        return outputs["arn"]

    def delete_certificate_provider(self, region: str, name: str) -> None:
        from localcloud.services.iot import fleet_resources
        from moto.iot.models import iot_backends

        provider = fleet_resources.certificate_provider(self.account_id, region)
        if provider is None or provider["name"] != name:
            raise _client_error("ResourceNotFoundException", f"no certificate provider {name}",
                                "DeleteCertificateProvider")
        delattr(iot_backends[self.account_id][region], fleet_resources.PROVIDER)

    def certificate_providers(self, region: str) -> list[str]:
        from localcloud.services.iot import fleet_resources

        provider = fleet_resources.certificate_provider(self.account_id, region)
        return [provider["name"]] if provider else []

    def ca_certificates(self, region: str) -> list[tuple[str, str]]:
        from moto.iot.models import iot_backends  # moto has no ListCACertificates

        return [(ca.certificate_id, ca.arn) for ca in iot_backends[self.account_id][region].ca_certificates.values()]

    @contextmanager
    def amazon_ca(self, region: str) -> Iterator[None]:
        """AWS's own CA for one CreateCertificateFromCsr in a region without a certificate provider (a stand-in)."""
        from localcloud.services.iot import fleet_resources
        from localcloud.services.awslambda import inprocess as lambda_inprocess
        from moto.iot.models import iot_backends

        if fleet_resources.certificate_provider(self.account_id, region) is not None:
            yield
            return
        if self._stand_in is None:
            self._stand_in = certs.new_ca("Amazon CA stand-in (local cloud)")
        authority = self._stand_in
        lambda_ = self.client("lambda", region)
        try:
            arn = lambda_.get_function(FunctionName=STAND_IN)["Configuration"]["FunctionArn"]
        except ClientError:
            iam = self.client("iam")
            try:
                role = iam.get_role(RoleName=STAND_IN)["Role"]["Arn"]
            except ClientError:
                role = iam.create_role(RoleName=STAND_IN, AssumeRolePolicyDocument=json.dumps({
                    "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                           "Principal": {"Service": "lambda.amazonaws.com"}}]}))[
                    "Role"]["Arn"]
            arn = lambda_.create_function(FunctionName=STAND_IN, Runtime="python3.12", Role=role, Handler="x.handler",
                                          Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})["FunctionArn"]
        lambda_inprocess.register(STAND_IN, lambda event, context: {
            "certificatePem": certs.sign_csr(authority, event["certificateSigningRequest"])})
        backend = iot_backends[self.account_id][region]
        setattr(backend, fleet_resources.PROVIDER, {"name": STAND_IN, "arn": "", "lambdaFunctionArn": arn,
                                                    "accountDefaultForOperations": ["CreateCertificateFromCsr"]})
        try:
            yield
        finally:
            delattr(backend, fleet_resources.PROVIDER)
