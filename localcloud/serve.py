"""``python -m localcloud up --serve``: deploy, then keep every region's MQTT endpoint up until Ctrl-C, running each
region's canary every minute as its schedule does in AWS (a failing canary moves the DNS answer).

Prints each region's port, the resolver, and a ready ``mosquitto_pub`` / ``python -m device`` command for a
device certificate it issues from the local PKI (``.localcloud/pki/devices/``, never committed).
"""

from __future__ import annotations

import shlex
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from rich.console import Console

import pki
from localcloud.services.iot.mqtt.endpoints import DEFAULT_FIRST_PORT, MqttEndpoints

DEMO_THING = "sensor-0001"
LOOPBACK = "127.0.0.1"  # where MqttEndpoints and its resolver listen


class PortError(ValueError):
    """A port that cannot be served (malformed, out of range, taken twice, or busy); the message names the fix."""


def parse_ports(pairs: list[str] | None, regions: list[str]) -> dict[str, int]:
    """``REGION=PORT`` pairs over the defaults (8883, 8884, ... in stack order)."""
    ports = {region: DEFAULT_FIRST_PORT + index for index, region in enumerate(regions)}
    for pair in pairs or []:
        region, _, port = pair.partition("=")
        if region not in ports or not port.isdigit() or int(port) > 65535:
            raise PortError(f"--ports {pair!r}: write REGION=PORT with REGION one of {', '.join(regions)} and PORT "
                            "in 0-65535 (0 = any free port)")
        ports[region] = int(port)
    return ports


def check_ports(ports: dict[str, int], resolver_port: int, host: str = LOOPBACK) -> None:
    """Every port can be listened on, checked before anything is deployed (a deploy takes a while; a busy port after
    it would waste it). Port 0 is any free port. Another process may still take a port in between: then serving
    fails as it did before this check."""
    taken: dict[int, str] = {}
    for option, port in [*((f"--ports {r}={p}", p) for r, p in ports.items()), (f"--resolver-port {resolver_port}",
                                                                                 resolver_port)]:
        if not 0 <= port <= 65535:
            raise PortError(f"{option}: a port is 0-65535 (0 = any free port)")
        if port == 0:
            continue
        if port in taken:
            raise PortError(f"{option}: {taken[port]} uses port {port} too; give each its own port (0 = any free port)")
        taken[port] = option
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's listeners do
            try:
                probe.bind((host, port))
            except OSError as error:
                raise PortError(f"{option}: port {port} on {host} cannot be listened on ({error.strerror}): stop what "
                                "holds it, or give another port (0 = any free port)") from None


#: The program schedules each region's canary every minute (components/canary.py); served endpoints do the same.
CANARY_INTERVAL_S = 60.0


def run_canaries_until(cloud: Any, endpoints: Any, stop: threading.Event, interval_s: float,
                       console: Console) -> int:
    """Run every region's canary each ``interval_s`` until ``stop`` is set, as the schedule does in AWS: a region
    whose canary fails turns its record unhealthy and the DNS answer moves its devices; returns the runs made."""
    runs, healthy = 0, {region: True for region in cloud.regions}
    while not stop.wait(interval_s):
        reports = cloud.run_canaries(endpoints)
        runs += 1
        for region, report in reports.items():
            ok = report.healthy
            if ok != healthy.get(region):
                console.print(f"{region}: canary {'passes again' if ok else 'failing'}; {cloud.domain} now "
                              f"resolves to {endpoints.resolve()} from IE")
            healthy[region] = ok
    return runs


def main(console: Console, state_dir: Path | None, ports: list[str] | None, resolver_port: int,
         stop: threading.Event | None = None, canary_interval_s: float = CANARY_INTERVAL_S) -> int:
    from localcloud.cloud import LocalCloud

    cloud = LocalCloud(state_dir=state_dir)  # reads the stack files only: the regions, nothing deployed yet
    try:
        wanted = parse_ports(ports, cloud.regions)
        check_ports(wanted, resolver_port)
    except PortError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with cloud:
        with console.status("Deploying the shipped stacks into the local cloud…"):
            cloud.deploy()
        cert = cloud.pki_dir / "devices" / f"{DEMO_THING}.crt"
        key = cloud.pki_dir / "devices" / f"{DEMO_THING}.key"
        if not cert.exists():
            pki.issue_device_certificates(cloud.pki_dir, [DEMO_THING])
        with MqttEndpoints(cloud, ports=wanted, resolver_port=resolver_port) as endpoints:
            for region in cloud.regions:
                console.print(f"[green]{region}[/green]: mqtts://127.0.0.1:{endpoints.port(region)} "
                              f"(TLS 1.3, client certificate, SNI {cloud.domain})")
            console.print(f"DNS answer for {cloud.domain}: socks5h://LOCATION:x@127.0.0.1:{endpoints.resolver.port} "
                          f"(LOCATION = a country code; {cloud.domain} now resolves to {endpoints.resolve()} from IE)")
            console.print("Connect (the first connection is refused while JITR runs; run it again):")
            console.print(endpoints.connect_hint(DEMO_THING, str(cert), str(key),
                                                 intermediate=str(cloud.pki_dir / "intermediate-ca.crt")), soft_wrap=True)
            q = shlex.quote
            console.print(f".venv/bin/python -m device run --endpoint {q(cloud.domain)} --proxy "
                          f"socks5h://IE@127.0.0.1:{endpoints.resolver.port} --thing {q(DEMO_THING)} --cert {q(str(cert))} "
                          f"--key {q(str(key))} --ca {q(str(cloud.pki_dir / 'root-ca.crt'))} --count 5", soft_wrap=True)
            console.print(f"Serving until Ctrl-C; every region's canary runs every {canary_interval_s:g} s.")
            try:
                run_canaries_until(cloud, endpoints, stop or threading.Event(), canary_interval_s, console)
            except KeyboardInterrupt:
                console.print("Stopping.")
    return 0
