"""``python -m localcloud storm``: an onboarding storm on the deployed program, in simulated time, under quotas.

1. Deploy the shipped stacks into the local cloud (fast path) and onboard a few calibration devices in the first
   region at no load: the API calls, executions and state transitions they cost per region give the per-device
   profile (``bound.Profile``), measured, not written by hand.
2. Put the cloud on a ``SimClock`` (``simulated.simulated_time``) with a ``Throttle`` from the quota data. Devices
   first connect at ``rate`` per simulated second (round-robin over ``regions``, or all in the first one), are
   refused (JITR) and reconnect with exponential backoff and full jitter, as device SDKs do, until they connect.
   Simulated processes run what AWS runs asynchronously: IoT rule actions (every ``rule_tick_s``), global-table
   replication (each write applied ``replication_lag_s`` after it), pipe polls (every ``pipe_poll_s``) and their
   EventBridge deliveries, execution-status events (to the dead-letter rules).
3. Every simulated second a monitor records which devices are ACTIVE (certificate ACTIVE, attached to its thing,
   holding the device policy) in each region; the storm ends when every device is ACTIVE everywhere and nothing is left to run, or at
   ``max_sim_s``.
"""
from __future__ import annotations

import random
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud import interception, observe
from localcloud.assumptions import AWS_AS_REPORTED, Assumptions
from localcloud.cloud import LocalCloud, LocalCloudError
from localcloud.fixes import sfn_retry_sleep
from localcloud.services import ConnectionRefused
from localcloud.services.awslambda import inprocess as lambda_inprocess
from localcloud.speedups.gc_tuning import bulk_gc
from quotas import Quotas, load

from . import bound as bounds
from .clock import SimClock
from .simulated import simulated_time
from .throttle import Throttle

#: Simulated seconds between collector checkpoints (``speedups.gc_tuning``: the executions so far are frozen, so the
#: collector does not scan them again; only its timing changes, as in ``bench``).
GC_CHECKPOINT_S = 30.0

DETAIL_KEYS = ("executions", "transitions", "registration_events", "rule_sql_lookups", "rule_function_errors",
               "missing_item")
JSON_KEYS = ("devices", "rate", "regions", "first_regions", "lost", "stuck", "dead_letters", "executions_failed",
             "drain_s", "bound_s", "bound_api", "bound_region", "ratio", "throttles", "retries",
             "time_to_active_origin_p50_s", "time_to_active_origin_p99_s", "time_to_active_everywhere_p50_s",
             "time_to_active_everywhere_p99_s", "reconnects", "wall_s")


@dataclass
class StormConfig:
    devices: int
    rate: float  # first connections per simulated second
    regions: Sequence[str] | None = None  # where devices first connect (default: every deployed region)
    one_region: bool = False  # every device first connects to the first of ``regions``
    quotas_file: Path | None = None  # the account's quotas (default: AWS's); the program is deployed with the same
    seed: int = 7
    replication_lag_s: float = 1.0
    pipe_poll_s: float = 0.5
    rule_tick_s: float = 0.05
    reconnect_base_s: float = 1.0
    reconnect_cap_s: float = 128.0
    calibration_devices: int = 4
    max_sim_s: float | None = None  # default: 3 x bound + 600 s
    state_dir: Path | None = None
    assumptions: Assumptions = AWS_AS_REPORTED  # where AWS is undocumented (localcloud.assumptions)


