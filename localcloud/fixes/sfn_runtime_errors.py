"""Fix: a ``States.Runtime`` error fails the execution: no Retry or Catch matches it, ``States.ALL`` included.

AWS (Step Functions developer guide, "Handling errors in Step Functions workflows",
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html): ``States.ALL`` "cannot catch the
States.DataLimitExceeded terminal error or Runtime error types", and ``States.Runtime`` "isn't retriable, and will
always cause the execution to fail. A retry or catch on States.ALL won't catch States.Runtime errors." A path that
selects nothing is the usual cause: a ``"x.$": "$.missing"`` in Parameters or ResultSelector, an intrinsic's path
argument, InputPath / OutputPath / ItemsPath.

What moto 5.2.5 does instead: it names those path errors ``States.Runtime`` but then matches them like any other
error, so a Task's ``States.ALL`` Retry retries them and its ``States.ALL`` Catch (or one naming ``States.Runtime``)
takes them to its ``Next``: a machine whose catch route reads a field the failing route never set looks fine
locally and fails in AWS. And a Choice rule whose ``Variable`` is missing (without ``IsPresent``) simply does not
match there, where AWS fails the execution with ``States.Runtime`` ("Invalid path '$.x': The choice state's
condition path references an invalid value."; so does a ``...Path`` operand that is missing).

``apply()``: (1) ``ErrorEqualsDecl`` (every Retrier's and Catcher's ``ErrorEquals``) matches no ``States.Runtime``
error, so the state's ``_handle_uncaught`` fails the execution with it; (2) a Choice comparison other than
``IsPresent`` on a missing ``Variable``, or a ``...Path`` comparison whose operand is missing, raises
``States.Runtime`` with AWS's cause. ``And`` / ``Or`` still stop at their first deciding rule, so
``{"And": [{"Variable": p, "IsPresent": true}, {"Variable": p, "StringEquals": ...}]}`` is the guard it is in AWS.
"""
from __future__ import annotations

from typing import Any

from ..patching import Patch

NAME = "sfn_runtime_errors"
PATCH = Patch(NAME)

#: AWS's cause for a Choice rule on a missing path (after it: nothing; before it: the path).
CHOICE_CAUSE = "Invalid path '{path}': The choice state's condition path references an invalid value."


def is_runtime_error(error_name: Any) -> bool:
    """Whether a failure's error name is ``States.Runtime`` (which no Retrier or Catcher matches)."""
    from ..compat.moto.stepfunctions_parser import StatesErrorName, StatesErrorNameType

    return isinstance(error_name, StatesErrorName) and error_name.typ == StatesErrorNameType.StatesRuntime


def _error_equals(original: Any) -> Any:
    def _eval_body(self: Any, env: Any) -> None:
        if is_runtime_error(env.stack[-1]):
            env.stack.pop()
            env.stack.append(False)
            return
        original(self, env)

    return _eval_body


def _runtime_error(env: Any, path: str) -> Exception:
    from ..compat.moto.stepfunctions_parser import (
        EventDetails,
        ExecutionFailedEventDetails,
        FailureEvent,
        FailureEventException,
        HistoryEventType,
        StatesErrorName,
        StatesErrorNameType,
    )

    error = StatesErrorNameType.StatesRuntime.to_name()
    return FailureEventException(FailureEvent(
        env=env,
        error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
        event_type=HistoryEventType.ExecutionFailed,
        event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(  # pyright: ignore[reportCallIssue]  # moto's TypedDict, total
            error=error, cause=CHOICE_CAUSE.format(path=path))),
    ))


def _comparison_variable_eval_body(self: Any, env: Any) -> None:
    from ..compat.moto.stepfunctions_parser import (
        ComparisonOperatorType,
        NoSuchJsonPathError,
        NoSuchVariable,
        extract_json,
    )

    function = self.comparison_function
    operator = getattr(function, "operator_type", None)
    self.variable.eval(env)
    if isinstance(env.stack[-1], NoSuchVariable) and operator is not ComparisonOperatorType.IsPresent:
        raise _runtime_error(env, self.variable.string_sampler.literal_value)
    operand = getattr(function, "value", None)
    if (operator is not None and operator.name.endswith("Path") and isinstance(operand, str)
            and operand.startswith("$") and not operand.startswith("$$")):
        try:
            extract_json(operand, env.stack[-2])  # the state's input, under the sampled variable
        except NoSuchJsonPathError:
            raise _runtime_error(env, operand) from None
    function.eval(env)


def apply() -> None:
    from ..compat.moto.stepfunctions_parser import ComparisonVariable, ErrorEqualsDecl

    PATCH.set(ErrorEqualsDecl, "_eval_body", _error_equals(ErrorEqualsDecl._eval_body))
    PATCH.set(ComparisonVariable, "_eval_body", _comparison_variable_eval_body)


def revert() -> None:
    PATCH.undo()
