"""``python -m localcloud demo``: the whole system, end to end, on a laptop.

Sets up the PKI, deploys both shipped stacks into the local cloud (provisioning ``jitr``, as shipped), onboards a few
devices (some first reaching eu-west-1, some us-west-2, one both at once, an impostor reusing a thing name with a new
certificate from our CA, a device of a foreign CA, one through the provisioning API), publishes telemetry, then shows
region by region the certificates, things, inventory, stored telemetry and the state machine executions that did the
work.

Then fleet provisioning by claim, in a **second deployment** (:data:`SECOND_PROVISIONING`: ``jitr`` and ``fleet``)
in its own local cloud, i.e. another account, with the claim issued: a factory-fresh device with only the claim
provisions itself by claim with ``python -m device fleet-provision``'s code over the served MQTT endpoints and ends
ACTIVE in every region, and the claim certificate itself is registered everywhere but is no device (no thing, not in
the inventory). JITP is not in the demo: it cannot share a CA with JITR, nor with fleet (a fleet certificate the hook
never admitted would be activated by JITP: docs/design.md, "Provisioning modes"); tests/localcloud/
test_jitp_end_to_end.py deploys it on its own.
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
from localcloud.services import ConnectionRefused, PublishRefused

#: The second deployment's config ``provisioning`` (what a ``Pulumi.<stack>.yaml`` would hold).
SECOND_PROVISIONING = ("jitr", "fleet")


@dataclass
class Device:
    """One device of the demo: its certificate and where it first shows up."""

    name: str
    role: str
    certificate_pem: str
    first_regions: list[str]
    expected_to_work: bool
    arrival: str = "JITR"  # what refuses its first connection while it runs (JITR, JITP)
    results: dict[str, str] = field(default_factory=dict)  # region -> what happened
    worked_in: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CertificateView:
    """One certificate registered in a region, as the demo ends: what the registry says about it."""

    certificate_id: str
    common_name: str
    status: str
    things: tuple[str, ...]  # things it is attached to
    policies: tuple[str, ...]  # IoT policies attached to it


@dataclass
class DemoResult:
    """What one deployment's story did: its devices, and each region's registry and inventory at the end."""

    regions: list[str]
    devices: list[Device]
    inventory_table: str
    data_table: str
    application: str = "multi-region-iot"
    dead_letters: dict[str, int] = field(default_factory=dict)  # region -> messages in its replication DLQ
    provisioning: tuple[str, ...] = ("jitr",)
    certificates: dict[str, list[CertificateView]] = field(default_factory=dict)  # region -> registered certificates
    inventory: dict[str, dict[str, str]] = field(default_factory=dict)  # region -> thing name -> certificate id
    second: DemoResult | None = None  # the SECOND_PROVISIONING deployment, in its own local cloud (run() only)

    def registered(self, region: str, common_name: str) -> list[CertificateView]:
        """The certificates of ``region`` whose CN is ``common_name``."""
        return [c for c in self.certificates.get(region, []) if c.common_name == common_name]


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
    _publish_everywhere(cloud, legit)
    return _result(cloud, devices, ("jitr",))


def provisioning_cloud(state_dir: Path, **options: Any) -> LocalCloud:
    """The second deployment's local cloud (its own account and CA): the shipped stacks with ``provisioning``
    :data:`SECOND_PROVISIONING`, through the config overrides every stack gets (``LocalCloud.config_overrides``).

    It runs under the local cloud's defaults (the outcome worse for the design wherever AWS is undocumented): the
    fleet device provisions in the primary's region, where the account's certificate provider lives."""
    return LocalCloud(state_dir=state_dir, config_overrides={"provisioning": list(SECOND_PROVISIONING)}, **options)


def deploy_provisioning_cloud(cloud: LocalCloud, on_stack: Callable[..., None] | None = None) -> None:
    """What an operator does for fleet provisioning before ``pulumi up``: the claim (`python -m pki issue-claim`)."""
    from pki.claim import issue_claim

    issue_claim(cloud.ensure_pki())
    cloud.deploy(on_stack=on_stack)


def run_provisioning_scenario(cloud: LocalCloud, step: Callable[[str], None] = lambda _: None) -> DemoResult:
    """In a cloud deployed by :func:`deploy_provisioning_cloud`: one device provisioned by claim, then connecting
    and publishing in every region; return what happened."""
    regions = cloud.regions
    step("A factory-fresh device provisions itself by claim (device tool, fleet provisioning MQTT API, TLS 1.3)")
    fleet = _provisioned_by_claim(cloud, "fleet-sensor-01", regions[0])
    step("The fleet device connects in every region and publishes telemetry")
    _publish_everywhere(cloud, [d for d in (fleet,) if d.certificate_pem])
    return _result(cloud, [fleet], SECOND_PROVISIONING)


def _publish_everywhere(cloud: LocalCloud, devices: list[Device]) -> None:
    """Each device connects in every region (where it was first seen first) and publishes one message."""
    for device in devices:
        for region in [*device.first_regions, *[r for r in cloud.regions if r not in device.first_regions]]:
            connection = _try_connect(cloud, device, region, attempts=3)
            if connection is None:
                continue
            try:
                cloud.engines.iot.publish(connection, f"i/{device.name}/m",
                                          json.dumps({"message": f"hello from {device.name} via {region}"}))
            except PublishRefused as refused:
                device.results[region] += f"; publish refused: {refused}"
    cloud.settle()


def _result(cloud: LocalCloud, devices: list[Device], provisioning: tuple[str, ...]) -> DemoResult:
    """The deployment's outcome, read before its local cloud stops: dead letters, registries, inventories."""
    outputs = cloud.primary_outputs
    inventory_table = outputs["inventoryTableName"]
    dead_letters = {region: observe.queue_depth(region, cloud.outputs(region)["replicationDeadLetterQueueUrl"])
                    for region in cloud.regions}
    return DemoResult(cloud.regions, devices, inventory_table, outputs["dataTableName"],
                      inventory_table.removesuffix("-device-inventory"), dead_letters, provisioning,
                      {region: registry(region) for region in cloud.regions},
                      {region: {i["ThingName"]: i.get("CertificateId", "")
                                for i in observe.table_items(region, inventory_table)} for region in cloud.regions})


