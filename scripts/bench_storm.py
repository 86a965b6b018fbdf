"""Issue 12's storm goals, measured (a benchmark that prints figures, not a timed test).

    .venv/bin/python scripts/bench_storm.py [--devices 10000] [--one-region-devices 1000] [--out .localcloud/storm]

Runs, each in a fresh process (``python -m localcloud storm --json --plot``):
1. N devices over every deployed region at 10x the bound rate (AttachPolicy: one call per device per region at
   15/s, so 15 devices/s -> 150/s);
2. M devices all first connecting in one region at 10x that case's bound rate (DescribeCertificate and
   RegisterCertificate at 10/s -> 10 devices/s -> 100/s).
Prints each JSON object, whether it meets the goal (0 lost, 0 stuck, 0 dead letters, drain <= 1.1x bound), the
wall time (reported, not a goal: the simulation's speed never justifies a change to what we deploy), what the storm
cost in transitions per device, and the plots' paths.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(name: str, args: list[str], out: Path) -> dict:
    plot = out / f"{name}.png"
    command = [sys.executable, "-m", "localcloud", "storm", *args, "--json", "--plot", str(plot)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if not completed.stdout.strip():
        sys.exit(f"{name}: no result (exit {completed.returncode})\n{completed.stderr[-2000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    goal = (result["lost"] == result["stuck"] == result["dead_letters"] == 0 and result["drain_s"] is not None
            and result["drain_s"] <= 1.1 * result["bound_s"])
    print(f"{name}: {json.dumps(result)}")
    per_device = result["transitions"] / result["devices"]
    print(f"{name}: goal {'MET' if goal else 'NOT MET'}; {per_device:.1f} transitions per device; "
          f"wall {result['wall_s']:.0f} s (not a goal); plot {plot}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--one-region-devices", type=int, default=1_000)
    parser.add_argument("--out", type=Path, default=ROOT / ".localcloud" / "storm")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    run(f"storm-{args.devices}-two-regions", ["--devices", str(args.devices), "--rate", "150"], args.out)
    run(f"storm-{args.one_region_devices}-one-region",
        ["--devices", str(args.one_region_devices), "--rate", "100", "--one-region"], args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
