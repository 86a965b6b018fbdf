"""Every path a state reads is present on every route into that state (static: no execution).

A JSONPath that selects nothing is ``States.Runtime`` in AWS, and "a retry or catch on States.ALL won't catch
States.Runtime errors" (developer guide, https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html;
the local cloud models it: ``localcloud.fixes.sfn_runtime_errors``). A catch route is where such a path hides: after
``Catch`` with ``ResultPath: "$.Error"`` the state's input goes on, without what the failing Task would have added.

The check is a must-be-present dataflow over each machine's state graph. A state's facts are the paths present on
*every* route into it: the machine's input (``INPUTS``), plus what each ResultPath adds on the route taken (a
ResultSelector's or a Pass's keys, a catcher's ``{Error, Cause}``, ``null``: nothing), intersected where routes meet.
A Choice adds what its rules establish (``IsPresent: true`` on the rule's route; ``IsPresent: false`` on the routes of
the later rules and the Default), with ``And`` / ``Or`` evaluated left to right and stopping at the first deciding rule,
as AWS does. Two facts are schema: an inventory item that is present has every attribute (``builders/inventory.py``:
"every attribute is a string and always present"), and a path this machine writes (and its input lacks) has, once
present, what every writer of it writes. Each read is then checked: Parameters and ItemSelector ``.$`` values (paths
and intrinsic arguments), InputPath, ItemsPath, Wait SecondsPath / TimestampPath, Choice ``Variable`` (without an
``IsPresent`` test) and ``...Path`` operands, Fail ErrorPath / CausePath. ``$$`` (the context object) is always there.
ResultSelector reads the task's result, not the state's input: the API's contract, not this check.
"""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

import quotas
from builders import inventory as inv
from builders.asl import decommission, jitr, pacing, provisioned, replication
from contract import errors

FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:iotmr-certificate-inspector"
PACER = pacing.Pacer("arn:aws:lambda:eu-west-1:123456789012:function:iotmr-pacer",
                     quotas.load().rates("iot", "eu-west-1"), 900)
COMMON = dict(device_policy_name="iotmr-device", event_bus_name="iotmr-devices", source="iotmr.devices",
              inventory_table="iotmr-device-inventory")
JITR = dict(inspector_function_arn=FUNCTION_ARN, **COMMON)
PROVISIONED = dict(inventory_table=COMMON["inventory_table"], event_bus_name=COMMON["event_bus_name"],
                   source=COMMON["source"])

Tree = dict[str, "Tree"]

#: The registration event AWS IoT publishes ($aws/events/certificates/registered/<caCertificateId>; auto-register-
#: device-cert.html) as the JITR rule selects it (``SELECT *``): the JITR machine's and the JITP recorder's input.
REGISTRATION_EVENT: Tree = {name: {} for name in (
    "certificateId", "caCertificateId", "timestamp", "certificateStatus", "awsAccountId",
    "certificateRegistrationTimestamp")}
#: The flat item ``inv.item_input_transformer`` renders (EventBridge renders a missing path as null: still present).
FLAT_ITEM: Tree = {name: {} for name in (*inv.ATTRIBUTES, inv.EVENT_NAME, inv.OLD_CERTIFICATE_ID)}
#: A present inventory item (DynamoDB JSON): every attribute, as a string.
ITEM: Tree = {name: {"S": {}} for name in inv.ATTRIBUTES}
#: What ``States.StringToJson`` of these arguments gives (the Lambda error contract and contract/errors.py).
PARSED: dict[str, Tree] = {
    # Step Functions' Cause of a Lambda function error is the function's error response (Lambda's Python runtime:
    # errorMessage, errorType, stackTrace): https://docs.aws.amazon.com/lambda/latest/dg/python-exceptions.html
    "$.Error.Cause": {"errorMessage": {}, "errorType": {}},
    # the inspector's impostor error: its message is the claim (contract.errors.IMPOSTOR_CLAIM_FIELDS)
    "$.Claim.Lambda.errorMessage": {field: {} for field in errors.IMPOSTOR_CLAIM_FIELDS},
}

