"""``python -m localcloud bench --devices N``: onboarding throughput and per-device cost, measured on the
deployed program in the local cloud.

N devices (certificates from the local CA) each first connect to a random region (seeded), are
refused (just-in-time registration), and reconnect in every region once the cloud has settled;
devices arrive in batches of ``batch`` between settles. Then each device publishes ``messages``
telemetry messages to a random region. Reported:

* ``devices``, ``regions``; ``lost``: devices whose certificate is not ACTIVE with the thing
  attached in every region, or that could not connect everywhere; ``duplicates``: extra
  inventory items or extra certificates attached to a device's thing, over all regions;
* ``wall_s`` and ``devices_per_s`` of the onboarding phase (deploy and certificate issuance are
  not counted);
* per device: state transitions (``*StateEntered`` history events), Lambda invocations,
  executions, AWS calls made by executions to another region than their own;
* per telemetry message: state transitions.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from localcloud import observe
from localcloud.cloud import LocalCloud, LocalCloudError
from localcloud.services import ConnectionRefused
from localcloud.services.awslambda import inprocess as lambda_inprocess
from localcloud.speedups.gc_tuning import bulk_gc

JSON_KEYS = ("devices", "lost", "duplicates", "wall_s", "devices_per_s", "transitions_per_device",
             "lambda_invocations_per_device", "executions_per_device", "cross_region_calls_per_device",
             "transitions_per_message", "regions")


@dataclass
class BenchResult:
    devices: int
    lost: int
    duplicates: int
    wall_s: float
    devices_per_s: float
    transitions_per_device: float
    lambda_invocations_per_device: float
    executions_per_device: float
    cross_region_calls_per_device: float
    transitions_per_message: float
    regions: list[str]
    details: dict[str, Any] = field(default_factory=dict)  # not part of the JSON contract

    def as_json(self) -> dict[str, Any]:
        document = asdict(self)
        return {key: document[key] for key in JSON_KEYS}


def _snapshot(regions: Sequence[str]) -> tuple[int, int]:
    """(executions, transitions) over every region so far."""
    executions = transitions = 0
    for region in regions:
        for execution in observe.executions(region):
            executions += 1
            transitions += execution.transitions
    return executions, transitions


def run_bench(devices: int, *, regions: Sequence[str] | None = None, messages: int = 1, seed: int = 7,
              batch: int = 500, state_dir: Path | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> BenchResult:
    """Deploy, onboard ``devices`` devices, publish, measure (see the module docstring)."""
    if devices < 1:
        raise ValueError("devices must be at least 1")
    if messages < 0:
        raise ValueError("messages must be 0 or more")
    report = progress or (lambda phase, done, total: None)
    cloud = LocalCloud(state_dir=state_dir)
    deployed_regions = cloud.regions
    first_regions = list(regions or deployed_regions)
    unknown = [r for r in first_regions if r not in deployed_regions]
    if unknown:
        raise LocalCloudError(f"--regions {unknown} are not deployed; the shipped stacks cover {deployed_regions}")
    rng = random.Random(seed)  # noqa: S311 - a seeded simulation, not a secret
    with cloud, observe.CrossRegionMeter() as meter, ExitStack() as bulk:
        report("deploy", 0, 1)
        cloud.deploy()
        report("deploy", 1, 1)
        collector = bulk.enter_context(bulk_gc())
        ca = cloud.load_ca()
        names = [f"bench-{i:06d}" for i in range(devices)]
        issued = []
        for start in range(0, devices, 1000):
            issued.extend(ca.issue_devices(names[start:start + 1000]))
            report("certificates", len(issued), devices)
        firsts = [rng.choice(first_regions) for _ in names]
        invocations_before = len(lambda_inprocess.INVOCATIONS)
        meter.calls = meter.cross_region = 0
        iot = cloud.engines.iot
        connections: list[dict[str, Any]] = [{} for _ in names]
        refused_everywhere: set[int] = set()
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, devices, batch):
            members = range(start, min(start + batch, devices))
            for i in members:
                try:
                    connections[i][firsts[i]] = iot.connect(firsts[i], issued[i].certificate_pem, names[i])
                except ConnectionRefused:
                    pass
            cloud.settle()
            for i in members:
                for region in [firsts[i], *[r for r in deployed_regions if r != firsts[i]]]:
                    if region in connections[i]:
                        continue
                    try:
                        connections[i][region] = cloud.connect(region, issued[i].certificate_pem, names[i],
                                                               attempts=3)
                    except ConnectionRefused:
                        refused_everywhere.add(i)
            collector.checkpoint()
            report("onboarding", min(start + batch, devices), devices)
        cloud.settle()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        onboarding_invocations = len(lambda_inprocess.INVOCATIONS) - invocations_before
        onboarding_cross = meter.cross_region
        executions, transitions = _snapshot(deployed_regions)

        published = 0
        for i in range(devices):
            for _ in range(messages):
                region = rng.choice(deployed_regions)
                connection = connections[i].get(region)
                if connection is None:
                    continue
                iot.publish(connection, f"i/{names[i]}/m", json.dumps({"message": f"m{published}"}))
                published += 1
            if (i + 1) % 1000 == 0 or i + 1 == devices:
                cloud.settle()
                report("telemetry", i + 1, devices)
        cloud.settle()
        _, transitions_after = _snapshot(deployed_regions)

        report("checking", 0, 1)
        lost, duplicates, details = _check(cloud, names, issued, refused_everywhere)
        report("checking", 1, 1)
        details.update({"onboarding_cpu_s": round(cpu, 3), "messages_published": published, "batch": batch, "seed": seed,
                        "execution_calls": meter.calls, "cross_region_examples": meter.examples[:5],
                        "action_failures": len(iot.failures)})
    return BenchResult(
        devices=devices, lost=lost, duplicates=duplicates, wall_s=round(wall, 3),
        devices_per_s=round(devices / wall, 2) if wall > 0 else 0.0,
        transitions_per_device=round(transitions / devices, 3),
        lambda_invocations_per_device=round(onboarding_invocations / devices, 3),
        executions_per_device=round(executions / devices, 3),
        cross_region_calls_per_device=round(onboarding_cross / devices, 3),
        transitions_per_message=round((transitions_after - transitions) / published, 3) if published else 0.0,
        regions=list(deployed_regions), details=details)


def _check(cloud: LocalCloud, names: list[str], issued: list[Any], refused: set[int]) -> tuple[int, int, dict]:
    """Lost devices and duplicated registrations, region by region, from moto's backends."""
    from localcloud.compat.moto.core import DEFAULT_ACCOUNT_ID
    from localcloud.compat.moto.iot import iot_backends

    table = cloud.primary_outputs["inventoryTableName"]
    lost_devices: set[int] = set(refused)
    duplicates = 0
    per_region: dict[str, dict[str, int]] = {}
    wanted = set(names)
    for region in cloud.regions:
        backend = iot_backends[DEFAULT_ACCOUNT_ID][region]
        attached: dict[str, int] = {}
        for (_principal, thing) in list(backend.principal_things):
            if thing in wanted:
                attached[thing] = attached.get(thing, 0) + 1
        for i, name in enumerate(names):
            certificate = backend.certificates.get(issued[i].certificate_id)
            if certificate is None or certificate.status != "ACTIVE" or \
                    (certificate.arn, name) not in backend.principal_things:
                lost_devices.add(i)
        items = [item for item in observe.table_items(region, table) if item.get("ThingName") in wanted]
        extra_items = len(items) - len({item["ThingName"] for item in items})
        extra_certificates = sum(count - 1 for count in attached.values() if count > 1)
        duplicates += extra_items + extra_certificates
        per_region[region] = {"inventory_items": len(items), "things_with_certificates": len(attached),
                              "extra_certificates": extra_certificates}
    return len(lost_devices), duplicates, {"per_region": per_region}


def render(result: BenchResult, console: Console) -> None:
    table = Table(title=f"localcloud bench: {result.devices} devices, regions {', '.join(result.regions)}",
                  title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in JSON_KEYS:
        if key == "regions":
            continue
        table.add_row(key, str(getattr(result, key)))
    for key, value in result.details.items():
        table.add_row(f"[dim]{key}[/dim]", f"[dim]{value}[/dim]")
    console.print(table)


def main(*, devices: int, regions: Sequence[str] | None, messages: int, seed: int, batch: int, as_json: bool,
         console: Console, state_dir: Path | None = None) -> int:
    if as_json:
        result = run_bench(devices, regions=regions, messages=messages, seed=seed, batch=batch, state_dir=state_dir)
        print(json.dumps(result.as_json()))
        return 0
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done)

        result = run_bench(devices, regions=regions, messages=messages, seed=seed, batch=batch,
                           state_dir=state_dir, progress=progress)
    render(result, console)
    return 0 if result.lost == 0 and result.duplicates == 0 else 1
