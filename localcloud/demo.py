"""``python -m localcloud demo``: the whole system, end to end, on a laptop.

Sets up the PKI, deploys both shipped stacks into the local cloud, onboards a few devices (some
first reaching eu-west-1, some us-west-2, one both at once, an impostor reusing a thing name with
a new certificate from our CA, a device of a foreign CA), publishes telemetry, then shows region
by region the certificates, things, inventory, stored telemetry and the state machine executions
that did the work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import pki
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud.engines import ConnectionRefused, PublishRefused


@dataclass
class Device:
    """One device of the demo: its certificate and where it first shows up."""

    name: str
    role: str
    certificate_pem: str
    first_regions: list[str]
    expected_to_work: bool
    results: dict[str, str] = field(default_factory=dict)  # region -> what happened
    worked_in: list[str] = field(default_factory=list)


@dataclass
class DemoResult:
    regions: list[str]
    devices: list[Device]
    inventory_table: str
    data_table: str
    application: str = "multi-region-iot"
    dead_letters: dict[str, int] = field(default_factory=dict)  # region -> messages in its replication DLQ


def demo_devices(ca: pki.CertificateAuthority, regions: list[str]) -> list[Device]:
    """The cast: two devices per region story, one roaming, one impostor, one foreign."""
    first, second = regions[0], regions[1 % len(regions)]
    foreign = pki.CertificateAuthority.create(org="Foreign Org")
    cast = [
        ("sensor-eu-01", "first seen in " + first, ca, [first], True),
        ("sensor-eu-02", "first seen in " + first, ca, [first], True),
        ("sensor-us-01", "first seen in " + second, ca, [second], True),
        ("sensor-roaming-01", "both regions at once", ca, list(regions), True),
    ]
    devices = [Device(name, role, authority.issue_device(name).certificate_pem, where, ok)
               for name, role, authority, where, ok in cast]
    impostor = ca.issue_device("sensor-eu-01")  # our CA, a thing name already taken, a new key
    devices.append(Device("sensor-eu-01", "impostor (our CA, taken name)", impostor.certificate_pem,
                          [second], False))
    devices.append(Device("foreign-01", "foreign CA", foreign.issue_device("foreign-01").certificate_pem,
                          [first], False))
    return devices


def run_scenario(cloud: LocalCloud, step: Callable[[str], None] = lambda _: None) -> DemoResult:
    """Onboard the cast and publish telemetry in a deployed cloud; return what happened."""
    regions = cloud.regions
    devices = demo_devices(cloud.load_ca(), regions)
    legit = [d for d in devices if d.expected_to_work]
    step("Devices connect for the first time (refused: just-in-time registration starts)")
    for device in legit:
        for region in device.first_regions:
            _try_connect(cloud, device, region, attempts=1)
    cloud.settle()
    step("A factory-fresh device provisions itself through the provisioning API (device tool, HTTP on loopback)")
    provisioned = _provisioned_through_the_api(cloud, "api-sensor-01", regions[0])
    devices.append(provisioned)
    legit.append(provisioned)
    step("Impostor and foreign device try every region")
    for device in devices:
        if device.expected_to_work:
            continue
        for region in [*device.first_regions, *[r for r in regions if r not in device.first_regions]]:
            _try_connect(cloud, device, region, attempts=3)
    step("Devices reconnect in every region and publish telemetry")
    for device in legit:
        for region in [*device.first_regions, *[r for r in regions if r not in device.first_regions]]:
            connection = _try_connect(cloud, device, region, attempts=3)
            if connection is None:
                continue
            try:
                cloud.engines.iot.publish(connection, f"i/{device.name}/m",
                                          json.dumps({"message": f"hello from {device.name} via {region}"}))
            except PublishRefused as refused:
                device.results[region] += f"; publish refused: {refused}"
    cloud.settle()
    outputs = cloud.primary_outputs
    application = outputs["inventoryTableName"].removesuffix("-device-inventory")
    dead_letters = {region: observe.queue_depth(region, cloud.outputs(region)["replicationDeadLetterQueueUrl"])
                    for region in regions}
    return DemoResult(regions, devices, outputs["inventoryTableName"], outputs["dataTableName"], application,
                      dead_letters)


def real_client_step(cloud: LocalCloud, state_dir: Path | None) -> list[str]:
    """Serve the MQTT endpoints briefly: a paho device (python -m device's session) is refused, JITR runs, it
    connects and publishes QoS 1; then every region's canary runs over MQTT/TLS. Skipped, saying why, if the
    endpoints cannot start."""
    import tempfile

    from device.endpoint import Endpoint
    from device.session import Identity, connect_with_backoff
    from localcloud.mqtt.endpoints import MqttEndpoints

    try:
        endpoints = MqttEndpoints(cloud, ports={region: 0 for region in cloud.regions}, resolver_port=0).start()
    except Exception as error:  # noqa: BLE001 - the demo goes on without this step
        return [f"[yellow]Real MQTT client step skipped: the endpoints could not start ({error})[/yellow]"]
    lines = []
    try:
        region = cloud.regions[0]
        with tempfile.TemporaryDirectory(prefix="demo-mqtt-") as folder:
            with endpoints.gate:
                issued = cloud.load_ca().issue_device("mqtt-sensor-01")
                chain = issued.certificate_pem + cloud.load_ca().intermediate_pem
            cert, key = Path(folder) / "d.crt", Path(folder) / "d.key"
            cert.write_text(chain)
            key.write_text(issued.private_key_pem)
            key.chmod(0o600)
            identity = Identity("mqtt-sensor-01", cert, key, cloud.pki_dir / "root-ca.crt")
            endpoint = Endpoint("127.0.0.1", endpoints.port(region), cloud.domain)
            from device.session import Session

            session, attempts = connect_with_backoff(lambda: Session(endpoint, identity), attempts=10, base_s=0.05,
                                                     cap_s=0.3)
            session.publish("i/mqtt-sensor-01/m", json.dumps({"message": "hello over MQTT/TLS 1.3"}), qos=1)
            session.close()
            lines.append(f"[green]paho device mqtt-sensor-01[/green]: refused while JITR ran, connected to {region} "
                         f"(127.0.0.1:{endpoints.port(region)}, SNI {cloud.domain}) after {attempts} attempt(s), "
                         "published QoS 1 (PUBACK)")
        for report in cloud.run_canaries(endpoints).values():
            lines.append(f"canary {report.region}: {report.step} ({report.detail}); alarm {report.alarm_state}, "
                         f"record {'healthy' if report.healthy else 'UNHEALTHY'}")
    except Exception as error:  # noqa: BLE001 - a failure here is reported, not fatal to the demo
        lines.append(f"[red]Real MQTT client step failed: {type(error).__name__}: {error}[/red]")
    finally:
        endpoints.stop()
    return lines


def _provisioned_through_the_api(cloud: LocalCloud, name: str, region: str) -> Device:
    """Enrol ``name`` (its own request-signing key on the allow-list, as `pki enrol` + `ops allow-list import` do),
    then run the device tool against the region's provisioning API served over HTTP: it sends a CSR, signed with its
    key, and stores the certificate it gets. The device then connects like any other (no refusal: it is ACTIVE)."""
    from device import provision
    from ops import allow_list
    from pki.enrolment import enrol

    assert cloud.state_dir is not None
    folder = cloud.state_dir / "demo-provisioned"
    entries = allow_list.parse(enrol(folder, [name]).read_text().splitlines())
    allow_list.enrol(None, region, entries, application=cloud.primary_outputs["inventoryTableName"]
                     .removesuffix("-device-inventory"))
    cloud.settle()
    with cloud.provisioning_api(region, lifetime_s=60) as api:
        answer = provision.provision(api.url, name, folder / "devices" / f"{name}.provisioning.key", folder / "out")
    cloud.settle()  # its inventory item replicates: every region registers it
    return Device(name, f"provisioned through the API (CSR; home {answer['region']})",
                  (folder / "out" / f"{name}.crt").read_text(), [], True)


def _try_connect(cloud: LocalCloud, device: Device, region: str, *, attempts: int) -> Any:
    try:
        connection = cloud.connect(region, device.certificate_pem, device.name, attempts=attempts)
    except ConnectionRefused as refused:
        device.results[region] = f"refused: {refused.reason}"
        return None
    refused_before = device.results.get(region, "").startswith("refused")
    device.results[region] = "connected" + (" (after JITR refusal)" if refused_before or connection.attempts > 1
                                            else "")
    if region not in device.worked_in:
        device.worked_in.append(region)
    return connection


# -- rendering -------------------------------------------------------------------------------------
def _short(value: str, n: int = 12) -> str:
    return value[:n] + "…" if len(value) > n else value


def _common_name(pem: str) -> str:
    try:
        subject = x509.load_pem_x509_certificate(pem.encode()).subject
        return subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - a display helper
        return "?"


def devices_table(result: DemoResult) -> Table:
    table = Table(title="Devices", title_justify="left")
    table.add_column("device")
    table.add_column("who")
    for region in result.regions:
        table.add_column(region)
    for device in result.devices:
        cells = []
        for region in result.regions:
            text = device.results.get(region, "-")
            style = "green" if text.startswith("connected") else "red"
            cells.append(f"[{style}]{_short(text, 70)}[/{style}]")
        table.add_row(device.name, device.role, *cells)
    return table


def region_tables(result: DemoResult, region: str) -> list[Table]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iot.models import iot_backends

    backend = iot_backends[DEFAULT_ACCOUNT_ID][region]
    things = {t.name: t for t in observe.things(region)}
    attached = {cid: name for name, t in things.items() for cid in t.certificate_ids}
    certificates = Table(title=f"{region}: certificates and things", title_justify="left")
    for column in ("certificate id", "CN", "status", "thing attached"):
        certificates.add_column(column)
    for certificate in sorted(backend.certificates.values(), key=lambda c: _common_name(c.certificate_pem)):
        style = {"ACTIVE": "green", "PENDING_ACTIVATION": "yellow"}.get(certificate.status, "red")
        certificates.add_row(_short(certificate.certificate_id), _common_name(certificate.certificate_pem),
                             f"[{style}]{certificate.status}[/{style}]",
                             attached.get(certificate.certificate_id, "-"))
    inventory = Table(title=f"{region}: device inventory (global table replica)", title_justify="left")
    for column in ("ThingName", "CertificateId", "OriginRegion", "Status", "RegisteredAt"):
        inventory.add_column(column)
    for item in sorted(observe.table_items(region, result.inventory_table), key=lambda i: i.get("ThingName", "")):
        inventory.add_row(item.get("ThingName", ""), _short(item.get("CertificateId", "")),
                          item.get("OriginRegion", ""), item.get("Status", ""), item.get("RegisteredAt", ""))
    telemetry = Table(title=f"{region}: stored telemetry (data table replica)", title_justify="left")
    for column in ("Device", "received in", "Message"):
        telemetry.add_column(column)
    for item in sorted(observe.table_items(region, result.data_table), key=lambda i: (i.get("PK", ""), i.get("SK", ""))):
        telemetry.add_row(item.get("Device", ""), item.get("Region", ""), item.get("Message", ""))
    waiting = result.dead_letters.get(region, 0)
    executions = Table(title=f"{region}: state machine executions", title_justify="left",
                       caption=f"replication dead-letter queue: {waiting} message(s) waiting"
                               + ("" if waiting == 0 else " [red](work not done in this region)[/red]"),
                       caption_justify="left")
    for column in ("state machine", "execution", "status", "transitions", "input"):
        executions.add_column(column)
    for execution in sorted(observe.executions(region), key=lambda e: (str(e.start), e.machine)):
        style = "green" if execution.status == "SUCCEEDED" else "red"
        executions.add_row(execution.machine.removeprefix(result.application + "-"), _short(execution.name, 24), f"[{style}]{execution.status}[/{style}]",
                           str(execution.transitions), _describe_input(execution.input))
    return [certificates, inventory, telemetry, executions]


def _describe_input(raw: str) -> str:
    try:
        document = json.loads(raw)
    except (TypeError, ValueError):
        return ""
    if "ThingName" in document:
        return f"{document['ThingName']} ({document.get('EventName', '')}, {document.get('Status', '')})"
    if "certificateId" in document:
        return f"JITR event for {_short(document['certificateId'])}"
    return ""


def run(console: Console | None = None, state_dir: Path | None = None) -> DemoResult:
    """The ``demo`` command: prepare, deploy, onboard, publish, show."""
    console = console or Console()
    steps = ["Starting the local cloud (moto, patches, engines, PKI, hosted zone)"]
    cloud = LocalCloud(state_dir=state_dir)
    steps += [f"Deploying stack {s.name} (the real __main__.py, every resource created in moto)" for s in cloud.stacks]
    steps += ["Devices connect for the first time (refused: just-in-time registration starts)",
              "A factory-fresh device provisions itself through the provisioning API (device tool, HTTP on loopback)",
              "Impostor and foreign device try every region",
              "Devices reconnect in every region and publish telemetry",
              "A real MQTT client (paho) over TLS 1.3 to the served endpoints; the canaries probe every region"]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task(steps[0], total=len(steps))

        def step(description: str) -> None:
            progress.update(task, advance=1, description=description)

        with cloud:
            cloud.deploy(on_stack=lambda shipped, run_: step(
                f"Deployed {shipped.name}: {sum(1 for r in run_.resources if r.custom)} resources"))
            result = run_scenario(cloud, step)
            step("A real MQTT client (paho) over TLS 1.3 to the served endpoints; the canaries probe every region")
            mqtt_lines = real_client_step(cloud, state_dir=cloud.state_dir)
            progress.update(task, completed=len(steps), description="Done")
            console.print(devices_table(result))
            for line in mqtt_lines:
                console.print(line)
            for region in result.regions:
                console.rule(f"[bold]{region}")
                for table in region_tables(result, region):
                    console.print(table)
    return result