MACHINES: dict[str, tuple[dict[str, Any], Tree]] = {
    "jitr": (jitr.definition(lease_table="iotmr-registration-leases", pacer=PACER, **JITR), REGISTRATION_EVENT),
    "jitr (unpaced)": (jitr.definition(lease_table="iotmr-registration-leases", **JITR), REGISTRATION_EVENT),
    "jitr (no lease)": (jitr.definition(**JITR), REGISTRATION_EVENT),
    "replication": (replication.definition(pacer=PACER, **COMMON), FLAT_ITEM),
    "replication (unpaced)": (replication.definition(**COMMON), FLAT_ITEM),
    "decommission": (decommission.definition(**COMMON), FLAT_ITEM),
    "provisioned": (provisioned.definition(**PROVISIONED), REGISTRATION_EVENT),
}

GET_ITEM = "arn:aws:states:::aws-sdk:dynamodb:getItem"
_TOKEN = re.compile(r"\.([A-Za-z0-9_:@-]+)|(\[\d+\])")
_PATH_ARGUMENT = re.compile(r"(?<![$\w])\$(?!\$)(?:\.[A-Za-z0-9_:@-]+|\[\d+\])*")
_PATH_OPERATORS = re.compile(r"^(String|Numeric|Boolean|Timestamp)\w*Path$")


# ---- trees of present paths --------------------------------------------------------------------------------------
def tokens(path: str) -> list[str]:
    if path == "$":
        return []
    assert path.startswith("$"), path
    found = [m.group(1) or m.group(2) for m in _TOKEN.finditer(path, 1)]
    assert "$" + "".join(t if t.startswith("[") else f".{t}" for t in found) == path, f"unsupported path {path!r}"
    return found


def has(tree: Tree, path: str) -> bool:
    node = tree
    for token in tokens(path):
        if token not in node:
            return False
        node = node[token]
    return True


def subtree(tree: Tree, path: str) -> Tree:
    node = tree
    for token in tokens(path):
        node = node.get(token, {})
    return node


def put(tree: Tree, path: str, value: Tree) -> Tree:
    """``tree`` with ``value`` at ``path`` (ResultPath): the old subtree there is replaced."""
    parts = tokens(path)
    if not parts:
        return copy.deepcopy(value)
    out = copy.deepcopy(tree)
    node = out
    for token in parts[:-1]:
        node = node.setdefault(token, {})
    node[parts[-1]] = copy.deepcopy(value)
    return out


def merge(tree: Tree, path: str, value: Tree) -> Tree:
    """``tree`` with ``path`` present and ``value``'s paths added under it."""
    out = copy.deepcopy(tree)
    node = out
    for token in tokens(path):
        node = node.setdefault(token, {})
    stack = [(node, value)]
    while stack:
        into, extra = stack.pop()
        for key, child in extra.items():
            stack.append((into.setdefault(key, {}), child))
    return out


def meet(a: Tree, b: Tree) -> Tree:
    """Present on both routes."""
    return {key: meet(a[key], b[key]) for key in a if key in b}


def literal_tree(value: Any) -> Tree:
    """The paths a Result / Parameters / ResultSelector template guarantees (``.$`` keys without their suffix)."""
    if not isinstance(value, dict):
        return {}
    out: Tree = {}
    for key, child in value.items():
        if key.endswith(".$"):
            out[key[:-2]] = copy.deepcopy(PARSED.get(_parsed_argument(child), {}))
        else:
            out[key] = literal_tree(child)
    return out


def _parsed_argument(value: Any) -> str:
    match = re.fullmatch(r"States\.StringToJson\((\$[^)]*)\)", value) if isinstance(value, str) else None
    return match.group(1) if match else ""