def registry(region: str) -> list[CertificateView]:
    """Every certificate registered in ``region`` with its status, things and policies (sorted by CN)."""
    from localcloud.compat.moto.core import DEFAULT_ACCOUNT_ID
    from localcloud.compat.moto.iot import iot_backends

    backend = iot_backends[DEFAULT_ACCOUNT_ID][region]
    things: dict[str, list[str]] = {}
    for principal, thing in list(backend.principal_things):
        things.setdefault(str(principal).rsplit("/", 1)[-1], []).append(thing)
    policies: dict[str, list[str]] = {}
    for principal, policy in list(backend.principal_policies):
        policies.setdefault(str(principal).rsplit("/", 1)[-1], []).append(policy)
    views = [CertificateView(c.certificate_id, _common_name(c.certificate_pem), c.status,
                             tuple(sorted(things.get(c.certificate_id, []))),
                             tuple(sorted(policies.get(c.certificate_id, []))))
             for c in list(backend.certificates.values())]
    return sorted(views, key=lambda view: (view.common_name, view.certificate_id))


def real_client_step(cloud: LocalCloud, state_dir: Path | None) -> list[str]:
    """Serve the MQTT endpoints briefly: a paho device (python -m device's session) is refused, JITR runs, it
    connects and publishes QoS 1; then every region's canary runs over MQTT/TLS. Skipped, saying why, if the
    endpoints cannot start."""
    import tempfile

    from device.endpoint import Endpoint
    from device.session import Identity, connect_with_backoff
    from localcloud.services.iot.mqtt.endpoints import MqttEndpoints

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

    assert cloud.state_dir is not None
    folder = cloud.state_dir / "demo-provisioned"
    _enrol(cloud, folder, name, region)
    cloud.settle()
    with cloud.provisioning_api(region, lifetime_s=60) as api:
        answer = provision.provision(api.url, name, folder / "devices" / f"{name}.provisioning.key", folder / "out")
    cloud.settle()  # its inventory item replicates: every region registers it
    return Device(name, f"provisioned through the API (CSR; home {answer['region']})",
                  (folder / "out" / f"{name}.crt").read_text(), [], True)


