"""Static checks on every definition the builders generate (no execution)."""
from __future__ import annotations

import json

import pytest

import quotas
from builders.asl import common, decommission, jitr, pacing, provisioned, replication
from functions.certificate_inspector import checks, inspector, lease
from functions.pacer import pacing as pacer_logic
from localcloud.botocore_models import operation_model, service_model
from localcloud.fixes.sfn_error_names import service_prefix

FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:iotmr-certificate-inspector"
COMMON = dict(device_policy_name="iotmr-device", event_bus_name="iotmr-devices", source="iotmr.devices",
              inventory_table="iotmr-device-inventory")
PACER_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:iotmr-pacer"
PACER = pacing.Pacer(PACER_ARN, quotas.load().rates("iot", "eu-west-1"), 900)
# As the program ships them: JITR and replication paced at AWS's default quotas.
DEFINITIONS = {
    "jitr": jitr.definition(inspector_function_arn=FUNCTION_ARN, lease_table="iotmr-registration-leases",
                            pacer=PACER, **COMMON),
    "replication": replication.definition(pacer=PACER, **COMMON),
    "decommission": decommission.definition(**COMMON),
    "provisioned": provisioned.definition(inventory_table=COMMON["inventory_table"],
                                          event_bus_name=COMMON["event_bus_name"], source=COMMON["source"]),
}
STATES_ERRORS = {"States.ALL", "States.TaskFailed", "States.Timeout", "States.HeartbeatTimeout", "States.Permissions",
                 "States.ResultPathMatchFailure", "States.ParameterPathFailure", "States.BranchFailed",
                 "States.NoChoiceMatched", "States.IntrinsicFailure", "States.ExceedToleratedFailureThreshold",
                 "States.ItemReaderFailed", "States.ResultWriterFailed", "States.QueryEvaluationError"}
# Errors Step Functions itself raises for Lambda tasks (service integration docs), besides the Invoke API's own.
LAMBDA_SFN_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.Unknown"}


def _named_errors(base: type) -> set[str]:
    return set().union(*({cls.__name__} | _named_errors(cls) for cls in base.__subclasses__()))


# the inspector's and its certificate checks' named errors
INSPECTOR_ERRORS = (_named_errors(inspector.InspectionError) | _named_errors(checks.CertificateRefused)
                    | {lease.RegistrationInProgress.__name__} | _named_errors(pacer_logic.PacingError))
BOTO_NAME = {"eventbridge": "events", "events": "events"}
params = pytest.mark.parametrize("name", sorted(DEFINITIONS))
# The inspector calls IoT and DynamoDB with boto3; an error it does not handle reaches Step Functions under
# botocore's error code (the exception class name), e.g. ThrottlingException.
INSPECTOR_AWS_ERRORS = {shape.name for service in ("iot", "dynamodb")
                        for shape in service_model(service).error_shapes}  # pyright: ignore[reportGeneralTypeIssues]  # botocore's CachedProperty is untyped