# ---- what a state reads ------------------------------------------------------------------------------------------
def template_reads(template: Any, where: str) -> Iterator[tuple[str, str]]:
    """(where, path) of every state-input path a Parameters / ItemSelector template reads."""
    if isinstance(template, dict):
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                yield from ((f"{where}.{key}", path) for path in expression_paths(value))
            else:
                yield from template_reads(value, f"{where}.{key}")
    elif isinstance(template, list):
        for index, value in enumerate(template):
            yield from template_reads(value, f"{where}[{index}]")


def expression_paths(value: str) -> list[str]:
    """The input paths of a path or intrinsic expression (``$$`` context paths excluded)."""
    if value.startswith("$$"):
        return []
    if value.startswith("$"):
        return [value]
    if value.startswith("States."):
        without_strings = re.sub(r"'(?:[^'\\]|\\.)*'", "''", value)
        return _PATH_ARGUMENT.findall(without_strings)
    return []


# ---- the dataflow ------------------------------------------------------------------------------------------------
class Analysis:
    """Must-be-present paths per state of one machine (or Map iterator), and the reads that are not."""

    def __init__(self, machine: dict[str, Any], input_tree: Tree, name: str) -> None:
        self.states: dict[str, dict[str, Any]] = machine["States"]
        self.name = name
        self.input = input_tree
        self.schemas = self._schemas()
        self.facts: dict[str, Tree] = {}
        self.missing: list[str] = []
        self._run(machine["StartAt"])
        for state_name in self.states:
            if state_name in self.facts:
                self._check(state_name, self.facts[state_name])

    # -- schemas: what a present path is known to hold -----------------------------------------------------------
    def _schemas(self) -> dict[str, Tree]:
        """Inventory items read by GetItem, and the shape every writer of a path gives it (paths the input lacks)."""
        schemas: dict[str, Tree] = {}
        writes: dict[str, list[Tree | None]] = {}  # None: what it writes depends on its input
        for state in self.states.values():
            if state.get("Resource") == GET_ITEM and state.get("ResultPath") \
                    and state["Parameters"].get("TableName") == COMMON["inventory_table"]:
                schemas[f"{state['ResultPath']}.Item"] = ITEM
            if state["Type"] in ("Task", "Map", "Parallel", "Pass"):
                target = state.get("ResultPath", "$")
                if target is not None:
                    writes.setdefault(target, []).append(self._static_result(state))
            for catcher in state.get("Catch", []):
                target = catcher.get("ResultPath", "$")
                if target is not None:
                    writes.setdefault(target, []).append({"Error": {}, "Cause": {}})
        for target, shapes in writes.items():
            # only a path every writer of which writes it whole, with a shape known without the input
            overlapping = [other for other in writes if other != target
                           and (other.startswith(f"{target}.") or target.startswith(f"{other}.") or other == "$")]
            if target == "$" or has(self.input, target) or target in schemas or overlapping or None in shapes:
                continue
            shape = shapes[0]
            for other in shapes[1:]:
                shape = meet(shape, other)
            schemas[target] = shape
        return schemas

    def _static_result(self, state: dict[str, Any]) -> Tree | None:
        """The result a state writes whatever its input (None: it depends on the input)."""
        kind = state["Type"]
        if kind in ("Task", "Map", "Parallel"):
            return literal_tree(state["ResultSelector"]) if "ResultSelector" in state else {}
        if kind == "Pass":
            if "Result" in state:
                return literal_tree(state["Result"])
            if "Parameters" in state:
                return literal_tree(state["Parameters"])
        return None

    def _known(self, tree: Tree) -> Tree:
        """``tree`` with the schema of every present path it holds."""
        changed = True
        while changed:
            changed = False
            for path, schema in self.schemas.items():
                if has(tree, path):
                    grown = merge(tree, path, schema)
                    if grown != tree:
                        tree, changed = grown, True
        return tree

    # -- transfer --------------------------------------------------------------------------------------------------
    def _run(self, start: str) -> None:
        self.facts[start] = self._known(self.input)
        pending = [start]
        while pending:
            state_name = pending.pop()
            for target, edge in self._edges(state_name, self.facts[state_name]):
                tree = self._known(edge)
                met = tree if target not in self.facts else meet(self.facts[target], tree)
                if self.facts.get(target) != met:
                    self.facts[target] = met
                    pending.append(target)

    def _edges(self, state_name: str, facts: Tree) -> list[tuple[str, Tree]]:
        state = self.states[state_name]
        kind = state["Type"]
        if kind == "Choice":
            return [(target, tree) for target, tree, _ in self._choice(state, facts)]
        edges: list[tuple[str, Tree]] = []
        for catcher in state.get("Catch", []):
            edges.append((catcher["Next"], self._result_path(facts, catcher.get("ResultPath", "$"),
                                                             {"Error": {}, "Cause": {}})))
        if "Next" in state:
            edges.append((state["Next"], self._output(state, facts)))
        return edges

    def _output(self, state: dict[str, Any], facts: Tree) -> Tree:
        effective = subtree(facts, state.get("InputPath", "$") or "$")
        result = self._static_result(state)
        if result is None:  # a Pass passing its (InputPath-selected) input on, or a Wait
            result = effective if state["Type"] == "Pass" else None
        if state["Type"] == "Wait" or result is None:
            return facts
        output = self._result_path(facts, state.get("ResultPath", "$"), result)
        return subtree(output, state.get("OutputPath", "$") or "$")

    @staticmethod
    def _result_path(facts: Tree, result_path: str | None, result: Tree) -> Tree:
        return facts if result_path is None else put(facts, result_path, result)

    # -- Choice ----------------------------------------------------------------------------------------------------
    def _choice(self, state: dict[str, Any], facts: Tree) -> list[tuple[str, Tree, list[str]]]:
        """(next, facts on that route, missing reads) per rule, then the Default."""
        routes = []
        current = facts
        for index, rule in enumerate(state.get("Choices", [])):
            missing: list[str] = []
            true, false = self._rule(rule, current, missing, f"Choices[{index}]")
            routes.append((rule["Next"], true, missing))
            current = false
        if "Default" in state:
            routes.append((state["Default"], current, []))
        return routes

    def _rule(self, rule: dict[str, Any], facts: Tree, missing: list[str], where: str) -> tuple[Tree, Tree]:
        """(facts if the rule holds, facts if it does not), adding reads of absent paths to ``missing``."""
        if "And" in rule or "Or" in rule:
            conjunction = "And" in rule
            decided: Tree | None = None
            current = facts
            for index, child in enumerate(rule["And"] if conjunction else rule["Or"]):
                true, false = self._rule(child, current, missing, f"{where}.{'And' if conjunction else 'Or'}[{index}]")
                exit_tree = false if conjunction else true
                decided = exit_tree if decided is None else meet(decided, exit_tree)
                current = true if conjunction else false
            assert decided is not None
            return (current, decided) if conjunction else (decided, current)
        if "Not" in rule:
            true, false = self._rule(rule["Not"], facts, missing, f"{where}.Not")
            return false, true
        variable = rule["Variable"]
        if "IsPresent" in rule:
            present = self._known(merge(facts, variable, {}))
            return (present, facts) if rule["IsPresent"] else (facts, present)
        if not variable.startswith("$$") and not has(facts, variable):
            missing.append(f"{where}.Variable {variable}")
        for operator, operand in rule.items():
            if _PATH_OPERATORS.match(operator) and isinstance(operand, str) and not operand.startswith("$$") \
                    and not has(facts, operand):
                missing.append(f"{where}.{operator} {operand}")
        return facts, facts

    # -- reads -----------------------------------------------------------------------------------------------------
    def _check(self, state_name: str, facts: Tree) -> None:
        state = self.states[state_name]
        reads: list[tuple[str, str]] = []
        if state["Type"] == "Choice":
            for _, _, missing in self._choice(state, facts):
                self.missing += [f"{self.name}: {state_name!r} {read}" for read in missing]
            return
        for field in ("InputPath", "ItemsPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath"):
            if isinstance(state.get(field), str):
                reads += [(field, path) for path in expression_paths(state[field])]
        effective = subtree(facts, state.get("InputPath", "$") or "$")
        for field in ("Parameters", "ItemSelector"):
            for where, path in template_reads(state.get(field, {}), field):
                if not has(effective, path):
                    self.missing.append(f"{self.name}: {state_name!r} {where} {path}")
        self.missing += [f"{self.name}: {state_name!r} {field} {path}" for field, path in reads if not has(facts, path)]
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is not None:
            item = literal_tree(state["ItemSelector"]) if "ItemSelector" in state else {}
            self.missing += Analysis(processor, item, f"{self.name} / {state_name}").missing