def _enrol(cloud: LocalCloud, folder: Path, name: str, region: str) -> None:
    """Put ``name`` on the allow-list as manufacturing and operators do: `python -m pki enrol` (the device's own
    verifying key) then `python -m ops allow-list import` (a global table: every region sees it)."""
    from ops import allow_list
    from pki.enrolment import enrol

    entries = allow_list.parse(enrol(folder, [name]).read_text().splitlines())
    allow_list.enrol(None, region, entries, application=cloud.primary_outputs["inventoryTableName"]
                     .removesuffix("-device-inventory"))


def _provisioned_by_claim(cloud: LocalCloud, serial: str, region: str) -> Device:
    """Enrol ``serial``, serve the MQTT endpoints, and run the device tool's fleet provisioning by claim
    (``python -m device fleet-provision``) against ``region``: it connects with the claim, sends a CSR for a key it
    made, proven by its enrolled signing key (the one `pki enrol` made), registers its serial with the template, and
    keeps the certificate. Its key lives in a temporary folder, deleted when the demo is done with it (never in the state folder)."""
    import tempfile

    from device.endpoint import Endpoint
    from device.fleet import FleetProvisioningError, provision_by_claim
    from localcloud.services.iot.mqtt.endpoints import MqttEndpoints
    from pki.claim import claim_paths
    from pki.enrolment import signing_key_path

    assert cloud.state_dir is not None
    _enrol(cloud, cloud.state_dir / "demo-fleet", serial, region)
    cloud.settle()
    device = Device(serial, "fleet by claim: device tool over MQTT (deployment jitr + fleet)", "", [], True)
    claim_cert, claim_key = claim_paths(cloud.pki_dir)
    with MqttEndpoints(cloud, ports={r: 0 for r in cloud.regions}, resolver_port=0) as endpoints, \
            tempfile.TemporaryDirectory(prefix="demo-fleet-") as folder:
        endpoint = Endpoint("127.0.0.1", endpoints.port(region), cloud.domain)
        try:
            done = provision_by_claim(endpoint, serial, claim_cert, claim_key, cloud.pki_dir / "root-ca.crt",
                                      Path(folder), signing_key=signing_key_path(cloud.state_dir / "demo-fleet", serial),
                                      template=cloud.primary_outputs["fleetTemplateName"],
                                      attempts=3, base_s=0.05, cap_s=0.3)
        except FleetProvisioningError as error:
            device.results[region] = f"refused: {error}"
            return device
        device.certificate_pem = done.certificate.read_text()
    cloud.settle()  # the hook's inventory item replicates: every region registers the certificate
    return device


def _try_connect(cloud: LocalCloud, device: Device, region: str, *, attempts: int) -> Any:
    try:
        connection = cloud.connect(region, device.certificate_pem, device.name, attempts=attempts)
    except ConnectionRefused as refused:
        device.results[region] = f"refused: {refused.reason}"
        return None
    refused_before = device.results.get(region, "").startswith("refused")
    device.results[region] = "connected" + (f" (after {device.arrival} refusal)"
                                            if refused_before or connection.attempts > 1 else "")
    if region not in device.worked_in:
        device.worked_in.append(region)
    return connection


# -- rendering -------------------------------------------------------------------------------------
def _short(value: str, n: int = 12) -> str:
    return value[:n] + "…" if len(value) > n else value


def _common_name(pem: str) -> str:
    try:
        subject = x509.load_pem_x509_certificate(pem.encode()).subject
        return str(subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)
    except Exception:  # noqa: BLE001 - a display helper
        return "?"


def devices_table(result: DemoResult) -> Table:
    """Every device of the demo, region by region; the second deployment's after a separator."""
    table = Table(title="Devices", title_justify="left")
    table.add_column("device")
    table.add_column("who")
    for region in result.regions:
        table.add_column(region)
    deployments = [result, *([result.second] if result.second else [])]
    for index, deployment in enumerate(deployments):
        if index:
            table.add_section()
        for device in deployment.devices:
            cells = []
            for region in result.regions:
                text = device.results.get(region, "-")
                style = "green" if text.startswith("connected") else "red"
                cells.append(f"[{style}]{_short(text, 70)}[/{style}]")
            table.add_row(device.name, device.role, *cells)
    return table


