"""moto's Step Functions interpreter (``moto.stepfunctions.parser``, LocalStack's ASL interpreter as moto vendors
it): the parts the fixes, speed-ups, the storm's simulated time and the cross-region meter patch or read.

Its modules sit seven to eleven levels deep; they are imported here and nowhere else. Importing this module loads
the whole interpreter (its task factory imports moto's Batch and EC2 models): import it where an execution runs.
"""
from __future__ import annotations

from . import internals

with internals():
    import moto.stepfunctions.parser.asl.component.state.exec.state_task as state_task_package
    from moto.stepfunctions.parser import utils as parser_utils
    from moto.stepfunctions.parser.api import (
        HistoryEventExecutionDataDetails,
        StateEnteredEventDetails,
        StateExitedEventDetails,
    )
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_operator_type import (
        ComparisonOperatorType,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.comparison_variable import (
        ComparisonVariable,
    )
    from moto.stepfunctions.parser.asl.component.state.choice.comparison.variable import NoSuchVariable
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError, extract_json
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval import program_state
    from moto.stepfunctions.parser.asl.eval.states import States
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.parser.utils import TMP_THREADS

#: Where the interpreter's code lives, as frames name their files (``fixes.sfn_serial_executions`` looks for it).
PARSER_PATH = "moto/stepfunctions/parser/asl/"

__all__ = [
    "PARSER_PATH",
    "TMP_THREADS",
    "AmazonStateLanguageParser",
    "CommonStateField",
    "ComparisonOperatorType",
    "ComparisonVariable",
    "ErrorEqualsDecl",
    "EventDetails",
    "ExecutionFailedEventDetails",
    "FailureEvent",
    "FailureEventException",
    "HistoryEventType",
    "NoSuchJsonPathError",
    "NoSuchVariable",
    "StatesErrorName",
    "StatesErrorNameType",
    "EvalComponent",
    "EvalTimeoutError",
    "ExecutionState",
    "ExecutionWorker",
    "HistoryEventExecutionDataDetails",
    "Program",
    "StateEnteredEventDetails",
    "StateExitedEventDetails",
    "StateTaskServiceAwsSdk",
    "States",
    "StepFunctionsParserBackend",
    "Timestamp",
    "WaitFunction",
    "boto_client",
    "extract_json",
    "parser_utils",
    "program_state",
    "retrier_decl",
    "state_task_package",
    "to_json_str",
]