@dataclass
class StormResult:
    devices: int
    rate: float
    regions: list[str]
    first_regions: dict[str, int]
    lost: int
    stuck: int
    dead_letters: int
    executions_failed: int
    drain_s: float | None
    bound_s: float
    bound_api: str
    bound_region: str
    ratio: float | None
    throttles: dict[str, int]
    retries: dict[str, int]
    time_to_active_origin_p50_s: float | None
    time_to_active_origin_p99_s: float | None
    time_to_active_everywhere_p50_s: float | None
    time_to_active_everywhere_p99_s: float | None
    reconnects: int
    wall_s: float
    profile: bounds.Profile | None = None
    bound_per_api: dict[str, tuple[float, str]] = field(default_factory=dict)
    timeline: list[tuple[float, dict[str, int], int]] = field(default_factory=list)  # (t, active per region, everywhere)
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` object: ``JSON_KEYS``, and what the storm cost in executions and state transitions."""
        return {**{key: getattr(self, key) for key in JSON_KEYS},
                **{key: self.details[key] for key in DETAIL_KEYS if key in self.details}}


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 3)


class _CallCounter:
    """Counts recorded AWS calls per (``service:Operation``, region) while installed (an ``interception`` observer)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, call: interception.Call) -> None:
        self.counts[(f"{call.service}:{call.operation}", call.region)] += 1


def _executions_by_region(regions: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """(executions, transitions, failed) per region so far."""
    out = {}
    for region in regions:
        executions = transitions = failed = 0
        for execution in observe.executions(region):
            executions += 1
            transitions += execution.transitions
            failed += execution.status in ("FAILED", "TIMED_OUT", "ABORTED")
        out[region] = (executions, transitions, failed)
    return out


def calibrate(cloud: LocalCloud, ca: Any, regions: Sequence[str], devices: int) -> bounds.Profile:
    """Onboard ``devices`` devices in ``regions[0]`` at no load; their per-device calls per region."""
    names = [f"storm-calibration-{i:03d}" for i in range(devices)]
    issued = ca.issue_devices(names)
    cloud.settle()
    before = _executions_by_region(regions)
    rules = cloud.engines.iot.stats
    lookups_before = rules.dynamodb_lookups
    counter = _CallCounter()
    interception.add_observer(counter)
    try:
        for name, device in zip(names, issued, strict=True):
            cloud.connect(regions[0], device.certificate_pem, name)
        cloud.settle()
    finally:
        interception.remove_observer(counter)
    after = _executions_by_region(regions)
    # the rules engine's own reads (get_dynamodb() in a rule's SQL; none in the shipped rules) are billed like the
    # Lambdas' GetItems; all in the origin, where the devices connect
    counter.counts[("dynamodb:GetItem", regions[0])] += rules.dynamodb_lookups - lookups_before
    origin: Counter[str] = Counter()
    replica: Counter[str] = Counter()
    others = max(1, len(regions) - 1)
    for (api, region), count in counter.counts.items():
        if region == regions[0]:
            origin[api] += count / devices
        elif region in regions:
            replica[api] += count / devices / others
    for region in regions:
        executions = after[region][0] - before[region][0]
        transitions = after[region][1] - before[region][1]
        target = origin if region == regions[0] else replica
        scale = devices if region == regions[0] else devices * others
        target["sfn:StartExecution"] += executions / scale
        target["sfn:StateTransition"] += transitions / scale
    return bounds.Profile(dict(origin), dict(replica))


def _dead_letters(regions: Sequence[str]) -> int:
    from localcloud.compat.moto.core import DEFAULT_ACCOUNT_ID
    from localcloud.compat.moto.services import sqs_backends

    total = 0
    for region in regions:
        for name, queue in sqs_backends[DEFAULT_ACCOUNT_ID][region].queues.items():
            if "dlq" in name.lower() or "dead" in name.lower():
                total += len(queue._messages)
    return total


def run_storm(config: StormConfig, progress: Callable[[str, float, float], None] | None = None) -> StormResult:
    if config.devices < 1:
        raise ValueError("devices must be at least 1")
    if config.rate <= 0:
        raise ValueError("rate must be > 0")
    report = progress or (lambda phase, done, total: None)
    quotas = load(config.quotas_file)
    # The program paces throttled calls at the quotas it is configured with (quotasFile): the same ones the
    # simulated AWS enforces, as a user who raised quotas would configure both.
    overrides = {"quotasFile": str(Path(config.quotas_file).resolve())} if config.quotas_file else {}
    cloud = LocalCloud(state_dir=config.state_dir, config_overrides=overrides, assumptions=config.assumptions)
    deployed = cloud.regions
    first = list(config.regions or deployed)
    unknown = [r for r in first if r not in deployed]
    if unknown:
        raise LocalCloudError(f"--regions {unknown} are not deployed; the shipped stacks cover {deployed}")
    if config.one_region:
        first = first[:1]
    with cloud:
        report("deploy", 0, 1)
        cloud.deploy()
        report("deploy", 1, 1)
        ca = cloud.load_ca()
        calibration_regions = [first[0], *[r for r in deployed if r != first[0]]]
        profile = calibrate(cloud, ca, calibration_regions, config.calibration_devices)
        names = [f"storm-{i:06d}" for i in range(config.devices)]
        issued = []
        for start in range(0, config.devices, 1000):
            issued.extend(ca.issue_devices(names[start:start + 1000]))
            report("certificates", len(issued), config.devices)
        origins = [first[i % len(first)] for i in range(config.devices)]
        first_connections = Counter(origins)
        expected = bounds.expected_calls(profile, first_connections, deployed)
        bound = bounds.bound(expected, bounds.quota_rate(quotas))
        max_sim = config.max_sim_s if config.max_sim_s is not None else 3 * bound.seconds + 600.0
        result = _simulate(cloud, config, quotas, names, issued, origins, deployed, max_sim, report)
    result.profile = profile
    result.bound_s = round(bound.seconds, 3)
    result.bound_api = bound.api
    result.bound_region = bound.region
    result.bound_per_api = {api: (round(s, 3), r) for api, (s, r) in bound.per_api.items()}
    result.first_regions = dict(first_connections)
    result.ratio = round(result.drain_s / bound.seconds, 3) if result.drain_s and bound.seconds else None
    return result


def _simulate(cloud: LocalCloud, config: StormConfig, quotas: Quotas, names: list[str], issued: list[Any],
              origins: list[str], regions: list[str], max_sim: float,
              report: Callable[[str, float, float], None]) -> StormResult:
    from localcloud.compat.moto.core import DEFAULT_ACCOUNT_ID
    from localcloud.compat.moto.iot import iot_backends

    engines = cloud.engines
    iot = engines.iot
    random.seed(config.seed)  # moto's retrier draws its FULL jitter from the random module
    rng = random.Random(config.seed)  # noqa: S311 - a seeded simulation, not a secret
    clock = SimClock()
    env = clock.env
    devices = len(names)
    arrival = [i / config.rate for i in range(devices)]
    connected_at: list[float | None] = [None] * devices
    active_at: dict[str, list[float | None]] = {region: [None] * devices for region in regions}
    pending: dict[str, set[int]] = {region: set(range(devices)) for region in regions}
    backends = {region: iot_backends[DEFAULT_ACCOUNT_ID][region] for region in regions}
    # the device policy of each region: the one policy the calibration devices' certificates hold there
    device_policy = {}
    for region, backend in backends.items():
        calibration = {arn for (arn, thing) in list(backend.principal_things) if thing.startswith("storm-calibration-")}
        held = {policy for (target, policy) in list(backend.principal_policies) if target in calibration}
        if len(held) != 1:
            raise LocalCloudError(f"{region}: expected the calibration certificates to hold one device policy, found {sorted(held)}")
        device_policy[region] = held.pop()
    certificate_ids = [device.certificate_id for device in issued]
    reconnects = 0
    gave_up: set[int] = set()
    timeline: list[tuple[float, dict[str, int], int]] = []
    finished = env.event()
    retry_waits_before = len(sfn_retry_sleep.SLEPT)
    invocations_before = len(lambda_inprocess.INVOCATIONS)
    events_before, lookups_before = len(iot.published_events), iot.stats.dynamodb_lookups
    function_errors_before = iot.stats.sql_function_errors
    refused_starts_before, refused_deliveries_before = iot.stats.throttled_starts, engines.eventbridge.stats.throttled
    executions_before = _executions_by_region(regions)
    replication_times: deque[float] = deque()

    def device(i: int):
        nonlocal reconnects
        yield env.timeout(arrival[i])
        attempt = 0
        origin = origins[i]
        while True:
            try:
                iot.connect(origin, issued[i].certificate_pem, names[i])
                connected_at[i] = env.now
                return
            except ConnectionRefused:
                certificate = backends[origin].certificates.get(certificate_ids[i])
                if certificate is not None and certificate.status in ("INACTIVE", "REVOKED"):
                    gave_up.add(i)  # refused without a registration event: reconnecting changes nothing
                    return
            attempt += 1
            reconnects += 1
            yield env.timeout(rng.uniform(0, min(config.reconnect_cap_s, config.reconnect_base_s * 2 ** attempt)))

    def replicate() -> None:
        queue = engines.global_tables.queue
        while len(replication_times) < len(queue):
            replication_times.append(env.now)
        while queue and replication_times and replication_times[0] <= env.now - config.replication_lag_s:
            replication_times.popleft()
            engines.global_tables._apply(queue.popleft())

    def poll_pipes() -> None:
        engines.pipes.settle()
        engines.eventbridge.settle()

    def ended_executions() -> None:
        engines.waiter.wait(0)

    def quiet() -> bool:
        return (clock.running == 0 and iot.pending() == 0 and engines.global_tables.pending() == 0
                and engines.pipes.pending() == 0 and engines.eventbridge.pending() == 0 and not engines.waiter.running)

    def monitor() -> None:
        now = env.now
        for region in regions:
            backend = backends[region]
            done = []
            for i in pending[region]:
                if now < arrival[i]:
                    continue
                certificate = backend.certificates.get(certificate_ids[i])
                if certificate is not None and certificate.status == "ACTIVE" and \
                        (certificate.arn, names[i]) in backend.principal_things and \
                        (certificate.arn, device_policy[region]) in backend.principal_policies:
                    done.append(i)
            for i in done:
                active_at[region][i] = now
                pending[region].discard(i)
        everywhere = devices - len(set().union(*pending.values()))
        timeline.append((now, {r: devices - len(pending[r]) for r in regions}, everywhere))
        if int(now) % 30 == 0:
            report("storm", everywhere, devices)
        arrived = now >= arrival[-1]
        if not finished.triggered and arrived and quiet() and \
                (everywhere == devices or all(connected_at[i] is not None or i in gave_up for i in range(devices))):
            finished.succeed()

    throttle = Throttle(quotas, clock.now)
    started = time.perf_counter()
    with throttle, simulated_time(clock, iot, throttle.transition_wait), bulk_gc() as collector:
        clock.every(GC_CHECKPOINT_S, collector.checkpoint)
        for i in range(devices):
            env.process(device(i))
        clock.every(config.rule_tick_s, iot.settle)
        clock.every(0.1, replicate)
        clock.every(config.pipe_poll_s, poll_pipes)
        clock.every(1.0, ended_executions)
        clock.every(1.0, monitor)
        env.run(until=env.any_of([finished, env.timeout(max_sim)]))
        ended = env.now
    wall = time.perf_counter() - started
    # what the simulation left: end what is queued (no time passes: it cannot change the verdict of stuck devices)
    after = _executions_by_region(regions)
    executions_failed = sum(after[r][2] - executions_before[r][2] for r in regions)
    not_everywhere = set().union(*pending.values())
    work_left = not quiet()
    stuck = len(not_everywhere) if work_left else 0
    lost = 0 if work_left else len(not_everywhere)
    everywhere_at = [max(active_at[r][i] for r in regions) for i in range(devices) if i not in not_everywhere]
    throttles: Counter[str] = Counter()
    for (service, operation, _region), count in throttle.throttled.items():
        throttles[f"{service}:{operation}"] += count
    origin_latency = [active_at[origins[i]][i] - arrival[i] for i in range(devices) if active_at[origins[i]][i] is not None]
    everywhere_latency = [max(active_at[r][i] for r in regions) - arrival[i] for i in range(devices)
                          if i not in not_everywhere]
    return StormResult(
        devices=devices, rate=config.rate, regions=list(regions), first_regions={}, lost=lost, stuck=stuck,
        dead_letters=_dead_letters(regions), executions_failed=executions_failed,
        drain_s=round(max(everywhere_at), 3) if everywhere_at and not not_everywhere else None,
        bound_s=0.0, bound_api="", bound_region="", ratio=None, throttles=dict(sorted(throttles.items())),
        retries={"step_functions_retry_waits": len(sfn_retry_sleep.SLEPT) - retry_waits_before,
                 "pacer_slots": sum(i.function_name.endswith("-pacer")
                                    for i in lambda_inprocess.INVOCATIONS[invocations_before:])},
        time_to_active_origin_p50_s=_percentile(origin_latency, 50),
        time_to_active_origin_p99_s=_percentile(origin_latency, 99),
        time_to_active_everywhere_p50_s=_percentile(everywhere_latency, 50),
        time_to_active_everywhere_p99_s=_percentile(everywhere_latency, 99),
        reconnects=reconnects, wall_s=round(wall, 3), timeline=timeline,
        details={"simulated_end_s": round(ended, 3), "executions": sum(after[r][0] - executions_before[r][0] for r in regions),
                 "transitions": sum(after[r][1] - executions_before[r][1] for r in regions),
                 "registration_events": len(iot.published_events) - events_before,
                 "rule_sql_lookups": iot.stats.dynamodb_lookups - lookups_before,
                 "rule_function_errors": iot.stats.sql_function_errors - function_errors_before,
                 "missing_item": config.assumptions.get_dynamodb_missing_item,
                 "throttled_rule_starts": iot.stats.throttled_starts - refused_starts_before,
                 "throttled_deliveries": engines.eventbridge.stats.throttled - refused_deliveries_before,
                 "gave_up": len(gave_up), "tasks_failed": len(clock.tasks_failed),
                 "admitted": {f"{s}:{o}@{r}": n for (s, o, r), n in sorted(throttle.admitted.items())}},
    )
