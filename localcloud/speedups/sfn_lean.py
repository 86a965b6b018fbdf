"""Cheaper copies in moto's Step Functions interpreter: same values, same histories, less CPU per state.

What moto 5.2.5 does: the interpreter (``moto.stepfunctions.parser``) protects every value it hands
around with ``copy.deepcopy``: ``States._extract``/``reset``/``set_result``/``set_error_output``
(states.py), ``StringJsonPath._eval_body`` (each ``"x.$": "$.path"``), ``ResultPath``, the task
parameters (``StateTaskService._eval_execution``), the stack of each task frame (``execute_state``
and our ``sfn_inline_tasks``), the frame's ``State`` context and ``ProgramState``
(environment.py), the history (``EventManager.get_event_history``). The values are JSON-shaped
(dict/list/str/int/float/bool/None), but ``copy.deepcopy`` pays its generic protocol per node
(dispatch table, memo of every node, keep-alive list). Every state entered/exited also deep-copies
its whole input only to JSON-encode it into the history event, and ``camel_to_snake_case`` runs
its regex for the same few API parameter names on every aws-sdk task.

What ``install()`` changes, and why results are unchanged:

1. ``deepcopy`` in those modules (their module-global ``copy`` is swapped for ``_LeanCopy``, which
   delegates everything else to :mod:`copy`) is :func:`json_deepcopy`: a copier specialised for
   exact ``dict``/``list`` containers with ``str``/``int``/``float``/``bool``/``None`` leaves (and
   ``enum.Enum`` members whose ``__deepcopy__`` is Enum's, which returns ``self``). For such a
   value it returns exactly what ``copy.deepcopy`` returns: new dicts/lists in the same order,
   atomic leaves (and dict keys) shared as deepcopy shares them (``_deepcopy_atomic``), and shared
   or self-referencing containers copied once and shared in the copy (the same memo by ``id``).
   Any other type anywhere in the value (tuples, subclasses, datetimes, moto objects) or nesting
   deeper than ``_MAX_DEPTH`` (deepcopy's own recursion limit stays the one that fires) and the
   whole value is copied by ``copy.deepcopy`` itself; a call with a ``memo`` goes to it directly.
   ``ProgramState`` objects (``Environment.program_state``/``as_inner_frame_of``) of the exact moto
   classes, which have no ``__slots__``/``__deepcopy__``/``__reduce__``/``__setstate__`` of their
   own, are rebuilt the way deepcopy's ``_reconstruct`` does (``cls.__new__`` + a deep copy of the
   instance ``__dict__``), again falling back to ``copy.deepcopy`` when the dict is not JSON-shaped
   (``ProgramStopped.stop_date`` is a datetime). Nothing else changes: every copy still happens.
2. State entered/exited event details: moto encodes ``to_json_str(env.states.get_input(), (",",
   ":"))`` where ``get_input()`` is a fresh deep copy of ``States._states_data["input"]`` that is
   encoded and dropped. The copy is never mutated nor kept, and a deep copy of a JSON-shaped value
   encodes to the same string as the value, so the lean methods encode the stored input directly
   with a plain ``json.JSONEncoder`` of the same options (``to_json_str`` only adds a ``default``
   for non-JSON types). When that raises anything (a non-JSON value: moto's ``default`` would
   str() a *copy*; a circular value), moto's exact expression runs instead and decides the
   outcome. The rest of both methods is moto's code.
3. ``camel_to_snake_case`` (a pure function of its string) is memoised per string, bounded.

Not changed: ``iso_8601_datetime_with_milliseconds``, ``EventManager._get_current_timestamp`` and
``to_json_str`` itself cost ~1-3 us a call (about 30 events per device: < 0.1 ms); faster
equivalents exist (``isoformat(timespec="milliseconds")``) but are not worth the risk.

``uninstall()`` restores every module global and method; both are idempotent.
"""

from __future__ import annotations

import copy as _copy
import enum
import importlib
import json
import threading
from typing import Any

from localcloud.compat.moto import internal_module
from localcloud.patching import Patch

_MAX_DEPTH = 300  # copy.deepcopy recurses 2 frames a level; deeper values go to it as they are
_ATOMIC: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_SELF_COPYING: dict[type, bool] = {}
_LOCK = threading.Lock()
PATCH = Patch("sfn_lean", kind="speed-up")
_PLAIN_COMPACT = json.JSONEncoder(separators=(",", ":"))
_CAMEL_CACHE: dict[str, str] = {}
_CAMEL_CACHE_MAX = 4096

_COPY_MODULES = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.eval.environment",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)
_OWN_COPY_MODULES = ("localcloud.speedups.sfn_inline_tasks",)  # our copy of execute_state's evaluation
_CAMEL_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
)


class _NotJson(Exception):
    """The value holds something json_deepcopy does not copy itself: copy.deepcopy does it all."""


def _returns_itself(cls: type) -> bool:
    known = _SELF_COPYING.get(cls)
    if known is None:
        known = issubclass(cls, enum.Enum) and getattr(cls, "__deepcopy__", None) is enum.Enum.__deepcopy__
        _SELF_COPYING[cls] = known
    return known