def missing_paths(machine: dict[str, Any], input_tree: Tree, name: str = "machine") -> list[str]:
    """Every read of a path that some route into its state does not provide."""
    return Analysis(machine, input_tree, name).missing


# ---- the tests ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_path_a_state_reads_is_present_on_every_route_into_it(name: str) -> None:
    machine, input_tree = MACHINES[name]
    assert missing_paths(machine, input_tree, name) == []


def test_the_check_finds_a_catch_route_without_the_failing_task_s_result() -> None:
    """The JITR defect as it was: the inspector's impostor error went to the quarantine with ``$.Device`` unset, and
    ``Re-read inventory`` keyed its GetItem on ``$.Device.ThingName``."""
    machine = {"StartAt": "Inspect", "States": {
        "Inspect": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"Payload.$": "$"},
                    "ResultSelector": {"ThingName.$": "$.Payload.ThingName"}, "ResultPath": "$.Device",
                    "Catch": [{"ErrorEquals": ["Impostor"], "Next": "Re-read", "ResultPath": "$.Error"}],
                    "Next": "Done"},
        "Re-read": {"Type": "Task", "Resource": GET_ITEM, "ResultPath": "$.Current", "Next": "Owner?",
                    "Parameters": {"TableName": COMMON["inventory_table"],
                                   "Key": {"ThingName": {"S.$": "$.Device.ThingName"}}},
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Report", "ResultPath": None}]},
        "Owner?": {"Type": "Choice", "Default": "Report", "Choices": [
            {"Variable": "$.Current.Item.CertificateId.S", "StringEqualsPath": "$.certificateId", "Next": "Done"},
            {"And": [{"Variable": "$.Current.Item", "IsPresent": True},
                     {"Variable": "$.Current.Item.Status.S", "StringEquals": "ACTIVE"}], "Next": "Done"}]},
        "Report": {"Type": "Fail", "ErrorPath": "$.Error.Error", "CausePath": "$.Error.Cause"},
        "Done": {"Type": "Succeed"},
    }}
    assert missing_paths(machine, {"certificateId": {}}) == [
        "machine: 'Re-read' Parameters.Key.ThingName.S.$ $.Device.ThingName",
        "machine: 'Owner?' Choices[0].Variable $.Current.Item.CertificateId.S",  # no IsPresent guard: no item
    ]


def test_the_check_reads_intrinsic_arguments_and_map_iterators() -> None:
    machine = {"StartAt": "Arns", "States": {
        "Arns": {"Type": "Pass", "Parameters": {"Arns.$": "States.Array($.Current.Item.CertificateId.S, 'x$.no')"},
                 "ResultPath": "$.Recorded", "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.Recorded.Arns", "ResultPath": None, "End": True,
                 "ItemSelector": {"Principal.$": "$$.Map.Item.Value", "Thing.$": "$.ThingName"},
                 "ItemProcessor": {"StartAt": "Revoke", "States": {"Revoke": {
                     "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iot:updateCertificate", "End": True,
                     "Parameters": {"CertificateId.$": "States.ArrayGetItem(States.StringSplit($.Principal, '/'), 1)",
                                    "Owner.$": "$.Owner"}}}}},
    }}
    assert missing_paths(machine, {"ThingName": {}}) == [
        "machine: 'Arns' Parameters.Arns.$ $.Current.Item.CertificateId.S",
        "machine / Each: 'Revoke' Parameters.Owner.$ $.Owner",
    ]
    assert json.dumps(machine)  # a plain definition
