"""``MqttEndpoints``: every region's MQTT endpoint and the domain's resolver, served from one thread.

The local cloud is moto in this process, so the endpoints run here too: one daemon thread runs an asyncio
loop with a :class:`~localcloud.services.iot.mqtt.broker.RegionBroker` per region (its own loopback port), the SOCKS5
resolver (:mod:`localcloud.services.iot.mqtt.resolver`) and a settler that lets the cloud move (rule actions, JITR
machines, replication) while devices wait, as AWS runs them asynchronously. Every call into the cloud goes
through one :class:`~localcloud.services.iot.mqtt.gate.EngineGate`: from other threads use ``with endpoints.gate:``.

Use::

    with LocalCloud() as cloud:
        cloud.deploy()
        with MqttEndpoints(cloud, ports={"eu-west-1": 0, "us-west-2": 0}) as endpoints:
            endpoints.port("eu-west-1")      # the bound port (0 = any free one)
            endpoints.mark_down("eu-west-1") # the DNS answer moves, connections are closed
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from localcloud.services.iot.amazon_ca import amazon_ca
from localcloud.services.iot.fleet import FleetProvisioning
from localcloud.services.iot.mqtt import routing, tls
from localcloud.services.iot.mqtt.broker import RegionBroker
from localcloud.services.iot.mqtt.gate import EngineGate
from localcloud.services.iot.mqtt.limits import Limits
from localcloud.services.iot.mqtt.resolver import SocksResolver

LOG = logging.getLogger("localcloud.mqtt")
DEFAULT_FIRST_PORT = 8883
DEFAULT_RESOLVER_PORT = 1080


class MqttEndpoints:
    """Start with ``start()`` (or ``with``); ``stop()`` closes every socket and joins the thread."""

    def __init__(self, cloud: Any, *, ports: Mapping[str, int] | None = None, resolver_port: int = DEFAULT_RESOLVER_PORT,
                 default_location: str = "IE", settle_interval_s: float = 0.05, limits: Limits | None = None) -> None:
        self.cloud = cloud
        self.domain: str = cloud.domain
        self.regions: list[str] = list(cloud.regions)
        self.ports = dict(ports) if ports is not None else {
            region: DEFAULT_FIRST_PORT + index for index, region in enumerate(self.regions)}
        missing = [r for r in self.regions if r not in self.ports]
        if missing:
            raise ValueError(f"no port for {missing}: give every region a port (0 = any free port)")
        self.default_location = routing.Location.parse(default_location)
        self.settle_interval_s = settle_interval_s
        self.routing_policy, self.geolocation = _routing_config(cloud)
        self.limits = limits if limits is not None else Limits()  # shared by every endpoint and the resolver
        self.gate = EngineGate()
        self.fleet = FleetProvisioning(cloud.engines.iot)  # one for every region: ownership tokens name theirs
        self.down: set[str] = set()
        self.unhealthy_records: set[str] = set()  # records whose health check fails (localcloud/canaries.py)
        self.brokers: dict[str, RegionBroker] = {}
        self.resolver = SocksResolver(self.domain, self._answer_for_resolver, port=resolver_port, limits=self.limits)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="localcloud-mqtt", daemon=True)
        self._settler: asyncio.Task[None] | None = None
        self.settle_errors: list[str] = []

    # lifecycle ------------------------------------------------------------------------------------
    def start(self) -> MqttEndpoints:
        self._thread.start()
        try:
            self._run(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        # AWS's endpoints accept the certificates AWS itself signs (CreateKeysAndCertificate): IoT Core decides at CONNECT
        context = tls.server_context([tls.ServerMaterial.from_pki(self.cloud.pki_dir, self.domain,
                                                                  also_trusted=(amazon_ca().certificate_pem,))])
        for region in self.regions:
            broker = RegionBroker(region=region, port=self.ports[region], ssl_context=context,
                                  core=self.cloud.engines.iot, gate=self.gate, fleet=self.fleet, limits=self.limits)
            await broker.start()
            self.ports[region] = broker._servers["default"].instance.sockets[0].getsockname()[1]  # pyright: ignore[reportIndexIssue]  # asyncio: a tuple
            self.brokers[region] = broker
        await self.resolver.start()
        self._settler = asyncio.create_task(self._settle_forever())

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self._run(self._stop(), timeout=15)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=15)
        if not self._loop.is_running():
            self._loop.close()
        self.gate.close()

    async def _stop(self) -> None:
        if self._settler is not None:
            self._settler.cancel()
            await asyncio.gather(self._settler, return_exceptions=True)
        await self.resolver.stop()
        for broker in self.brokers.values():
            await broker.shutdown()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:  # relays and amqtt's per-client tasks
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def __enter__(self) -> MqttEndpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, coroutine: Any, timeout: float = 30) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    async def _settle_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settle_interval_s)
            try:
                await self.gate.call(self.cloud.engines.settle)
            except Exception as error:  # noqa: BLE001 - keep serving; the failure is reported
                self.settle_errors.append(f"{type(error).__name__}: {error}")
                LOG.warning("settling the local cloud failed: %s", error)

    # what devices see -----------------------------------------------------------------------------
    def port(self, region: str) -> int:
        return self.ports[region]

    def resolve(self, location: str | None = None) -> str:
        """The region the domain resolves to for a device at ``location`` (a country code), now."""
        where = routing.Location.parse(location) if location else self.default_location
        healthy = [r for r in self.regions if r not in self.down and r not in self.unhealthy_records]
        return routing.answer(self.routing_policy, self.regions, where, healthy, self.geolocation)

    def _answer_for_resolver(self, location: str | None) -> tuple[str, int]:
        region = self.resolve(location)
        if region in self.down:
            raise routing.RoutingError(f"{region} is down and no other region is healthy")
        return region, self.ports[region]

    def mark_down(self, region: str, *, dns: bool = True) -> None:
        """The region fails: its endpoint closes every connection and refuses new ones, and its record turns
        unhealthy at once; with ``dns=False`` only the endpoint fails, and DNS learns of it from the canary's health
        check (``localcloud.canaries.run_canaries``), as in AWS."""
        if dns:
            self.down.add(region)
        broker = self.brokers[region]
        broker.down = True
        self._run(broker.disconnect_all())

    def set_record_health(self, region: str, healthy: bool) -> None:
        """What the region's Route 53 health check says about its record (the canary's alarm)."""
        (self.unhealthy_records.discard if healthy else self.unhealthy_records.add)(region)

    def mark_up(self, region: str) -> None:
        self.down.discard(region)
        self.brokers[region].down = False

    def connect_hint(self, thing: str, certificate: str, key: str, *, intermediate: str | None = None) -> str:
        """How to reach the endpoints with mosquitto_pub (printed by ``up --serve``), for bash: every path quoted (a
        state folder may have spaces); with ``intermediate`` the certificate is sent with it as its chain
        (``<(cat cert intermediate)``). The SOCKS user is the location and the password is ignored, but there must
        be one: Debian 12's mosquitto 2.0.11 crashes (SIGSEGV) on ``socks5h://IE@...``, a user without a password."""
        q = shlex.quote
        cert = f"<(cat {q(certificate)} {q(intermediate)})" if intermediate else q(certificate)
        return (f"mosquitto_pub --proxy socks5h://IE:x@127.0.0.1:{self.resolver.port} -h {q(self.domain)} -p 8883 "
                f"--cafile {q(str(self.cloud.pki_dir / 'root-ca.crt'))} --cert {cert} --key {q(key)} -i {q(thing)} "
                f"-t {q(f'i/{thing}/m')} -m '{{\"message\": \"hello\"}}' -q 1 -d")


def _routing_config(cloud: Any) -> tuple[str, dict[str, dict[str, str | None]]]:
    """The primary's routing policy and, for geolocation, each region's location: the program's SharedSettings."""
    shared = cloud.shared
    return shared.routing_policy, {region: dict(geo.as_dict()) for region, geo in shared.geolocation.items()}
