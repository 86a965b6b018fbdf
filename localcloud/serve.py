"""``python -m localcloud up --serve``: deploy, then keep every region's MQTT endpoint up until Ctrl-C, running each
region's canary every minute as its schedule does in AWS (a failing canary moves the DNS answer).

``--provisioning jitr|jitp|fleet[,..]`` deploys that mode (the stack config key ``provisioning``, every stack; fleet
with jitp is refused before anything is deployed) and, for fleet, issues the claim first. Prints each region's port,
the resolver, and the commands that work for the modes named: for JITR / JITP a ready ``mosquitto_pub`` and
``python -m device run`` for a device certificate it issues from the local PKI (``.localcloud/pki/devices/``, never
committed) and how to issue another; for fleet the claim's paths, ``python -m localcloud enrol SERIAL`` (enrols into
this running cloud through ``localcloud.enrol.Inbox``), ``python -m device fleet-provision`` and ``run``. Every printed
command is run as printed by tests/localcloud/test_serve_modes.py.
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


def _command(console: Console, text: str) -> None:
    """A command to paste, on one line whatever the terminal's width, never read as rich markup."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def named_modes(provisioning: str | None, settings: Any) -> list[str]:
    """The provisioning modes whose commands the banner prints: those of ``--provisioning`` as given (``fleet`` alone:
    fleet's only, although JITR stays deployed for factory certificates), else the stacks' own config."""
    if provisioning is not None:
        return [m.strip().lower() for m in provisioning.replace("+", ",").split(",") if m.strip()]
    return [settings.certificate_path, *(["fleet"] if settings.fleet else [])]


def main(console: Console, state_dir: Path | None, ports: list[str] | None, resolver_port: int,
         stop: threading.Event | None = None, canary_interval_s: float = CANARY_INTERVAL_S,
         provisioning: str | None = None, aws_port: int = 4566) -> int:
    from components.config import ConfigError
    from localcloud import aws_endpoint
    from localcloud.cloud import LocalCloud
    from localcloud.enrol import Inbox, serving_pid

    overrides = {"provisioning": provisioning} if provisioning is not None else {}
    try:  # reads the stack files only (and checks the provisioning modes): the regions, nothing deployed yet
        cloud = LocalCloud(state_dir=state_dir, config_overrides=overrides)
        wanted = parse_ports(ports, cloud.regions)
        check_ports(wanted, resolver_port)
        if (aws_refusal := aws_endpoint.port_refusal(aws_port, wanted, resolver_port)) is not None:
            raise PortError(aws_refusal)
    except (PortError, ConfigError) as error:
        print(f"error: {'--provisioning: ' if isinstance(error, ConfigError) else ''}{error}", file=sys.stderr)
        return 2
    if (other := serving_pid(Path(cloud.state_dir))) is not None:  # its Inbox holds the folder's serving lock
        print(f"error: another `python -m localcloud up --serve` (pid {other}) is serving the state folder "
              f"{cloud.state_dir}: stop it first, or give this one another --state-dir", file=sys.stderr)
        return 2
    settings = cloud.stacks[0].settings.provisioning  # the primary's (every stack gets the same override)
    modes = named_modes(provisioning, settings)
    with cloud:
        if settings.fleet:  # what an operator does before `pulumi up` (python -m pki issue-claim)
            from pki.claim import issue_claim

            issue_claim(cloud.ensure_pki())
        with console.status("Deploying the shipped stacks into the local cloud…"):
            cloud.deploy()
        devices_folder = cloud.pki_dir / "devices"
        cert, key = devices_folder / f"{DEMO_THING}.crt", devices_folder / f"{DEMO_THING}.key"
        if {"jitr", "jitp"} & set(modes) and not cert.exists():
            pki.issue_device_certificates(cloud.pki_dir, [DEMO_THING])
        application = cloud.primary_outputs["inventoryTableName"].removesuffix("-device-inventory")
        stopping = stop or threading.Event()
        with MqttEndpoints(cloud, ports=wanted, resolver_port=resolver_port) as endpoints, \
                Inbox(cloud.state_dir, endpoints.gate, cloud.stacks[0].region, application) as inbox, \
                aws_endpoint.serving(cloud, endpoints.gate, aws_port) as aws:
            watcher = threading.Thread(target=inbox.run_until, args=(stopping,), name="localcloud-enrol", daemon=True)
            watcher.start()
            for region in cloud.regions:
                console.print(f"[green]{region}[/green]: mqtts://127.0.0.1:{endpoints.port(region)} "
                              f"(TLS 1.3, client certificate, SNI {cloud.domain}; MQTT 3.1.1 and 5)", soft_wrap=True)
            console.print(f"DNS answer for {cloud.domain}: socks5h://LOCATION:x@127.0.0.1:{endpoints.resolver.port} "
                          f"(LOCATION = a country code; {cloud.domain} now resolves to {endpoints.resolve()} from IE)",
                          soft_wrap=True)
            jitr_kept = settings.fleet and settings.jitr and "jitr" not in modes
            console.print(f"Provisioning: {', '.join(modes)}" + (" (JITR stays on for certificates the local CA "
                          "signed at the factory; --provisioning fleet,jitr prints its commands too)" if jitr_kept
                          else ""), soft_wrap=True)
            _print_hints(console, cloud, endpoints, modes, cert, key)
            aws_endpoint.print_banner(console, aws, cloud, DEMO_THING)
            console.print(f"Serving until Ctrl-C; every region's canary runs every {canary_interval_s:g} s.")
            sys.stdout.flush()
            try:
                run_canaries_until(cloud, endpoints, stopping, canary_interval_s, console)
            except KeyboardInterrupt:
                console.print("Stopping.")
            finally:
                stopping.set()
                watcher.join(timeout=5)
    return 0


