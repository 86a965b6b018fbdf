"""Where the probes run: AWS (``LiveWorld``) or the local cloud (``ops.conformance.local.LocalWorld``).

Probes make their control-plane calls through ``world.client(service, region)``: the same boto3 calls reach AWS or
moto inside the local cloud, so the local run checks the very calls a live run makes. The world supplies only what
the two places do differently:

* time: ``sleep``/``now`` (live: the wall clock; local: a settle of the local cloud's engines, and virtual seconds);
* the data plane: ``publish`` (live: IoT's HTTPS publish; local: the rules engine), ``mqtt`` (live: MQTT over TLS to
  the account's ATS endpoint with ``device.session``; local: ``IotCore.connect`` and the fleet provisioning MQTT API
  as the served endpoints answer it), ``tls_target`` (the endpoint whose TLS versions are probed);
* what moto lacks and the local cloud keeps elsewhere: provisioning templates and certificate providers
  (``localcloud.services.iot.fleet_resources``), Lambda handlers run in-process (``function_created``).
"""
from __future__ import annotations

import json
import queue
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

#: How long a new IAM role may take to be usable by another service (IAM is eventually consistent:
#: "Changes that I make are not always immediately visible", IAM user guide, troubleshooting). An estimate.
IAM_PROPAGATION_S = 10.0
#: How long a new topic rule may take to see its first message (rules are not documented to apply at once). An estimate.
RULE_PROPAGATION_S = 10.0
MQTT_PORT = 8883


class Call(NamedTuple):
    """One SDK call a world's client made: botocore validated ``params`` against the service model first."""

    service: str  # botocore's service name: iot, iot-data, iam, lambda, dynamodb, sqs, sts
    operation: str  # the model's operation name: CreateTopicRule
    params: dict[str, Any]


class Refused(Exception):
    """The endpoint did not let the client in; ``reason`` says how it showed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MqttSession(Protocol):
    def subscribe(self, topic_filter: str) -> None: ...

    def request(self, topic: str, payload: dict[str, Any], timeout_s: float = 10.0) -> tuple[str, dict[str, Any]]:
        """Publish ``payload`` (JSON) and return the first reply on ``<topic>/accepted`` or ``<topic>/rejected``."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TlsTarget:
    host: str
    port: int
    server_name: str
    verify: bool  # check the server certificate against the system's trust store (AWS); not on loopback


