"""Each named moto fix in localcloud.fixes, pinned by the behaviour it restores."""
from __future__ import annotations

import json
import threading
import time

import boto3
import pytest
from moto import mock_aws

from localcloud import fixes
from localcloud import interception as aws_calls
from localcloud.fixes import sfn_retry_sleep
from localcloud.services.awslambda import inprocess as lambda_inprocess
from localcloud.speedups import sfn_definition_cache

from localcloud.statemachines.certs import TestCA, certificate_id

REGION = "eu-west-1"
ROLE = "arn:aws:iam::123456789012:role/sfn"
EXECUTE = {"stepfunctions": {"execute_state_machine": True}}


@pytest.fixture
def aws():
    with mock_aws(config=EXECUTE), fixes.patched():
        saved = fixes.SETTINGS.retry_time_scale
        fixes.SETTINGS.retry_time_scale = 0.0
        yield
        fixes.SETTINGS.retry_time_scale = saved
        aws_calls.clear()
        lambda_inprocess.unregister_all()


def run(definition: dict, payload: dict | None = None, name: str | None = None) -> dict:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(name=name or f"m{time.monotonic_ns()}", definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload or {}))["executionArn"]
    return sfn.describe_execution(executionArn=execution)


def one_task(resource: str, parameters: dict, **extra) -> dict:
    return {"StartAt": "t", "States": {"t": {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True, **extra}}}


def test_apply_is_idempotent_and_revert_restores_moto():
    from moto.iot.models import FakeCertificate

    original = FakeCertificate.__dict__["compute_cert_id"]
    fixes.apply()
    fixes.apply()
    try:
        assert set(fixes.applied()) == {fix.NAME for fix in fixes.FIXES}
        assert FakeCertificate.__dict__["compute_cert_id"] is not original
    finally:
        fixes.revert()
    assert fixes.applied() == []
    assert FakeCertificate.__dict__["compute_cert_id"] is original
    with pytest.raises(ValueError, match="unknown fix"):
        fixes.apply(only=("no_such_fix",))


def test_sdk_tasks_take_pascal_case_and_return_pascal_case_with_string_timestamps(aws):
    boto3.client("iot", region_name=REGION).create_thing(thingName="other")
    created = run(one_task("arn:aws:states:::aws-sdk:iot:createThing",
                           {"ThingName": "pascal", "AttributePayload": {"Attributes": {"a": "1"}}}))
    assert created["status"] == "SUCCEEDED"
    output = json.loads(created["output"])
    assert output["ThingName"] == "pascal" and output["ThingArn"].endswith(":thing/pascal")
    assert boto3.client("iot", region_name=REGION).describe_thing(thingName="pascal")["attributes"] == {"a": "1"}
    ca = TestCA()
    boto3.client("iot", region_name=REGION).register_certificate_without_ca(certificatePem=ca.device("d").pem, status="ACTIVE")
    described = run(one_task("arn:aws:states:::aws-sdk:iot:listCertificates", {}))
    certificate = json.loads(described["output"])["Certificates"][0]
    assert isinstance(certificate["CreationDate"], str) and certificate["Status"] == "ACTIVE"


def test_sdk_errors_are_named_like_step_functions_names_them(aws):
    pem = TestCA().device("x").pem
    boto3.client("iot", region_name=REGION).register_certificate_without_ca(certificatePem=pem, status="ACTIVE")
    duplicate = run(one_task("arn:aws:states:::aws-sdk:iot:registerCertificateWithoutCA", {"CertificatePem": pem}))
    assert duplicate["error"] == "Iot.ResourceAlreadyExistsException"
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    failed = run(one_task("arn:aws:states:::aws-sdk:dynamodb:putItem",
                          {"TableName": "t", "Item": {"k": {"S": "1"}}, "ConditionExpression": "attribute_exists(k)"}))
    assert failed["error"] == "DynamoDb.ConditionalCheckFailedException"
    definition = {"StartAt": "t", "States": {
        "t": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iot:describeThing", "Parameters": {"ThingName": "missing"},
              "Catch": [{"ErrorEquals": ["Iot.ResourceNotFoundException"], "Next": "ok"}], "End": True},
        "ok": {"Type": "Succeed"}}}
    assert run(definition)["status"] == "SUCCEEDED"


