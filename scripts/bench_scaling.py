"""Benchmark (not a test): does onboarding through the local cloud scale linearly?

Runs ``python -m localcloud bench --devices N --json`` in a fresh process for a small and a large N
(``--repeat`` times each, alternating, so machine load hits both alike) and prints each run's
figures, then the ratio of the large run's onboarding wall time to the small run's (the goal:
10,000 devices in at most 11x the time of 1,000, and at least 50 devices/s).

    .venv/bin/python scripts/bench_scaling.py [--small 1000] [--large 10000] [--repeat 1]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(devices: int) -> dict:
    """One bench run in its own interpreter (nothing cached from an earlier run)."""
    completed = subprocess.run(
        [sys.executable, "-m", "localcloud", "bench", "--devices", str(devices), "--json"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"bench --devices {devices} failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    if not 0 < args.small < args.large or args.repeat < 1:
        parser.error("need 0 < --small < --large and --repeat >= 1")
    results: dict[int, list[dict]] = {args.small: [], args.large: []}
    for _ in range(args.repeat):
        for devices in (args.small, args.large):
            result = run(devices)
            results[devices].append(result)
            print(f"N={devices:>6}: lost {result['lost']}, duplicates {result['duplicates']}, "
                  f"wall {result['wall_s']:.1f} s, {result['devices_per_s']:.1f} devices/s", flush=True)
    small = statistics.median(r["wall_s"] for r in results[args.small])
    large = statistics.median(r["wall_s"] for r in results[args.large])
    scale = args.large / args.small
    print(f"median wall: N={args.small} {small:.1f} s, N={args.large} {large:.1f} s; "
          f"ratio {large / small:.2f}x for {scale:.0f}x the devices (goal <= {scale * 1.1:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
