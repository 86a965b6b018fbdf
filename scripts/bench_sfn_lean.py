"""Benchmark (not a test): CPU per device of moto's Step Functions interpreter, with or without speedups.sfn_lean.

Runs ``scripts/bench_statemachines.py``'s device flow (JITR + replication in two regions) with the emulator's
Step Functions engines installed (sfn_accel, sfn_inline_tasks, ddb_expressions, moto_action_cache,
botocore_user_agent, sigv4_in_process) and, with ``--lean``, ``sfn_lean``. Prints per device the process CPU
and the CPU of the threads that evaluate the programs (``Program._eval_body``: the interpreter and the AWS
calls its tasks make), after 3 warm-up devices. One mode per process (inside one process a device's cost
depends on its position in the sequence by several ms, more than the effect measured); on a shared machine
alternate several runs of each mode and compare medians:

    for i in 1 2 3 4; do
        .venv/bin/python scripts/bench_sfn_lean.py --devices 60
        .venv/bin/python scripts/bench_sfn_lean.py --devices 60 --lean
    done
"""
from __future__ import annotations

import argparse
import time
from typing import Any

# The sibling script (run by path, so scripts/ is first on sys.path); importing it sets the fake credentials.
import bench_statemachines as flow
from moto.stepfunctions.parser.asl.component.program.program import Program

from localcloud.speedups import (
    botocore_user_agent,
    ddb_expressions,
    moto_action_cache,
    sfn_accel,
    sfn_inline_tasks,
    sfn_lean,
    sigv4_in_process,
)

_INTERPRETER_CPU = [0.0]
_MEASURING = [False]
_EVAL_BODY = Program._eval_body


def _timed_eval_body(self: Any, env: Any) -> None:
    if not _MEASURING[0]:
        return _EVAL_BODY(self, env)
    started = time.thread_time()
    try:
        return _EVAL_BODY(self, env)
    finally:
        _INTERPRETER_CPU[0] += time.thread_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=60, help="measured devices (default 60)")
    parser.add_argument("--lean", action="store_true", help="install speedups.sfn_lean too")
    args = parser.parse_args()
    for engine in (sfn_accel, sfn_inline_tasks, ddb_expressions, moto_action_cache, botocore_user_agent,
                   sigv4_in_process):
        engine.install()
    if args.lean:
        sfn_lean.install()
    Program._eval_body = _timed_eval_body
    ca = flow.TestCA()
    with flow.Cloud(ca) as cloud:
        for index in range(3):
            flow.device_flow(cloud, ca, 10_000 + index)
        _MEASURING[0] = True
        started = time.process_time()
        rows = [flow.device_flow(cloud, ca, index) for index in range(args.devices)]
        process_cpu = time.process_time() - started
    n = len(rows)
    print(f"sfn_lean={'on ' if args.lean else 'off'} devices={n} "
          f"transitions/device={sum(r['transitions'] for r in rows) / n:.1f} "
          f"process_cpu_ms/device={process_cpu * 1000 / n:.1f} "
          f"interpreter_thread_cpu_ms/device={_INTERPRETER_CPU[0] * 1000 / n:.1f}")


if __name__ == "__main__":
    main()
