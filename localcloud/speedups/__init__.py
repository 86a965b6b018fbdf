"""Speed-ups: code that makes the local cloud cheaper to run and changes no result, all behind one switch.

The third of the local cloud's three kinds of code (docs/emulator.md, "Layout"): AWS behaviour moto lacks lives in
``localcloud.services``, the named fixes to moto in ``localcloud.fixes``. A speed-up here only removes repeated work
(parses, scans, copies, threads, signing, HTTP-shaped round trips) from moto, botocore or boto3; whatever it
replaces answers exactly as before. :func:`install` switches every one of them on, :func:`uninstall` every one off
(``LocalCloud(speedups=False)`` runs without any; ``tests/localcloud/test_speedups.py`` runs the demo both ways and
compares the stories). Each module also has its own ``install()`` / ``uninstall()`` / ``installed()`` for its tests,
and makes its changes through its ``PATCH`` (``localcloud.patching``, the mechanism the fixes use too: it records
what it replaced, undoes it, and refuses a moto other than ``localcloud.compat.moto.WRITTEN_FOR``).

| module | what it removes |
|---|---|
| ``process_caches`` | a boto3 client built per Step Functions task and per Lambda call; response-method listings; execution-name scans |
| ``sfn_definition_cache`` | a definition parsed again at ``CreateStateMachine`` once it passed validation |
| ``iot_index`` | moto IoT's scans (certificates, things, attachments): constant-time lookups |
| ``sfn_index`` | moto Step Functions' execution-name scan at ``StartExecution``: constant-time checks |
| ``sfn_accel`` | ASL parsed per execution, boto3 clients per task, JSONPaths per use: cached |
| ``sfn_inline_tasks`` | a thread per task state (and per program) that cannot time out: run inline |
| ``sfn_lean`` | generic deep copies of JSON-shaped values: a specialised copier; entered/exited inputs encoded without a copy |
| ``ddb_expressions`` | moto DynamoDB's update-expression walks: the same walks with cached type checks, each text parsed once |
| ``moto_action_cache`` | moto routing one REST request (IoT, Lambda) to its operation two or three times |
| ``botocore_user_agent`` | botocore's User-Agent sanitising, remembered per string |
| ``sigv4_in_process`` | SigV4 hashing for requests moto answers with authentication off (the header keeps its form) |
| ``direct_sdk`` | the HTTP-shaped round trip of the SDK calls a device costs: straight to moto's response handler |

Not under the switch: ``gc_tuning.bulk_gc()``, the collector's timing for a bulk run, entered by ``bench``.

Install after ``mock_aws`` has started and uninstall before it stops (as ``LocalCloud`` does); the order below is the
order of installation, reversed for uninstallation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import (
    botocore_user_agent,
    ddb_expressions,
    direct_sdk,
    iot_index,
    moto_action_cache,
    process_caches,
    sfn_accel,
    sfn_definition_cache,
    sfn_index,
    sfn_inline_tasks,
    sfn_lean,
    sigv4_in_process,
)

SPEEDUPS = (
    process_caches,
    sfn_definition_cache,
    iot_index,
    sfn_index,
    sfn_accel,
    sfn_inline_tasks,
    sfn_lean,
    ddb_expressions,
    moto_action_cache,
    botocore_user_agent,
    sigv4_in_process,
    direct_sdk,
)


def install() -> None:
    """Switch every speed-up on (idempotent)."""
    for speedup in SPEEDUPS:
        speedup.install()


def uninstall() -> None:
    """Switch every speed-up off, in reverse order; moto, botocore and boto3 are as they were."""
    for speedup in reversed(SPEEDUPS):
        speedup.uninstall()


def installed() -> bool:
    """Whether every speed-up is on."""
    return all(speedup.installed() for speedup in SPEEDUPS)


@contextmanager
def switched_on() -> Iterator[None]:
    """Every speed-up on for the block, every one off after it."""
    install()
    try:
        yield
    finally:
        uninstall()
