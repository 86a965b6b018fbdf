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

_LOCK = threading.Lock()
_PROGRAMS: dict[str, Any] = {}
_CLIENTS: dict[tuple[str, str], Any] = {}
_SAVED: dict[str, Any] = {}
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

    cached_parse.original = parse  # type: ignore[attr-defined]
    return cached_parse


def _cached_entrypoint(self: Any) -> Any:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    definition = self._evaluation_details.state_machine_details.definition
    program = _PROGRAMS.get(definition)
    if program is None:
        program = AmazonStateLanguageParser.parse(definition)[0]
        with _LOCK:
            _PROGRAMS[definition] = program
    return program


def _cached_client(region: str, service: str, state_credentials: Any = None) -> Any:
    from moto.core.models import botocore_stubber

    original = _SAVED["boto_client_for"]
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
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.asl.utils import boto_client

    # import every task module now, so each 'from ... import boto_client_for' can be swapped
    import importlib
    import pkgutil

    import moto.stepfunctions.parser.asl.component.state.exec.state_task as tasks

    for info in pkgutil.walk_packages(tasks.__path__, tasks.__name__ + "."):
        importlib.import_module(info.name)

    if "entrypoint" not in _SAVED:
        _SAVED["entrypoint"] = ExecutionWorker._get_evaluation_entrypoint
        ExecutionWorker._get_evaluation_entrypoint = _cached_entrypoint  # type: ignore[method-assign]
    if "boto_client_for" not in _SAVED:
        _SAVED["boto_client_for"] = boto_client.boto_client_for
    for module in _modules_using_boto_client_for():
        if module.boto_client_for is _SAVED["boto_client_for"]:
            module.boto_client_for = _cached_client
    for name in _PATH_MODULES:
        module = importlib.import_module(name)
        if not hasattr(module.parse, "original"):
            module.parse = _caching(module.parse)


def uninstall() -> None:
    """Restore moto's behaviour and drop the caches."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    if "entrypoint" in _SAVED:
        if ExecutionWorker._get_evaluation_entrypoint is _cached_entrypoint:
            ExecutionWorker._get_evaluation_entrypoint = _SAVED["entrypoint"]  # type: ignore[method-assign]
        del _SAVED["entrypoint"]
    if "boto_client_for" in _SAVED:
        for module in _modules_using_boto_client_for():
            if module.boto_client_for is _cached_client:
                module.boto_client_for = _SAVED["boto_client_for"]
        del _SAVED["boto_client_for"]
    for name in _PATH_MODULES:
        module = sys.modules.get(name)
        if module is not None and hasattr(module.parse, "original"):
            module.parse = module.parse.original
    with _LOCK:
        _PROGRAMS.clear()
        _CLIENTS.clear()


def installed() -> bool:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    return ExecutionWorker._get_evaluation_entrypoint is _cached_entrypoint