def test_unnamed_executions_get_unique_names(aws):
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(name="p", definition=json.dumps({"StartAt": "p", "States": {"p": {"Type": "Pass", "End": True}}}),
                                   roleArn=ROLE)["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert first != second and not first.endswith(":None")
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 2


def test_retry_intervals_are_scaled(aws):
    aws_calls.inject("iot", "DescribeThing", error_code="ThrottlingException", times=2)
    boto3.client("iot", region_name=REGION).create_thing(thingName="slow")
    sfn_retry_sleep.SLEPT.clear()
    started = time.monotonic()
    result = run(one_task("arn:aws:states:::aws-sdk:iot:describeThing", {"ThingName": "slow"},
                          Retry=[{"ErrorEquals": ["Iot.ThrottlingException"], "IntervalSeconds": 30, "BackoffRate": 2, "MaxAttempts": 3}]))
    assert result["status"] == "SUCCEEDED"
    assert sfn_retry_sleep.SLEPT == [30, 60]
    assert time.monotonic() - started < 10


def test_executions_are_serialised(aws):
    sfn = boto3.client("stepfunctions", region_name=REGION)
    boto3.client("iot", region_name=REGION)
    definition = {"StartAt": "t", "States": {"t": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iot:createThing",
                                                    "Parameters": {"ThingName.$": "$.n"}, "End": True}}}
    arn = sfn.create_state_machine(name="c", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    # synchronous: the execution is over when StartExecution returns
    execution = sfn.start_execution(stateMachineArn=arn, input='{"n": "s0"}')["executionArn"]
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    # asynchronous, from many threads: one at a time, all succeed
    fixes.SETTINGS.synchronous_executions = False
    try:
        arns: list[str] = []
        threads = [threading.Thread(target=lambda i=i: arns.append(
            sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": f"a{i}"}))["executionArn"])) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(sfn.describe_execution(executionArn=a)["status"] == "RUNNING" for a in arns):
            time.sleep(0.05)
        assert sorted(sfn.describe_execution(executionArn=a)["status"] for a in arns) == ["SUCCEEDED"] * 6
    finally:
        fixes.SETTINGS.synchronous_executions = True


def test_lambda_runs_the_registered_handler_in_process_with_its_environment(aws):
    seen = {}

    def handler(event, context):
        import os

        seen.update(region=boto3.client("sts").meta.region_name, variable=os.environ["GREETING"], name=context.function_name)
        print("a log line")
        if event.get("fail"):
            raise KeyError("boom")
        return {"echo": event}

    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(RoleName="l", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client = boto3.client("lambda", region_name="us-west-2")
    client.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="h.h", Code={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
                           Environment={"Variables": {"GREETING": "hi"}})
    lambda_inprocess.register("f", handler)
    ok = client.invoke(FunctionName="f", Payload=json.dumps({"a": 1}))
    assert json.loads(ok["Payload"].read()) == {"echo": {"a": 1}} and "FunctionError" not in ok
    assert seen == {"region": "us-west-2", "variable": "hi", "name": "f"}
    failed = client.invoke(FunctionName="f", Payload=json.dumps({"fail": True}))
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "KeyError"
    assert lambda_inprocess.LOGS["f"][-2:] == ["a log line", "a log line"]  # its log stream, not our console


def test_certificate_ids_are_the_sha256_of_the_der_without_moto_config(aws):
    pem = TestCA().device("d").pem
    registered = boto3.client("iot", region_name=REGION).register_certificate_without_ca(certificatePem=pem, status="ACTIVE")
    assert registered["certificateId"] == certificate_id(pem)


def test_certificates_link_to_the_registered_ca_that_signed_them(aws):
    iot = boto3.client("iot", region_name=REGION)
    ca, stranger = TestCA(), TestCA()
    ca_id = iot.register_ca_certificate(caCertificate=ca.pem, setAsActive=True)["certificateId"]
    mine = iot.register_certificate(certificatePem=ca.device("m").pem, status="ACTIVE")["certificateId"]
    theirs = iot.register_certificate_without_ca(certificatePem=stranger.device("t").pem, status="ACTIVE")["certificateId"]
    assert iot.describe_certificate(certificateId=mine)["certificateDescription"]["caCertificateId"] == ca_id
    assert "caCertificateId" not in iot.describe_certificate(certificateId=theirs)["certificateDescription"]


def test_ca_registration_keeps_mode_and_auto_registration(aws):
    iot = boto3.client("iot", region_name=REGION)
    ca_id = iot.register_ca_certificate(caCertificate=TestCA().pem, setAsActive=True, allowAutoRegistration=True,
                                        certificateMode="SNI_ONLY")["certificateId"]
    description = iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]
    assert (description["certificateMode"], description["autoRegistrationStatus"]) == ("SNI_ONLY", "ENABLE")
    iot.update_ca_certificate(certificateId=ca_id, newAutoRegistrationStatus="DISABLE")
    assert iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]["autoRegistrationStatus"] == "DISABLE"


def test_event_configurations_can_be_updated_and_described(aws):
    iot = boto3.client("iot", region_name=REGION)
    assert iot.describe_event_configurations()["eventConfigurations"]["CA_CERTIFICATE"] == {"Enabled": False}
    iot.update_event_configurations(eventConfigurations={"CA_CERTIFICATE": {"Enabled": True}, "CERTIFICATE": {"Enabled": True}})
    configurations = iot.describe_event_configurations()["eventConfigurations"]
    assert configurations["CA_CERTIFICATE"] == {"Enabled": True} and configurations["THING"] == {"Enabled": False}
    west = boto3.client("iot", region_name="us-west-2").describe_event_configurations()["eventConfigurations"]
    assert west["CERTIFICATE"] == {"Enabled": False}


def test_create_thing_is_idempotent_for_the_same_configuration(aws):
    iot = boto3.client("iot", region_name=REGION)
    first = iot.create_thing(thingName="t", attributePayload={"attributes": {"a": "1"}})
    again = iot.create_thing(thingName="t", attributePayload={"attributes": {"a": "1"}})
    assert again["thingId"] == first["thingId"]
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException):
        iot.create_thing(thingName="t", attributePayload={"attributes": {"a": "2"}})


def test_calls_are_recorded_and_faults_injected_as_modelled_errors(aws):
    from botocore.config import Config

    iot = boto3.client("iot", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
    other = boto3.client("iot", region_name="us-west-2")
    fault = aws_calls.inject("iot", "CreateThing", region=REGION, nth=2, error_code="InvalidRequestException")
    iot.create_thing(thingName="a")
    other.create_thing(thingName="b")  # other region: not counted
    with pytest.raises(iot.exceptions.InvalidRequestException) as raised:
        iot.create_thing(thingName="c")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    iot.create_thing(thingName="d")
    assert fault.fired == 1
    assert [(c.operation, c.region) for c in aws_calls.calls("iot")] == [
        ("CreateThing", REGION), ("CreateThing", "us-west-2"), ("CreateThing", REGION), ("CreateThing", REGION)]
    aws_calls.inject("iot", "DescribeThing", error_code="ThrottlingException", times=100)
    with pytest.raises(iot.exceptions.ThrottlingException) as throttled:
        iot.describe_thing(thingName="a")
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"  # status from botocore's model (400 for IoT)
    order: list[str] = []
    aws_calls.inject("iot", "DeleteThing", before=lambda: order.append("before"))
    iot.delete_thing(thingName="a")
    order.append("after")
    assert order == ["before", "after"]
    with pytest.raises(ValueError, match="error_code"):
        aws_calls.inject("iot", "DeleteThing")


@pytest.fixture
def definition_cache():
    """The speed-up (not a fix) that remembers validated definitions, on for one test."""
    sfn_definition_cache.install()
    yield
    sfn_definition_cache.uninstall()


def test_validated_definitions_are_not_parsed_again(aws, definition_cache):
    definition = json.dumps({"StartAt": "p", "States": {"p": {"Type": "Pass", "End": True}}, "Comment": str(time.time())})
    sfn = boto3.client("stepfunctions", region_name=REGION)
    sfn.create_state_machine(name="one", definition=definition, roleArn=ROLE)
    assert definition in sfn_definition_cache._VALID
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="ASLParserException"):  # invalid ones are still parsed and refused
        sfn.create_state_machine(name="bad", definition='{"StartAt": "x", "States": {}}', roleArn=ROLE)


# ---- IoT as strict as AWS (docs/emulator.md) ----------------------------------------------------------------
def _thing_with_certificate(iot, thing: str = "t", status: str = "INACTIVE") -> str:
    arn = iot.create_keys_and_certificate(setAsActive=status == "ACTIVE")["certificateArn"]
    iot.create_thing(thingName=thing)
    iot.attach_thing_principal(thingName=thing, principal=arn)
    return arn


@pytest.fixture
def detach_delay():
    saved = fixes.SETTINGS.detach_delay_calls
    yield lambda calls: setattr(fixes.SETTINGS, "detach_delay_calls", calls)
    fixes.SETTINGS.detach_delay_calls = saved


def test_detach_thing_principal_propagates_only_after_further_iot_calls_in_its_region(aws, detach_delay):
    from localcloud.fixes import iot_detach_propagation

    detach_delay(3)
    iot, other = boto3.client("iot", region_name=REGION), boto3.client("iot", region_name="us-west-2")
    arn = _thing_with_certificate(iot)
    iot.detach_thing_principal(thingName="t", principal=arn)  # succeeds at once ...
    assert iot_detach_propagation.pending_detaches() == [("123456789012", REGION, arn, "t")]
    for _ in range(5):
        other.list_things()  # calls in another region do not move this one
    assert iot.list_thing_principals(thingName="t")["principals"] == [arn]  # ... but the attachment is still seen
    assert iot.list_principal_things(principal=arn)["things"] == ["t"]
    with pytest.raises(iot.exceptions.InvalidRequestException, match="still attached"):
        iot.delete_thing(thingName="t")  # 3rd further call: still attached
    assert iot.list_thing_principals(thingName="t")["principals"] == []  # 4th: propagated
    iot.delete_thing(thingName="t")
    assert iot_detach_propagation.pending_detaches() == []


def test_detach_propagation_can_be_synchronous_forced_or_overtaken_by_a_new_attach(aws, detach_delay):
    from localcloud.fixes import iot_detach_propagation

    iot = boto3.client("iot", region_name=REGION)
    detach_delay(0)  # moto's own behaviour
    arn = _thing_with_certificate(iot, "sync")
    iot.detach_thing_principal(thingName="sync", principal=arn)
    iot.delete_thing(thingName="sync")
    detach_delay(100)
    arn = _thing_with_certificate(iot, "forced")
    iot.detach_thing_principal(thingName="forced", principal=arn)
    assert iot_detach_propagation.complete_pending_detaches(region=REGION) == 1  # "several seconds later"
    iot.delete_thing(thingName="forced")
    arn = _thing_with_certificate(iot, "again")
    iot.detach_thing_principal(thingName="again", principal=arn)
    iot.attach_thing_principal(thingName="again", principal=arn)  # the later request wins
    assert iot_detach_propagation.complete_pending_detaches() == 0
    assert iot.list_thing_principals(thingName="again")["principals"] == [arn]
    with pytest.raises(iot.exceptions.ResourceNotFoundException):  # detaching what is not attached: as moto
        iot.detach_thing_principal(thingName="forced", principal=arn)


def test_a_machine_deleting_the_thing_right_after_the_detach_fails_unless_it_retries(aws, detach_delay):
    detach_delay(3)
    iot = boto3.client("iot", region_name=REGION)
    detach = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iot:detachThingPrincipal",
              "Parameters": {"ThingName.$": "$.thing", "Principal.$": "$.arn"}, "ResultPath": None, "Next": "delete"}
    delete = {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iot:deleteThing",
              "Parameters": {"ThingName.$": "$.thing"}, "End": True}
    arn = _thing_with_certificate(iot, "hasty")
    hasty = run({"StartAt": "detach", "States": {"detach": detach, "delete": delete}}, {"thing": "hasty", "arn": arn})
    assert (hasty["status"], hasty["error"]) == ("FAILED", "Iot.InvalidRequestException")
    arn = _thing_with_certificate(iot, "patient")
    retry = [{"ErrorEquals": ["Iot.InvalidRequestException"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 5}]
    patient = run({"StartAt": "detach", "States": {"detach": detach, "delete": {**delete, "Retry": retry}}},
                  {"thing": "patient", "arn": arn})
    assert patient["status"] == "SUCCEEDED"  # each retry is an IoT call: the detach propagates meanwhile
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing(thingName="patient")


def test_delete_thing_of_a_thing_still_attached_is_an_invalid_request_with_status_400(aws):
    iot = boto3.client("iot", region_name=REGION)
    _thing_with_certificate(iot)
    with pytest.raises(iot.exceptions.InvalidRequestException) as refused:
        iot.delete_thing(thingName="t")
    assert refused.value.response["Error"]["Message"] == "Cannot delete. Thing t is still attached to one or more principals"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400  # botocore's model; moto sent 409


def test_delete_certificate_refuses_active_or_attached_certificates_and_force_drops_policies(aws, detach_delay):
    detach_delay(3)
    iot = boto3.client("iot", region_name=REGION)
    iot.create_policy(policyName="p", policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    arn = _thing_with_certificate(iot, status="ACTIVE")
    certificate_id = arn.rsplit("/", 1)[-1]
    iot.attach_policy(policyName="p", target=arn)
    with pytest.raises(iot.exceptions.CertificateStateException):
        iot.delete_certificate(certificateId=certificate_id)
    iot.update_certificate(certificateId=certificate_id, newStatus="INACTIVE")
    iot.detach_thing_principal(thingName="t", principal=arn)
    with pytest.raises(iot.exceptions.DeleteConflictException, match="Things must be detached"):  # still propagating
        iot.delete_certificate(certificateId=certificate_id, forceDelete=True)
    for _ in range(3):
        iot.list_things()
    with pytest.raises(iot.exceptions.DeleteConflictException, match="policies must be detached"):
        iot.delete_certificate(certificateId=certificate_id)
    iot.delete_certificate(certificateId=certificate_id, forceDelete=True)
    assert iot.list_targets_for_policy(policyName="p")["targets"] == []  # moto kept naming the deleted certificate


def test_a_revoked_certificate_stays_revoked_and_revoking_it_again_is_a_no_op(aws):
    iot = boto3.client("iot", region_name=REGION)
    certificate_id = iot.create_keys_and_certificate(setAsActive=True)["certificateId"]
    iot.update_certificate(certificateId=certificate_id, newStatus="REVOKED")
    iot.update_certificate(certificateId=certificate_id, newStatus="REVOKED")  # idempotent
    for status in ("ACTIVE", "INACTIVE"):
        with pytest.raises(iot.exceptions.CertificateStateException) as refused:
            iot.update_certificate(certificateId=certificate_id, newStatus=status)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 406
    other = iot.create_keys_and_certificate(setAsActive=False)["certificateId"]
    for status in ("PENDING_ACTIVATION", "PENDING_TRANSFER"):
        with pytest.raises(iot.exceptions.InvalidRequestException):
            iot.update_certificate(certificateId=other, newStatus=status)
    assert iot.describe_certificate(certificateId=certificate_id)["certificateDescription"]["status"] == "REVOKED"
    assert iot.describe_certificate(certificateId=other)["certificateDescription"]["status"] == "INACTIVE"
    revoke_again = run(one_task("arn:aws:states:::aws-sdk:iot:updateCertificate",
                                {"CertificateId": certificate_id, "NewStatus": "REVOKED"}))
    assert revoke_again["status"] == "SUCCEEDED"


def test_detach_policy_from_a_certificate_not_in_the_region_is_an_invalid_request(aws):
    iot = boto3.client("iot", region_name=REGION)
    iot.create_policy(policyName="p", policyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    missing = f"arn:aws:iot:{REGION}:123456789012:cert/{'0' * 64}"
    with pytest.raises(iot.exceptions.InvalidRequestException) as refused:
        iot.detach_policy(policyName="p", target=missing)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    detached = run(one_task("arn:aws:states:::aws-sdk:iot:detachPolicy", {"PolicyName": "p", "Target": missing}))
    assert detached["error"] == "Iot.InvalidRequestException"  # a Catch on Iot.ResourceNotFoundException misses it


# ---- sfn_runtime_errors: States.Runtime fails the execution, whatever Retry or Catch says ---------------------------
LIST_THINGS = "arn:aws:states:::aws-sdk:iot:listThings"
CAUGHT = {"Type": "Pass", "Result": {"Went": "caught"}, "End": True}


def _catching(task: dict, error_equals: list[str] | None = None, **extra) -> dict:
    catcher = {"ErrorEquals": error_equals or ["States.ALL"], "ResultPath": "$.Error", "Next": "caught"}
    return {"StartAt": "t", "States": {"t": {**task, "Catch": [catcher], "End": True, **extra}, "caught": CAUGHT}}


def _failed_with_runtime(result: dict, state: str, path: str) -> None:
    assert (result["status"], result.get("error")) == ("FAILED", "States.Runtime"), result
    assert result["cause"].startswith(f"An error occurred while executing the state '{state}'"), result["cause"]
    assert path in result["cause"], result["cause"]


@pytest.mark.parametrize("task", [
    {"Parameters": {"NextToken.$": "$.Device.ThingName"}},  # the JITR defect: a field the catch route never set
    {"Parameters": {"NextToken.$": "States.Format('{}', $.Device.ThingName)"}},
    {"Parameters": {}, "ResultSelector": {"Name.$": "$.Device.ThingName"}},
    {"Parameters": {}, "InputPath": "$.Device.ThingName"},
    {"Parameters": {}, "OutputPath": "$.Device.ThingName"},
], ids=["parameters", "intrinsic", "result-selector", "input-path", "output-path"])
def test_a_path_selecting_nothing_fails_the_execution_even_under_a_states_all_catch(aws, task):
    """AWS, developer guide (concepts-error-handling): States.ALL "cannot catch ... Runtime error types"; a
    States.Runtime error "will always cause the execution to fail". moto caught the first three."""
    result = run(_catching({"Type": "Task", "Resource": LIST_THINGS, **task}), {"certificateId": "c"})
    _failed_with_runtime(result, "t", "$.Device.ThingName")


def test_a_runtime_error_is_neither_retried_nor_caught_by_name(aws):
    task = {"Type": "Task", "Resource": LIST_THINGS, "Parameters": {"NextToken.$": "$.missing"}}
    retried = run({"StartAt": "t", "States": {"t": {**task, "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
                                                    "End": True}}})
    _failed_with_runtime(retried, "t", "$.missing")
    sfn = boto3.client("stepfunctions", region_name=REGION)
    history = sfn.get_execution_history(executionArn=retried["executionArn"])["events"]
    assert [e["type"] for e in history].count("TaskFailed") == 1  # "A States.Runtime error isn't retriable"
    _failed_with_runtime(run(_catching(task, ["States.Runtime"])), "t", "$.missing")
    # a task error (not a path) is still caught, by States.ALL or by name
    assert json.loads(run(_catching({"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:iot:describeThing",
                                     "Parameters": {"ThingName": "absent"}}))["output"])["Went"] == "caught"


def _choice(*rules: dict) -> dict:
    return {"StartAt": "c", "States": {
        "c": {"Type": "Choice", "Choices": [{**rule, "Next": "matched"} for rule in rules], "Default": "default"},
        "matched": {"Type": "Pass", "Result": {"Went": "matched"}, "End": True},
        "default": {"Type": "Pass", "Result": {"Went": "default"}, "End": True}}}


def test_a_choice_on_a_missing_path_fails_unless_guarded_by_is_present(aws):
    missing = {"Variable": "$.Current.Item.Status.S", "StringEquals": "ACTIVE"}
    _failed_with_runtime(run(_choice(missing), {"certificateId": "c"}), "c", "Invalid path '$.Current.Item.Status.S'")
    operand = {"Variable": "$.certificateId", "StringEqualsPath": "$.Device.CertificateId"}
    _failed_with_runtime(run(_choice(operand), {"certificateId": "c"}), "c", "Invalid path '$.Device.CertificateId'")
    guarded = {"And": [{"Variable": "$.Current.Item.Status.S", "IsPresent": True}, missing]}
    assert json.loads(run(_choice(guarded), {"certificateId": "c"})["output"])["Went"] == "default"
    absent = {"Variable": "$.Current.Item.Status.S", "IsPresent": False}
    assert json.loads(run(_choice(absent), {"certificateId": "c"})["output"])["Went"] == "matched"
    present = {"Current": {"Item": {"Status": {"S": "ACTIVE"}}}}
    assert json.loads(run(_choice(guarded), present)["output"])["Went"] == "matched"