def targets(state):
    found = [state["Next"]] if "Next" in state else []
    found += [c["Next"] for c in state.get("Catch", [])]
    found += [c["Next"] for c in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    return found


def model_errors(service: str) -> set[str]:
    prefix = service_prefix(service)
    names = set()
    for shape in service_model(BOTO_NAME.get(service, service)).error_shapes:  # pyright: ignore[reportGeneralTypeIssues]  # as above
        code = shape.name if shape.name.endswith("Exception") else shape.name + "Exception"
        names.add(f"{prefix}.{code}")
    return names


def allowed_errors(state) -> set[str]:
    if state["Type"] == "Map":  # a Map fails with whatever its iterations' tasks raise
        inner = [s for _, s in common.iter_states(state["ItemProcessor"]) if s["Type"] == "Task"]
        return STATES_ERRORS.union(*(allowed_errors(s) for s in inner))
    resource = state["Resource"]
    if resource.startswith(common.SDK_PREFIX):
        return STATES_ERRORS | model_errors(resource[len(common.SDK_PREFIX):].split(":")[0])
    if resource == common.LAMBDA_INVOKE:
        return STATES_ERRORS | model_errors("lambda") | LAMBDA_SFN_ERRORS | INSPECTOR_ERRORS | INSPECTOR_AWS_ERRORS
    if resource == common.EVENTS_PUT:
        return STATES_ERRORS | model_errors("events") | {"EventBridge.FailedEntry"}
    raise AssertionError(f"unexpected resource {resource}")


@params
def test_every_target_exists_and_every_state_is_reachable(name):
    definition = DEFINITIONS[name]
    states = definition["States"]
    assert definition["StartAt"] in states
    for state_name, state in states.items():
        for target in targets(state):
            assert target in states, f"{state_name} -> {target}"
        terminal = state["Type"] in ("Fail", "Succeed") or state.get("End") is True
        assert terminal or targets(state), f"{state_name} neither ends nor continues"
        assert not (state.get("End") and "Next" in state), state_name
    reached, frontier = set(), [definition["StartAt"]]
    while frontier:
        current = frontier.pop()
        if current not in reached:
            reached.add(current)
            frontier += targets(states[current])
    assert reached == set(states), f"unreachable: {set(states) - reached}"


def check_members(parameters: dict, shape, where: str) -> None:
    members = {member.lower(): member for member in shape.members}
    given = {key[:-2] if key.endswith(".$") else key for key in parameters}
    for key in given:
        assert key.lower() in members, f"{where}: {key} is not a member of {shape.name} ({sorted(shape.members)})"
    for required in shape.required_members:
        assert required.lower() in {k.lower() for k in given}, f"{where}: required {required} missing"
    for key, value in parameters.items():
        member = shape.members[members[key.removesuffix('.$').lower()]]
        if isinstance(value, dict) and member.type_name == "structure":
            check_members(value, member, f"{where}.{key}")


@params
def test_every_sdk_task_passes_valid_members_of_its_api_input(name):
    checked = 0
    for state_name, state in common.iter_states(DEFINITIONS[name]):
        resource = state.get("Resource", "")
        if resource.startswith(common.SDK_PREFIX):
            service, action = resource[len(common.SDK_PREFIX):].split(":")
            check_members(state["Parameters"], operation_model(BOTO_NAME.get(service, service), action).input_shape, state_name)
            checked += 1
        elif resource == common.EVENTS_PUT:
            for entry in state["Parameters"]["Entries"]:
                check_members(entry, service_model("events").shape_for("PutEventsRequestEntry"), state_name)
            checked += 1
    assert checked >= 5


@params
def test_every_caught_or_retried_error_is_one_the_task_can_raise(name):
    for state_name, state in common.iter_states(DEFINITIONS[name]):
        for rule in state.get("Retry", []) + state.get("Catch", []):
            unknown = set(rule["ErrorEquals"]) - allowed_errors(state)
            assert not unknown, f"{state_name}: {unknown}"
            if "States.ALL" in rule["ErrorEquals"]:
                assert rule["ErrorEquals"] == ["States.ALL"] and rule is (state.get("Catch") or [None])[-1], state_name


@params
def test_state_is_never_clobbered(name):
    for state_name, state in common.iter_states(DEFINITIONS[name]):
        if state["Type"] in ("Task", "Pass"):
            assert "ResultPath" in state, state_name
            assert state["ResultPath"] is None or (state["ResultPath"].startswith("$.") and state["ResultPath"] != "$."), state_name
        for rule in state.get("Catch", []):
            assert rule["ResultPath"] in ("$.Error", None), state_name
        if state_name.startswith("Undo:") and state["Type"] == "Task":
            assert state["ResultPath"] is None and state["Catch"][-1]["ErrorEquals"] == ["States.ALL"], state_name


@params
def test_every_task_retries_throttling_or_waits_for_a_slot(name):
    states = dict(common.iter_states(DEFINITIONS[name]))
    for state_name, state in states.items():
        if state["Type"] != "Task":
            continue
        retried = {error for rule in state.get("Retry", []) for error in rule["ErrorEquals"]}
        paced = [c for c in state.get("Catch", []) if c["Next"] == f"{pacing.PACE_PREFIX}{state_name}"]
        if paced:
            assert paced[0] is state["Catch"][0] and set(paced[0]["ErrorEquals"]) & set(pacing.THROTTLED.values())
            assert not set(paced[0]["ErrorEquals"]) & retried, f"{state_name}: a Retry would run before the pacer"
            wait = states[states[paced[0]["Next"]]["Next"]]
            assert wait["Type"] == "Wait" and wait["Next"] == state_name
        else:
            assert any("Throttl" in e or "TooManyRequests" in e or e in ("EventBridge.InternalException",) for e in retried), state_name


def test_the_happy_path_iot_calls_of_both_machines_are_paced():
    def paced(definition):
        return {name for name in definition["States"] if f"{pacing.PACE_PREFIX}{name}" in definition["States"]}

    assert {"Inspect and record", "Create thing", "Attach certificate to thing", "Attach device policy",
            "Activate certificate"} <= paced(DEFINITIONS["jitr"])
    assert {"Register certificate", "Create thing", "Attach certificate to thing",
            "Attach device policy"} <= paced(DEFINITIONS["replication"])
    unpaced = jitr.definition(inspector_function_arn=FUNCTION_ARN, lease_table="iotmr-registration-leases", **COMMON)
    assert paced(unpaced) == set() and not any(s["Type"] == "Wait" for s in unpaced["States"].values())


def test_a_refused_slot_goes_where_the_task_sends_any_other_error():
    states = DEFINITIONS["jitr"]["States"]
    for name in ("Inspect and record", "Attach device policy"):
        (own,) = [c for c in states[name]["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
        assert states[f"{pacing.PACE_PREFIX}{name}"]["Catch"] == [own]
    assert states["Pace: Inspect and record"]["Parameters"]["Payload"] == {
        "Api": "iot:DescribeCertificate", "Rate": 10.0, "HorizonSeconds": 900}


@params
def test_moto_parses_the_definition_and_it_is_small(name):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    text = json.dumps(DEFINITIONS[name])
    assert len(text.encode()) < 1_000_000
    AmazonStateLanguageParser.parse(text)


def test_sdk_actions_are_exactly_the_calls_each_machine_makes():
    assert common.sdk_actions(DEFINITIONS["jitr"]) == {
        "lambda:InvokeFunction", "iot:CreateThing", "iot:DescribeThing", "iot:AttachThingPrincipal", "iot:AttachPolicy",
        "iot:UpdateCertificate", "dynamodb:GetItem", "events:PutEvents",
        "iot:DetachPolicy", "iot:DetachThingPrincipal", "iot:DeleteThing",  # activation refused: clean up
        "dynamodb:DeleteItem"}  # a failed registration releases its lease
    assert common.sdk_actions(DEFINITIONS["replication"]) == {
        "dynamodb:GetItem", "iot:RegisterCertificate", "iot:DescribeCertificate", "iot:UpdateCertificate",
        "iot:CreateThing", "iot:ListThingPrincipals", "iot:UpdateThing", "iot:AttachThingPrincipal", "iot:AttachPolicy",
        "iot:DetachPolicy", "iot:DetachThingPrincipal", "events:PutEvents",
        "lambda:InvokeFunction"}  # the pacer, after a throttled call
    assert common.sdk_actions(DEFINITIONS["decommission"]) == {
        "dynamodb:GetItem", "iot:UpdateCertificate", "iot:ListThingPrincipals", "iot:DetachPolicy",
        "iot:DetachThingPrincipal", "iot:DeleteThing", "events:PutEvents"}


def test_sdk_actions_maps_other_resource_forms_and_refuses_unknown_ones():
    definition = {"StartAt": "a", "States": {
        "a": {"Type": "Task", "Resource": FUNCTION_ARN, "Next": "b"},
        "b": {"Type": "Parallel", "Next": "c", "Branches": [{"StartAt": "x", "States": {
            "x": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "End": True}}}]},
        "c": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:eventbridge:putEvents", "End": True}}}
    assert common.sdk_actions(definition) == {"lambda:InvokeFunction", "dynamodb:PutItem", "events:PutEvents"}
    with pytest.raises(ValueError, match="sqs"):
        common.sdk_actions({"StartAt": "a", "States": {"a": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}}})


def test_the_iam_builder_has_a_least_privilege_mapping_for_every_action():
    from builders import iam

    resources = iam.StateMachineResources("eu-west-1", "123456789012", "iotmr-device", event_bus_name="iotmr-devices",
                                          inventory_table_name="iotmr-device-inventory", function_arn=FUNCTION_ARN,
                                          lease_table_name="iotmr-registration-leases", pacer_function_arn=PACER_ARN)
    for definition in DEFINITIONS.values():
        iam.state_machine_policy(common.sdk_actions(definition), resources)
    (invoke,) = [s for s in iam.state_machine_policy({"lambda:InvokeFunction"}, resources)["Statement"]
                 if "lambda:InvokeFunction" in s["Action"]]
    assert sorted(invoke["Resource"]) == sorted([FUNCTION_ARN, f"{FUNCTION_ARN}:*", PACER_ARN, f"{PACER_ARN}:*"])


@pytest.mark.parametrize("builder, argument", [
    (lambda **kw: jitr.definition(inspector_function_arn="", **COMMON), "inspector_function_arn"),
    (lambda **kw: replication.definition(inventory_table="t", device_policy_name="p", event_bus_name="", source="s"), "event_bus_name"),
    (lambda **kw: decommission.definition(inventory_table="t", device_policy_name=" ", event_bus_name="b", source="s"),
     "device_policy_name"),
    (lambda **kw: decommission.definition(inventory_table="", device_policy_name="p", event_bus_name="b", source="s"), "inventory_table"),
])
def test_bad_builder_arguments_name_the_argument(builder, argument):
    with pytest.raises(ValueError, match=argument):
        builder()


def test_the_happy_paths_fit_the_transition_budget():
    """JITR (6) + replication (5) <= 11 state transitions per device in two regions."""
    def happy_path(definition):
        states, current, path = definition["States"], definition["StartAt"], []
        while current:
            path.append(current)
            state = states[current]
            current = state.get("Default") if state["Type"] == "Choice" else state.get("Next")
        return path
    assert len(happy_path(DEFINITIONS["jitr"])) + len(happy_path(DEFINITIONS["replication"])) <= 11


@params
def test_statelint_accepts_the_definition(name):
    """statelint (PyPI 3.1.0, the Python port of awslabs/statelint) validates the ASL spec's rules."""
    from statelint.config import Config
    from statelint.linter import Linter

    config = Config([], False, False)
    assert Linter.validate(json.dumps(DEFINITIONS[name]), config) == []
    broken = json.loads(json.dumps(DEFINITIONS[name]))
    first = broken["StartAt"]
    broken["States"][first].pop("Next", None)
    broken["States"][first]["Next"] = "No such state"
    assert Linter.validate(json.dumps(broken), config)  # the linter does find problems


def test_a_machine_may_delete_only_registration_leases_never_an_inventory_item():
    from builders import iam

    resources = iam.StateMachineResources("eu-west-1", "123456789012", "iotmr-device",
                                          inventory_table_name="iotmr-device-inventory",
                                          lease_table_name="iotmr-registration-leases")
    (grant,) = [s for s in iam.state_machine_policy({"dynamodb:DeleteItem"}, resources)["Statement"]
                if "dynamodb:DeleteItem" in s["Action"]]
    assert grant["Resource"] == ["arn:aws:dynamodb:eu-west-1:123456789012:table/iotmr-registration-leases"]
