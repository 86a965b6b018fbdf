"""Benchmark (not a test): N devices through JITR + replication in two regions, executed in patched moto.

For each device: JITR in its first region (alternating eu-west-1 / us-west-2), the inventory write replicated to
the other region (global table, simulated), the pipe + bus rules of each region routing the stream record
(``builders.inventory`` filters and patterns, moto's matcher) and the replication machine it starts. Prints per
device the state transitions (``*StateEntered`` history events), Lambda invocations, executions and cross-region
API calls (calls made during an execution to a region other than the execution's own), then compares with the
seed design's figures.

    .venv/bin/python scripts/bench_statemachines.py [--devices N]
"""
from __future__ import annotations

import argparse
import os
import time

for key, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "eu-west-1",
                   "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled"}.items():
    os.environ.setdefault(key, value)

# Imported after the fake credentials are set: botocore reads them when the local cloud's clients are made.
from localcloud import interception as aws_calls  # noqa: E402 - after the fake credentials above
from localcloud.services.awslambda import inprocess as lambda_inprocess  # noqa: E402 - after the fake credentials above
from localcloud.statemachines.certs import TestCA  # noqa: E402 - after the fake credentials above
from localcloud.statemachines.harness import REGIONS, Cloud, Run, routed_machines, stream_record  # noqa: E402 - after the fake credentials above

# The seed's design per device in two regions (the brief's figures: JITR + copy machine, one Lambda each,
# a third execution, one cross-region call to read the certificate PEM from the origin region).
SEED = {"transitions": 22, "lambda": 2, "executions": 3, "cross_region": 1}


class Meter:
    """Runs executions and attributes every API call made during one to the execution's region."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.runs: list[Run] = []
        self.cross_region = 0

    def run(self, region: str, machine: str, payload: dict) -> Run:
        start = len(aws_calls.CALLS)
        result = self.cloud.run(region, machine, payload)
        self.cross_region += sum(1 for call in aws_calls.CALLS[start:] if call.region != region)
        self.runs.append(result)
        return result


def device_flow(cloud: Cloud, ca: TestCA, index: int) -> dict:
    first, second = REGIONS[index % 2], REGIONS[(index + 1) % 2]
    device = ca.device(f"bench-{index:04d}")
    event = cloud.connect(first, device)
    meter = Meter(cloud)
    invocations_before = len(lambda_inprocess.INVOCATIONS)
    jitr = meter.run(first, "jitr", event)
    assert jitr.status == "SUCCEEDED", (jitr.error, jitr.cause)
    cloud.replicate_table(first, second)
    item = cloud.item(first, device.name)
    for region in (first, second):  # each region's pipe sees the INSERT in its replica's stream
        machines, payload = routed_machines(region, stream_record(region, item, "INSERT"))
        for machine in machines:
            assert meter.run(region, machine, payload).status == "SUCCEEDED"
    assert cloud.certificate(second, device.certificate_id)["status"] == "ACTIVE"
    return {
        "device": device.name,
        "origin": first,
        "transitions": sum(r.transitions for r in meter.runs),
        "lambda": len(lambda_inprocess.INVOCATIONS) - invocations_before,
        "executions": len(meter.runs),
        "cross_region": meter.cross_region,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10, help="number of devices (default 10)")
    args = parser.parse_args()
    if args.devices < 1:
        parser.error("--devices must be >= 1")
    ca = TestCA()
    started = time.monotonic()
    with Cloud(ca) as cloud:
        rows = [device_flow(cloud, ca, index) for index in range(args.devices)]
    elapsed = time.monotonic() - started
    columns = ("transitions", "lambda", "executions", "cross_region")
    print(f"{'device':<12} {'origin':<10} " + " ".join(f"{c:>12}" for c in columns))
    for row in rows:
        print(f"{row['device']:<12} {row['origin']:<10} " + " ".join(f"{row[c]:>12}" for c in columns))
    mean = {c: sum(r[c] for r in rows) / len(rows) for c in columns}
    print(f"{'mean':<23} " + " ".join(f"{mean[c]:>12.2f}" for c in columns))
    print(f"{'seed design':<23} " + " ".join(f"{SEED[c]:>12}" for c in columns))
    print(f"\n{len(rows)} devices, two regions, {elapsed:.1f} s wall clock in moto "
          f"(transition cost at $0.025/1000: {mean['transitions'] * 0.025:.3f} vs {SEED['transitions'] * 0.025:.3f} USD per 1000 devices)")


if __name__ == "__main__":
    main()
