"""Benchmark (not a test): cost per device of each provisioning mode, from execution histories in the local cloud.

For each mode (``jitr``, ``jitp``) it deploys both shipped stacks into a fresh local cloud with ``provisioning`` set
to that mode, onboards N devices in eu-west-1 (first connection refused, the cloud settles, the device reconnects),
lets replication reach us-west-2, and prints per device: state transitions (``*StateEntered`` events of every
execution), Lambda invocations (``LambdaFunctionScheduled`` events), executions, and API calls an execution made to
another region (``observe.CrossRegionMeter``).

    .venv/bin/python scripts/bench_provisioning.py [--devices N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pki  # noqa: E402
from localcloud import observe  # noqa: E402
from localcloud.cloud import LocalCloud  # noqa: E402
from localcloud.engines import ConnectionRefused  # noqa: E402

REGIONS = ("eu-west-1", "us-west-2")


def _lambda_invocations(region: str, arn: str) -> int:
    return sum(1 for event in observe.history(region, arn) if event.get("type") == "LambdaFunctionScheduled"
               or (event.get("type") == "TaskScheduled"
                   and event.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda"))


def measure(mode: str, devices: int) -> dict[str, float]:
    with LocalCloud(state_dir=Path(tempfile.mkdtemp(prefix=f"bench-{mode}-")),
                    config_overrides={"provisioning": mode}) as cloud:
        cloud.ensure_pki()
        cloud.deploy()
        issued = pki.issue_device_certificates(cloud.pki_dir, [f"{mode}-bench-{i:04d}" for i in range(devices)])
        with observe.CrossRegionMeter() as meter:
            for device in issued:
                try:
                    cloud.engines.iot.connect(REGIONS[0], device.certificate_pem, device.name)
                except ConnectionRefused:
                    pass
                cloud.settle()
                cloud.connect(REGIONS[0], device.certificate_pem, device.name, attempts=2)
            cloud.settle()
        per_machine: Counter[str] = Counter()
        totals = Counter()
        for region in REGIONS:
            for execution in observe.executions(region):
                per_machine[f"{region} {execution.machine}"] += execution.transitions
                totals["transitions"] += execution.transitions
                totals["executions"] += 1
                totals["lambda"] += _lambda_invocations(region, execution.arn)
        for region in REGIONS[1:]:
            for device in issued:
                assert observe.certificate_status(region, device.certificate_id) == "ACTIVE", (mode, device.name)
        result = {key: totals[key] / devices for key in ("transitions", "lambda", "executions")}
        result["cross_region"] = meter.cross_region / devices
        result["by_machine"] = {k: v / devices for k, v in sorted(per_machine.items())}
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5)
    args = parser.parse_args()
    print(f"per device onboarded in {REGIONS[0]} and replicated to {REGIONS[1]} ({args.devices} devices per mode)")
    for mode in ("jitr", "jitp"):
        result = measure(mode, args.devices)
        print(f"{mode}: transitions {result['transitions']:.1f}, Lambda invocations {result['lambda']:.1f}, "
              f"executions {result['executions']:.1f}, cross-region calls {result['cross_region']:.1f}")
        for machine, transitions in result["by_machine"].items():
            print(f"    {machine}: {transitions:.1f} transitions")


if __name__ == "__main__":
    main()
