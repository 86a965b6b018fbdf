"""Process-wide caches that keep moto's behaviour but remove per-call setup and linear scans, so the local cloud
onboards thousands of devices at a steady rate (they change no result, only cost).

| name | what it removes |
|---|---|
| ``sdk_client_cache`` | Step Functions tasks build a new boto3 client (new session, service model JSON parsed again) per task; reuse one per (region, service) |
| ``plain_client_cache`` | ``boto3.client(service, region_name=...)`` with nothing else (what Lambda handlers call per invocation) returns a cached client |
| ``response_method_names`` | every request lists the response class's methods with ``inspect.getmembers``; remember the list per class |
| ``execution_name_index`` | ``StartExecution`` scans every earlier execution of the machine for a name clash (O(n) per start, O(n²) in all); look names up in a dict |

``install()`` / ``uninstall()`` are idempotent; :func:`localcloud.speedups.install` calls them with the others.
"""

from __future__ import annotations

import threading
from typing import Any

from localcloud.compat.moto import internal_module
from localcloud.patching import Patch

PATCH = Patch("process_caches", kind="speed-up")
_LOCK = threading.RLock()
_SDK_CLIENTS: dict[tuple[str, str], Any] = {}
_PLAIN_CLIENTS: dict[tuple[str, str], Any] = {}
_NAME_INDEX: dict[int, tuple[int, dict[str, Any]]] = {}  # id(state machine) -> (executions seen, name -> execution)

_SDK_IMPORTERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
)


def _set(owner: Any, name: str, value: Any) -> None:
    PATCH.set(owner, name, value)


def installed() -> bool:
    return PATCH.applied


def clear_caches() -> None:
    """Forget cached clients and indexes (call when a new ``mock_aws`` starts)."""
    _SDK_CLIENTS.clear()
    _PLAIN_CLIENTS.clear()
    _NAME_INDEX.clear()


def install() -> None:
    import boto3

    from localcloud.compat.moto.stepfunctions import StateMachine
    from localcloud.compat.moto.stepfunctions_parser import boto_client

    with _LOCK:
        if PATCH.applied:
            return
        clear_caches()
        original_sdk = boto_client.boto_client_for

        def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            if state_credentials is not None:
                return original_sdk(region, service, state_credentials)
            key = (region, service)
            client = _SDK_CLIENTS.get(key)
            if client is None:
                client = _SDK_CLIENTS[key] = original_sdk(region, service)
            return client

        for module_name in _SDK_IMPORTERS:
            module = internal_module(module_name)
            if getattr(module, "boto_client_for", None) is original_sdk:
                _set(module, "boto_client_for", boto_client_for)
        _set(boto_client, "boto_client_for", boto_client_for)

        original_client = boto3.client

        def client(*args: Any, **kwargs: Any) -> Any:
            service = args[0] if args else kwargs.get("service_name")
            extra = set(kwargs) - {"service_name", "region_name"}
            if extra or len(args) > 1 or not isinstance(service, str):
                return original_client(*args, **kwargs)
            region = kwargs.get("region_name") or ""
            cached = _PLAIN_CLIENTS.get((service, region))
            if cached is None:
                cached = _PLAIN_CLIENTS[(service, region)] = original_client(*args, **kwargs)
            return cached

        _set(boto3, "client", client)

        def handle_name_input_idempotency(self: Any, name: str, execution_input: str) -> Any:
            from localcloud.compat.moto.stepfunctions import ExecutionAlreadyExists

            seen, names = _NAME_INDEX.get(id(self), (0, {}))
            executions = self.executions
            if seen > len(executions):  # executions were removed: rebuild
                seen, names = 0, {}
            for execution in executions[seen:]:
                names.setdefault(execution.name, execution)
            _NAME_INDEX[id(self)] = (len(executions), names)
            execution = names.get(name)
            if execution is None:
                return None
            if execution_input == execution.execution_input and execution.status == "RUNNING":
                return execution
            raise ExecutionAlreadyExists("Execution Already Exists: '" + execution.execution_arn + "'")

        _set(StateMachine, "_handle_name_input_idempotency", handle_name_input_idempotency)

        from localcloud.compat.moto.core import core_responses as responses

        original_names = responses.method_names_from_class
        names_by_class: dict[Any, list[str]] = {}

        def method_names_from_class(clazz: Any) -> list[str]:
            names = names_by_class.get(clazz)
            if names is None:
                names = names_by_class[clazz] = original_names(clazz)
            return list(names)

        _set(responses, "method_names_from_class", method_names_from_class)



def uninstall() -> None:
    with _LOCK:
        PATCH.undo()
        clear_caches()