def _print_hints(console: Console, cloud: Any, endpoints: Any, modes: list[str], cert: Path, key: Path) -> None:
    """The commands that work for the deployment's modes, each run as printed by tests/localcloud/test_serve_modes.py."""
    q = shlex.quote
    say = lambda text, **options: console.print(text, soft_wrap=True, **options)
    python = ".venv/bin/python"
    root = str(cloud.pki_dir / "root-ca.crt")
    where = (f"--endpoint {q(cloud.domain)} --proxy socks5h://IE@127.0.0.1:{endpoints.resolver.port} "
             f"--ca {q(root)}")

    def run(thing: str, certificate: Path, private_key: Path) -> str:
        return (f"{python} -m device run {where} --thing {q(thing)} --cert {q(str(certificate))} "
                f"--key {q(str(private_key))} --count 5")

    for mode in ("jitr", "jitp"):
        if mode not in modes:
            continue
        how = ("JITR runs" if mode == "jitr" else
               "JITP provisions it (register row iot.jitp-first-connection)")
        say(f"{mode.upper()}: connect with a certificate of the local CA (the first connection is refused "
            f"while {how}; run it again):")
        _command(console, endpoints.connect_hint(DEMO_THING, str(cert), str(key),
                                                 intermediate=str(cloud.pki_dir / "intermediate-ca.crt")))
        _command(console, run(DEMO_THING, cert, key))
        serial = "sensor-0002"
        say(f"Another device: issue its certificate from the running cloud's CA (offline, the same "
            f"{cloud.pki_dir}), then connect (the device tool retries the first refusal):")
        _command(console, f"{python} -m pki issue-device {serial} --out {q(str(cloud.pki_dir))}")
        devices = cloud.pki_dir / "devices"
        _command(console, run(serial, devices / f"{serial}.crt", devices / f"{serial}.key"))
    if "fleet" in modes:
        from localcloud.enrol import enrolment_dir
        from pki.claim import claim_paths
        from pki.enrolment import signing_key_path

        claim_cert, claim_key = claim_paths(cloud.pki_dir)
        template = cloud.primary_outputs["fleetTemplateName"]
        serial, out = "fleet-sensor-0001", cloud.state_dir / "fleet-devices"
        say(f"Fleet provisioning by claim (template {template}, through {cloud.stacks[0].region}, where the "
            f"account's certificate provider is): the claim every device ships is {claim_cert} and its key "
            f"{claim_key} (0600).")
        say("Enrol a serial into this running cloud (its signing key and allow-list entry), from another "
            "shell:")
        state = q(str(cloud.state_dir))
        _command(console, f"{python} -m localcloud --state-dir {state} enrol {serial}")
        say("Then the device provisions itself by claim (a CSR proven by its enrolled key) and publishes "
            "with its new certificate:")
        _command(console, f"{python} -m device fleet-provision {where} --serial {serial} "
                          f"--claim-cert {q(str(claim_cert))} --claim-key {q(str(claim_key))} "
                          f"--signing-key {q(str(signing_key_path(enrolment_dir(cloud.state_dir), serial)))} "
                          f"--template {q(template)} --out {q(str(out))}")
        _command(console, run(serial, out / f"{serial}.crt", out / f"{serial}.key"))