def _copy_tree(value: Any, memo: dict[int, Any], depth: int) -> Any:
    cls = type(value)
    if cls in _ATOMIC:
        return value
    if depth > _MAX_DEPTH:
        raise _NotJson
    if cls is dict:
        done = memo.get(id(value))
        if done is not None:
            return done
        out: dict[Any, Any] = {}
        memo[id(value)] = out
        for key, item in value.items():
            if type(key) not in _ATOMIC and not _returns_itself(type(key)):
                raise _NotJson
            out[key] = item if type(item) in _ATOMIC else _copy_tree(item, memo, depth + 1)
        return out
    if cls is list:
        done = memo.get(id(value))
        if done is not None:
            return done
        copied: list[Any] = []
        memo[id(value)] = copied
        for item in value:
            copied.append(item if type(item) in _ATOMIC else _copy_tree(item, memo, depth + 1))
        return copied
    if _returns_itself(cls):
        return value
    raise _NotJson


def _program_state_classes() -> frozenset[type]:
    from localcloud.compat.moto.stepfunctions_parser import program_state as ps

    return frozenset({ps.ProgramEnded, ps.ProgramRunning, ps.ProgramError, ps.ProgramTimedOut, ps.ProgramStopped})


_PROGRAM_STATES: frozenset[type] = frozenset()


def json_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy(value)``, faster for JSON-shaped values and moto's ProgramState objects."""
    if memo is not None:
        return _copy.deepcopy(value, memo)
    cls = type(value)
    if cls in _ATOMIC:
        return value
    try:
        if cls in _PROGRAM_STATES:
            state = value.__dict__
            rebuilt = cls.__new__(cls)  # pyright: ignore[reportCallIssue]  # as deepcopy's _reconstruct
            if state:  # deepcopy's _reconstruct: no state for an empty __dict__
                rebuilt.__dict__.update(_copy_tree(state, {}, 0))
            return rebuilt
        return _copy_tree(value, {}, 0)
    except _NotJson:
        return _copy.deepcopy(value)


class _LeanCopy:
    """Stands for the ``copy`` module in the patched modules: ``deepcopy`` is json_deepcopy."""

    deepcopy = staticmethod(json_deepcopy)

    def __getattr__(self, name: str) -> Any:
        return getattr(_copy, name)


_LEAN_COPY = _LeanCopy()


def _input_json(env: Any) -> str:
    """``to_json_str(env.states.get_input(), separators=(",", ":"))`` without the throw-away copy."""
    from localcloud.compat.moto.stepfunctions_parser import States, to_json_str

    states = env.states
    if type(states) is States:  # moto's own get_input(): a deep copy of _states_data["input"]
        try:
            return _PLAIN_COMPACT.encode(states._states_data["input"])
        except Exception:  # noqa: BLE001 - whatever it is, moto's own expression decides the outcome
            pass
    return to_json_str(states.get_input(), separators=(",", ":"))


def _state_entered_event_details(self: Any, env: Any) -> Any:
    from localcloud.compat.moto.stepfunctions_parser import HistoryEventExecutionDataDetails, StateEnteredEventDetails

    return StateEnteredEventDetails(
        name=self.name,
        input=_input_json(env),
        inputDetails=HistoryEventExecutionDataDetails(truncated=False),
    )


def _state_exited_event_details(self: Any, env: Any) -> Any:
    from localcloud.compat.moto.stepfunctions_parser import HistoryEventExecutionDataDetails, StateExitedEventDetails

    event_details = StateExitedEventDetails(
        name=self.name,
        output=_input_json(env),
        outputDetails=HistoryEventExecutionDataDetails(truncated=False),
    )
    assigned_variables = env.variable_store.get_assigned_variables()
    env.variable_store.reset_tracing()
    if assigned_variables:
        event_details["assignedVariables"] = assigned_variables
        event_details["assignedVariablesDetails"] = {"truncated": False}
    return event_details


def _memo_camel(original: Any) -> Any:
    def camel_to_snake_case(string: str) -> str:
        if type(string) is not str:
            return original(string)
        snake = _CAMEL_CACHE.get(string)
        if snake is None:
            snake = original(string)
            if len(_CAMEL_CACHE) < _CAMEL_CACHE_MAX:
                with _LOCK:
                    _CAMEL_CACHE[string] = snake
        return snake

    camel_to_snake_case.original = original  # pyright: ignore[reportFunctionMemberAccess]  # what uninstall() restores
    return camel_to_snake_case


def install() -> None:
    """Use the lean copies, event details and memoised camel_to_snake_case (idempotent)."""
    global _PROGRAM_STATES  # noqa: PLW0603 - computed once, on the first install()
    from localcloud.compat.moto.stepfunctions_parser import CommonStateField, parser_utils

    if PATCH.applied:
        return
    _PROGRAM_STATES = _program_state_classes()
    PATCH.on_undo(_forget)
    copying = [internal_module(name) for name in _COPY_MODULES]
    copying += [importlib.import_module(name) for name in _OWN_COPY_MODULES]
    for module in copying:
        if module.__dict__.get("copy") is _copy:
            PATCH.set(module, "copy", _LEAN_COPY)
    PATCH.set(CommonStateField, "_get_state_entered_event_details", _state_entered_event_details)
    PATCH.set(CommonStateField, "_get_state_exited_event_details", _state_exited_event_details)
    camel = parser_utils.camel_to_snake_case
    camel_lean = _memo_camel(camel)
    for name in _CAMEL_MODULES:
        module = internal_module(name)
        if module.__dict__.get("camel_to_snake_case") is camel:
            PATCH.set(module, "camel_to_snake_case", camel_lean)


def _forget() -> None:
    with _LOCK:
        _CAMEL_CACHE.clear()


def uninstall() -> None:
    """Restore moto's deepcopy, event details and camel_to_snake_case (idempotent)."""
    PATCH.undo()


def installed() -> bool:
    return PATCH.applied
