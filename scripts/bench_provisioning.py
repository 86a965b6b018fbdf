"""Benchmark (not a test): cost per device of each provisioning mode, from execution histories in the local cloud.

For each mode (``jitr``, ``jitp``, ``fleet`` = ``fleet,jitr`` onboarding by claim) it deploys both shipped stacks
into a fresh local cloud with ``provisioning`` set to that mode, onboards N devices in eu-west-1 (first connection
refused, the cloud settles, the device reconnects), lets replication reach us-west-2, and prints per device: state
transitions (``*StateEntered`` events of every execution), Lambda invocations (``LambdaFunctionScheduled`` events),
executions, and API calls an execution made to another region (``observe.CrossRegionMeter``). Fleet devices are
enrolled on the allow-list and provisioned through the fleet provisioning MQTT API with the claim
(``localcloud.services.iot.fleet``); their Lambda invocations outside any execution (certificate provider,
pre-provisioning hook) are counted from the in-process Lambda ledger.

    .venv/bin/python scripts/bench_provisioning.py [--devices N]
"""
from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from types import SimpleNamespace
from typing import Any
from pathlib import Path

import pki
from localcloud import observe
from localcloud.cloud import LocalCloud
from localcloud.services import ConnectionRefused

REGIONS = ("eu-west-1", "us-west-2")


def _lambda_invocations(region: str, arn: str) -> int:
    return sum(1 for event in observe.history(region, arn) if event.get("type") == "LambdaFunctionScheduled"
               or (event.get("type") == "TaskScheduled"
                   and event.get("taskScheduledEventDetails", {}).get("resourceType") == "lambda"))


def _fleet_devices(cloud: LocalCloud, devices: int) -> list[Any]:
    """Enrol and provision ``devices`` serials by claim in the first region; (name, certificate id, pem) each."""
    import boto3
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    from contract.allow_list import enrol_item
    from functions.fleet_provisioning import proof
    from localcloud.services.iot.fleet import FleetProvisioning

    claim = (cloud.pki_dir / "claim" / "claim.crt").read_text()
    fleet, provisioned = FleetProvisioning(cloud.engines.iot), []
    for i in range(devices):
        serial = f"fleet-bench-{i:04d}"
        signing = ed25519.Ed25519PrivateKey.generate()  # the device's enrolled key; its public half on the allow-list
        verifying = signing.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        boto3.client("dynamodb", region_name=REGIONS[0]).put_item(
            TableName="multi-region-iot-allow-list", Item=enrol_item(serial, verifying, "2026-01-01T00:00:00Z"))
        csr = proof.csr_pem(ec.generate_private_key(ec.SECP256R1()), serial, signing)
        result = fleet.fleet_provision(REGIONS[0], claim, csr, {"SerialNumber": serial})
        cloud.settle()
        cloud.connect(REGIONS[0], result.certificate_pem, serial, attempts=1)
        provisioned.append(SimpleNamespace(name=serial, certificate_id=result.certificate_id))
    return provisioned


def measure(mode: str, devices: int) -> dict[str, float]:
    from localcloud.services.awslambda import inprocess as lambda_inprocess

    config = "fleet,jitr" if mode == "fleet" else mode
    with LocalCloud(state_dir=Path(tempfile.mkdtemp(prefix=f"bench-{mode}-")),
                    config_overrides={"provisioning": config}) as cloud:
        cloud.ensure_pki()
        if mode == "fleet":
            from pki.claim import issue_claim

            issue_claim(cloud.pki_dir)
        cloud.deploy()
        before = len(lambda_inprocess.INVOCATIONS)
        with observe.CrossRegionMeter() as meter:
            issued = _fleet_devices(cloud, devices) if mode == "fleet" else []
            for device in () if mode == "fleet" else pki.issue_device_certificates(
                    cloud.pki_dir, [f"{mode}-bench-{i:04d}" for i in range(devices)]):
                issued.append(device)
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
        totals["lambda"] += sum(1 for call in lambda_inprocess.INVOCATIONS[before:]
                                if "fleet" in call.function_name)  # outside executions: provider and hook
        result = {key: totals[key] / devices for key in ("transitions", "lambda", "executions")}
        result["cross_region"] = meter.cross_region / devices
        result["by_machine"] = {k: v / devices for k, v in sorted(per_machine.items())}
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5)
    args = parser.parse_args()
    print(f"per device onboarded in {REGIONS[0]} and replicated to {REGIONS[1]} ({args.devices} devices per mode)")
    for mode in ("jitr", "jitp", "fleet"):
        result = measure(mode, args.devices)
        print(f"{mode}: transitions {result['transitions']:.1f}, Lambda invocations {result['lambda']:.1f}, "
              f"executions {result['executions']:.1f}, cross-region calls {result['cross_region']:.1f}")
        for machine, transitions in result["by_machine"].items():
            print(f"    {machine}: {transitions:.1f} transitions")


if __name__ == "__main__":
    main()