class World:
    """The common surface; ``mode`` is ``"live"`` or ``"local"``."""

    mode = "abstract"
    region: str
    partner_region: str
    account_id: str = ""
    partition: str = "aws"

    def client(self, service: str, region: str | None = None) -> Any:
        raise NotImplementedError

    def _watch(self, client: Any) -> Any:
        """Record every call the client makes once botocore has validated its parameters against the service model
        (``before-call`` is emitted after validation; the parameters are those ``before-parameter-build`` saw):
        ``calls`` is the run's ledger."""
        service = client.meta.service_model.service_name
        if not hasattr(self, "calls"):
            self.calls: list[Call] = []
        pending: dict[str, dict[str, Any]] = {}

        def given(model: Any, params: dict[str, Any], **_: Any) -> None:
            pending[model.name] = dict(params)

        def validated(model: Any, **_: Any) -> None:
            self.calls.append(Call(service, model.name, pending.pop(model.name, {})))

        client.meta.events.register("before-parameter-build", given)
        client.meta.events.register_first("before-call", validated)
        return client

    def sleep(self, seconds: float) -> None:
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError

    def settle_iam(self) -> None:
        """Wait until roles created just now can be assumed by the services that use them."""

    def settle_rules(self) -> None:
        """Wait until topic rules created just now match messages."""

    def publish(self, region: str, topic: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def mqtt(self, region: str, certificate_pem: str, key_pem: str, client_id: str,
             chain_pem: str = "") -> MqttSession:
        """An MQTT connection with a client certificate; raises :class:`Refused`."""
        raise NotImplementedError

    def tls_target(self, region: str, domain_configuration_name: str) -> TlsTarget:
        raise NotImplementedError

    def tls_handshake(self, target: TlsTarget, version: ssl.TLSVersion) -> tuple[str, str]:
        return tls_attempt(target, version)

    def function_created(self, region: str, name: str, handler: str) -> None:
        """A Lambda function was created whose code is ``handler`` (``module:function``)."""

    # what moto lacks ---------------------------------------------------------------------------------------
    def create_provisioning_template(self, region: str, **request: Any) -> str:
        return self.client("iot", region).create_provisioning_template(**request)["templateArn"]

    def delete_provisioning_template(self, region: str, name: str) -> None:
        self.client("iot", region).delete_provisioning_template(templateName=name)

    def provisioning_templates(self, region: str) -> list[str]:
        names = []
        for page in self.client("iot", region).get_paginator("list_provisioning_templates").paginate():
            names += [t["templateName"] for t in page.get("templates", [])]
        return names

    def create_certificate_provider(self, region: str, **request: Any) -> str:
        return self.client("iot", region).create_certificate_provider(**request)["certificateProviderArn"]

    def delete_certificate_provider(self, region: str, name: str) -> None:
        self.client("iot", region).delete_certificate_provider(certificateProviderName=name)

    def certificate_providers(self, region: str) -> list[str]:
        names, token = [], None
        while True:
            page = self.client("iot", region).list_certificate_providers(**({"nextToken": token} if token else {}))
            names += [p["certificateProviderName"] for p in page.get("certificateProviders", [])]
            token = page.get("nextToken")
            if not token:
                return names

    def ca_certificates(self, region: str) -> list[tuple[str, str]]:
        """(id, ARN) of every CA certificate registered in ``region``."""
        iot = self.client("iot", region)
        return [(ca["certificateId"], ca["certificateArn"])
                for page in iot.get_paginator("list_ca_certificates").paginate() for ca in page.get("certificates", [])]

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def tls_attempt(target: TlsTarget, version: ssl.TLSVersion, timeout_s: float = 10.0) -> tuple[str, str]:
    """A TLS handshake offering only ``version``: ``("accepted", negotiated)``, ``("refused", why)`` or
    ``("error", why)`` (no answer at all, or the server's certificate did not verify: nothing learnt)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = context.maximum_version = version
    if target.verify:
        context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout_s) as raw:
            with context.wrap_socket(raw, server_hostname=target.server_name) as tls:
                return "accepted", str(tls.version())
    except ssl.SSLCertVerificationError as error:
        return "error", f"server certificate: {error.verify_message}"
    except ssl.SSLError as error:
        return "refused", f"{error.reason or error}"
    except ConnectionResetError as error:  # a server that closes the socket on the ClientHello refused it too
        return "refused", f"connection reset: {error}"
    except OSError as error:
        return "error", f"{type(error).__name__}: {error}"


# -- AWS ---------------------------------------------------------------------------------------------------------
class DeviceSession:
    """``device.session.Session`` (paho-mqtt, TLS 1.3, client certificate) as an :class:`MqttSession`."""

    def __init__(self, host: str, certificate_file: Any, key_file: Any, client_id: str, timeout_s: float = 10.0):
        from device.endpoint import Endpoint
        from device.session import Identity, Refused as DeviceRefused, Session

        self._replies: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._session = Session(Endpoint(host, MQTT_PORT, host), Identity(client_id, certificate_file, key_file, None),
                                on_message=lambda topic, payload: self._replies.put((topic, payload)),
                                timeout_s=timeout_s)
        try:
            self._session.open()
        except DeviceRefused as refused:
            raise Refused(refused.reason) from None

    def subscribe(self, topic_filter: str) -> None:
        granted = self._session.subscribe(topic_filter, qos=1)
        if granted == 0x80:
            raise Refused(f"SUBSCRIBE {topic_filter} refused (SUBACK 0x80)")

    def request(self, topic: str, payload: dict[str, Any], timeout_s: float = 10.0) -> tuple[str, dict[str, Any]]:
        from device.session import Lost

        try:
            self._session.publish(topic, json.dumps(payload), qos=1)
        except Lost as lost:
            raise Refused(f"PUBLISH {topic}: {lost}") from None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                reply_topic, body = self._replies.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if reply_topic in (f"{topic}/accepted", f"{topic}/rejected"):
                return reply_topic, json.loads(body or b"{}")
        raise Refused(f"no reply to {topic} within {timeout_s:g} s")

    def close(self) -> None:
        self._session.close()


class LiveWorld(World):
    """An AWS account through a boto3 Session; ``sleep``/``clock`` and ``connect`` can be replaced (tests)."""

    mode = "live"

    def __init__(self, session: Any, region: str, partner_region: str, *,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 connect: Callable[..., MqttSession] | None = None,
                 tls: Callable[[TlsTarget, ssl.TLSVersion], tuple[str, str]] = tls_attempt,
                 resolve: Callable[[str], bool] | None = None) -> None:
        from botocore.config import Config

        self.session, self.region, self.partner_region = session, region, partner_region
        self._sleep, self._clock, self._connect, self._tls = sleep, clock, connect, tls
        self._resolve = resolve or _resolves
        self._config = Config(retries={"mode": "standard", "max_attempts": 6})
        self._clients: dict[tuple[str, str], Any] = {}
        self._endpoints: dict[str, str] = {}

    def __enter__(self) -> LiveWorld:
        identity = self.client("sts").get_caller_identity()
        self.account_id, self.partition = identity["Account"], identity["Arn"].split(":")[1]
        return self

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        if key not in self._clients:
            extra = {}
            if service == "iot-data":
                extra["endpoint_url"] = f"https://{self.data_endpoint(key[1])}"
            self._clients[key] = self._watch(
                self.session.client(service, region_name=key[1], config=self._config, **extra))
        return self._clients[key]

    def data_endpoint(self, region: str) -> str:
        if region not in self._endpoints:
            self._endpoints[region] = self.client("iot", region).describe_endpoint(
                endpointType="iot:Data-ATS")["endpointAddress"]
        return self._endpoints[region]

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def now(self) -> float:
        return self._clock()

    def settle_iam(self) -> None:
        self._sleep(IAM_PROPAGATION_S)

    def settle_rules(self) -> None:
        self._sleep(RULE_PROPAGATION_S)

    def publish(self, region: str, topic: str, payload: dict[str, Any]) -> None:
        self.client("iot-data", region).publish(topic=topic, qos=1, payload=json.dumps(payload).encode("utf-8"))

    def mqtt(self, region: str, certificate_pem: str, key_pem: str, client_id: str,
             chain_pem: str = "") -> MqttSession:
        host = self.data_endpoint(region)
        if self._connect is not None:
            return self._connect(host, certificate_pem, key_pem, client_id, chain_pem)
        from ops.conformance.certs import Material, files

        with files(Material(certificate_pem, key_pem), chain_pem) as (certificate_file, key_file):
            return DeviceSession(host, certificate_file, key_file, client_id)  # paho reads the files at open

    def tls_target(self, region: str, domain_configuration_name: str) -> TlsTarget:
        """The domain configuration's host, once DNS knows it (a new endpoint takes a while: up to 3 minutes)."""
        description = self.client("iot", region).describe_domain_configuration(
            domainConfigurationName=domain_configuration_name)
        host = description.get("domainName")
        if not host:  # never the account's default endpoint instead: its TLS policy is not ours
            raise RuntimeError(f"domain configuration {domain_configuration_name} has no domainName: its endpoint "
                               "cannot be probed")
        deadline = self.now() + 180
        while not self._resolve(host) and self.now() < deadline:
            self.sleep(5)
        return TlsTarget(host, MQTT_PORT, host, verify=True)

    def tls_handshake(self, target: TlsTarget, version: ssl.TLSVersion) -> tuple[str, str]:
        return self._tls(target, version)


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, MQTT_PORT)
        return True
    except OSError:
        return False
