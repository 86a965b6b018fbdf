"""Opt-in speed-ups for moto's Step Functions interpreter, measured on this project's machines.

Profiling the real JITR + replication machines (tests/localcloud/engines, 2 executions per
device) shows where a device's ~330 ms go in moto 5.2.5:

* ~240 ms: every ``StartExecution`` re-parses the definition with the ANTLR grammar
  (``ExecutionWorker._get_evaluation_entrypoint``). The parsed program is a tree of
  evaluation components that keep per-run data in the execution's ``Environment``, so one
  parse per definition text serves every execution of it;
* most of the rest: every aws-sdk/Lambda task builds a new boto3 client
  (``boto_client_for``), which loads the service model and registers its event handlers.
  Clients are cached per (region, service) for the in-process (``mock_aws``) case;
* every JSONPath (``$.x`` in Parameters, ResultPath, ...) is re-parsed by ``jsonpath_ng``,
  which builds a new yacc parser per call (~30 per device): parsed paths are cached per
  path text (expressions are not modified by ``find``/``update``).

``install()`` applies both (idempotent); ``uninstall()`` restores moto. Neither changes what
an execution does, only how often moto rebuilds the same objects.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from localcloud.compat.moto import internal_module
from localcloud.patching import Patch

PATCH = Patch("sfn_accel", kind="speed-up")
_LOCK = threading.Lock()
_PROGRAMS: dict[str, Any] = {}
_CLIENTS: dict[tuple[str, str], Any] = {}
_ORIGINAL: dict[str, Any] = {}  # "boto_client_for": the function the task modules used before, while installed
_PATH_MODULES = (
    "moto.stepfunctions.parser.asl.utils.json_path",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
)


def _caching(parse: Any) -> Any:
    cache: dict[str, Any] = {}

    def cached_parse(path: str) -> Any:
        expression = cache.get(path)
        if expression is None:
            expression = parse(path)
            with _LOCK:
                cache[path] = expression
        return expression

    cached_parse.original = parse  # pyright: ignore[reportFunctionMemberAccess]  # what uninstall() restores
    return cached_parse


def _cached_entrypoint(self: Any) -> Any:
    from localcloud.compat.moto.stepfunctions_parser import AmazonStateLanguageParser

    definition = self._evaluation_details.state_machine_details.definition
    program = _PROGRAMS.get(definition)
    if program is None:
        program = AmazonStateLanguageParser.parse(definition)[0]
        with _LOCK:
            _PROGRAMS[definition] = program
    return program


def _cached_client(region: str, service: str, state_credentials: Any = None) -> Any:
    from localcloud.compat.moto.core import botocore_stubber

    original = _ORIGINAL["boto_client_for"]
    if not botocore_stubber.enabled:  # a moto server: keep moto's behaviour
        return original(region, service, state_credentials)
    # moto's boto_client_for ignores state_credentials (fixed keys), so clients are shared
    key = (region, service)
    client = _CLIENTS.get(key)
    if client is None:
        client = original(region, service, state_credentials)
        with _LOCK:
            _CLIENTS[key] = client
    return client


def _modules_using_boto_client_for() -> list[Any]:
    return [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto.stepfunctions.parser") and hasattr(module, "boto_client_for")
    ]


def install() -> None:
    """Cache parsed programs and boto3 clients (idempotent)."""
    import importlib
    import pkgutil

    from localcloud.compat.moto.stepfunctions_parser import ExecutionWorker, boto_client, state_task_package

    if PATCH.applied:
        return
    # import every task module now, so each 'from ... import boto_client_for' can be swapped
    for info in pkgutil.walk_packages(state_task_package.__path__, state_task_package.__name__ + "."):
        importlib.import_module(info.name)

    PATCH.on_undo(_forget)
    PATCH.set(ExecutionWorker, "_get_evaluation_entrypoint", _cached_entrypoint)
    _ORIGINAL["boto_client_for"] = boto_client.boto_client_for
    for module in _modules_using_boto_client_for():
        if module.boto_client_for is _ORIGINAL["boto_client_for"]:
            PATCH.set(module, "boto_client_for", _cached_client)
    for name in _PATH_MODULES:
        module = internal_module(name)
        if not hasattr(module.parse, "original"):
            PATCH.set(module, "parse", _caching(module.parse))


def _forget() -> None:
    _ORIGINAL.clear()
    with _LOCK:
        _PROGRAMS.clear()
        _CLIENTS.clear()


def uninstall() -> None:
    """Restore moto's behaviour and drop the caches."""
    PATCH.undo()


def installed() -> bool:
    return PATCH.applied