def region_tables(result: DemoResult, region: str) -> list[Table]:
    """The region's certificates (from ``result``), inventory, stored telemetry and executions (read live: call it
    while the deployment's local cloud runs)."""
    certificates = Table(title=f"{region}: certificates and things", title_justify="left")
    for column in ("certificate id", "CN", "status", "thing attached", "policy"):
        certificates.add_column(column)
    for view in result.certificates.get(region, []):
        style = {"ACTIVE": "green", "PENDING_ACTIVATION": "yellow"}.get(view.status, "red")
        certificates.add_row(_short(view.certificate_id), view.common_name, f"[{style}]{view.status}[/{style}]",
                             ", ".join(view.things) or "-",
                             ", ".join(p.removeprefix(result.application + "-") for p in view.policies) or "-")
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
        executions.add_row(execution.machine.removeprefix(result.application + "-"), _short(execution.name, 24),
                           f"[{style}]{execution.status}[/{style}]", str(execution.transitions), _describe_input(execution.input))
    return [certificates, inventory, telemetry, executions]


def _describe_input(raw: str) -> str:
    try:
        document = json.loads(raw)
    except (TypeError, ValueError):
        return ""
    if "ThingName" in document:
        return f"{document['ThingName']} ({document.get('EventName', '')}, {document.get('Status', '')})"
    if "certificateId" in document:
        return f"registration event for {_short(document['certificateId'])}"
    return ""


def run(console: Console | None = None, state_dir: Path | None = None) -> DemoResult:
    """The ``demo`` command: prepare, deploy, onboard, publish, show; then the second deployment (jitr + fleet)."""
    console = console or Console()
    cloud = LocalCloud(state_dir=state_dir)
    assert cloud.state_dir is not None
    second = provisioning_cloud(cloud.state_dir / "jitr-fleet")
    total = 1 + len(cloud.stacks) + 5 + 1 + len(second.stacks) + 2  # one per step() below
    shown: list[Any] = []  # what to print, built while each deployment's local cloud runs
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("Starting the local cloud (moto, fixes, services, PKI, hosted zone)", total=total)

        def step(description: str) -> None:
            progress.update(task, advance=1, description=description)

        def deployed(shipped: Any, run_: Any) -> None:
            step(f"Deployed {shipped.name}: {sum(1 for r in run_.resources if r.custom)} resources")

        with cloud:
            cloud.deploy(on_stack=deployed)
            result = run_scenario(cloud, step)
            step("A real MQTT client (paho) over TLS 1.3 to the served endpoints; the canaries probe every region")
            shown += real_client_step(cloud, state_dir=cloud.state_dir)
            shown += _region_sections(result, "")
        step(f"A second deployment in its own local cloud (another account, another CA): provisioning "
             f"{' + '.join(SECOND_PROVISIONING)}")
        with second:
            deploy_provisioning_cloud(second, on_stack=deployed)
            result.second = run_provisioning_scenario(second, step)
            shown += _region_sections(result.second, f"second deployment ({' + '.join(SECOND_PROVISIONING)}): ")
        progress.update(task, completed=total, description="Done")
    console.print(devices_table(result))
    for renderable in shown:
        console.print(renderable)
    console.print(unproven_note())
    return result


def unproven_note() -> str:
    """What the demo did not show, because the design depends on an undocumented AWS behaviour there."""
    from localcloud.assumptions import DESIGN_DEPENDS_ON, register_rows

    rows = ", ".join(register_rows()[name] for name in DESIGN_DEPENDS_ON)
    return (f"Note: everything above ran under the local cloud's defaults (where AWS is undocumented, the outcome "
            f"worse for the design). Not shown: fleet provisioning outside the primary's region and JITP's inventory "
            f"record, which need the kinder outcome of {rows} (docs/emulator.md, Assumptions register). Check them "
            "in a sandbox account with `python -m ops conformance REGION`.")


def _region_sections(result: DemoResult, heading: str) -> list[Any]:
    """A rule and the tables of each region of one deployment (read now: its local cloud must be running)."""
    from rich.rule import Rule

    return [part for region in result.regions
            for part in [Rule(f"[bold]{heading}{region}"), *region_tables(result, region)]]
