"""The kit deletes what it creates: after a probe that fails midway, after Ctrl-C, and what an aborted earlier run left
(found by name and tag); a resource named like the kit's but tagged for another run is left alone.

Run in the local cloud (``LocalWorld``), whose moto backends can be listed afterwards to see that nothing is left.
"""
from __future__ import annotations

import json

import pytest

from ops.conformance import resources as res
from ops.conformance import sweep
from ops.conformance.expectations import Expectation
from ops.conformance.local import LocalWorld
from ops.conformance.probes import Probe
from ops.conformance.resources import TAG_KEY, ProbeContext, Run, Tracker
from ops.conformance.runner import run_probes

POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": ["*"]}]}


@pytest.fixture
def world(tmp_path):
    with LocalWorld("eu-west-1", "us-west-2", state_dir=tmp_path) as opened:
        yield opened


def make_everything(ctx: ProbeContext) -> dict[str, str]:
    """One of every kind of resource the probes make, a thing attached to a certificate among them."""
    table, _ = res.table(ctx, "table")
    queue_url, _ = res.queue(ctx, "queue")
    rule_role = res.role(ctx, "rule-role", "iot", POLICY)
    lambda_role = res.role(ctx, "lambda-role", "lambda")
    marker = res.marker_policy(ctx)
    certificate = res.keys_and_certificate(ctx, marker)
    thing = res.thing(ctx, "thing")
    ctx.client("iot").attach_thing_principal(thingName=thing, principal=certificate["arn"])
    res.topic_rule(ctx, "rule", "SELECT * FROM 'iotmr-conf/x'",
                   [{"dynamoDBv2": {"roleArn": rule_role, "putItem": {"tableName": table}}}])
    function = res.function(ctx, "function", lambda_role, "ops.conformance.lambdas.noop")
    res.ca_certificate(ctx, "ca")
    res.provisioning_template(ctx, "template", {"Resources": {}}, rule_role)
    res.certificate_provider(ctx, "provider", ctx.region, function)
    res.domain_configuration(ctx, "domain", "IoTSecurityPolicy_TLS13_1_3_2022_10")
    return {"table": table, "queue": queue_url, "role": rule_role.rsplit("/", 1)[-1], "function": function}


def leftovers(world: LocalWorld, run_id: str) -> list[str]:
    """Every resource of the run still in the local cloud, by listing each service (not through the kit)."""
    found = []
    for region in ("eu-west-1", "us-west-2"):
        iot = world.client("iot", region)
        found += [t for t in world.client("dynamodb", region).list_tables()["TableNames"] if run_id in t]
        found += [q for q in world.client("sqs", region).list_queues().get("QueueUrls", []) if run_id in q]
        found += [f["FunctionName"] for f in world.client("lambda", region).list_functions()["Functions"]
                  if run_id in f["FunctionName"]]
        found += [r["ruleName"] for r in iot.list_topic_rules()["rules"] if run_id in r["ruleName"]]
        found += [p["policyName"] for p in iot.list_policies()["policies"] if run_id in p["policyName"]]
        found += [t["thingName"] for t in iot.list_things()["things"] if run_id in t["thingName"]]
        found += [c["certificateId"] for c in iot.list_certificates()["certificates"]]  # every one is the run's
        found += [ca for ca, _ in world.ca_certificates(region)]
        found += [d["domainConfigurationName"] for d in iot.list_domain_configurations()["domainConfigurations"]
                  if run_id in d["domainConfigurationName"]]
        found += [t for t in world.provisioning_templates(region) if run_id in t]
        found += [p for p in world.certificate_providers(region) if run_id in p]
    found += [r["RoleName"] for r in world.client("iam").list_roles()["Roles"] if run_id in r["RoleName"]]
    return found


def probe(run, name="breaks midway") -> Probe:
    return Probe(name, f"test.{name.replace(' ', '-')}", "makes one of everything, then fails", (), (), 1, run)


EXPECTED = {"test.breaks-midway": Expectation({"never": True}, "test"),
            "test.runs-after": Expectation({"ran": True}, "test"),
            "test.interrupted": Expectation({"never": True}, "test")}


def test_a_probe_that_fails_midway_leaves_nothing_and_the_next_probe_runs(world):
    run, seen = Run("0badf00d"), {}

    def breaks(ctx: ProbeContext) -> dict:
        made = make_everything(ctx)
        seen["tags"] = {  # tagged when created, read back where moto can
            "table": world.client("dynamodb").list_tags_of_resource(
                ResourceArn=ctx.arn("dynamodb", f"table/{made['table']}"))["Tags"],
            "queue": world.client("sqs").list_queue_tags(QueueUrl=made["queue"])["Tags"],
            "role": world.client("iam").list_role_tags(RoleName=made["role"])["Tags"],
            "function": world.client("lambda").list_tags(Resource=made["function"])["Tags"]}
        seen["made"] = leftovers(world, run.id)
        raise RuntimeError("boom midway")

    report = run_probes(world, run, [probe(breaks), probe(lambda ctx: {"ran": True}, "runs after")], EXPECTED)
    assert [r.observed for r in report.results] == [{"error": "RuntimeError: boom midway"}, {"ran": True}]
    assert [r.agree for r in report.results] == [False, True]
    assert len(seen["made"]) >= 12
    tag = {"Key": TAG_KEY, "Value": run.id}
    assert seen["tags"] == {"table": [tag], "queue": {TAG_KEY: run.id}, "role": [tag], "function": {TAG_KEY: run.id}}
    # IoT resources: moto 5.2.5 keeps no IoT tags; their create requests carried the tag (the world's ledger)
    for call in world.calls:
        if call.service == "iot" and call.operation in ("CreateTopicRule", "CreatePolicy", "RegisterCACertificate",
                                                        "CreateDomainConfiguration"):
            assert call.params["tags"] in ([tag], f"{TAG_KEY}={run.id}"), call
    assert not report.left
    assert leftovers(world, run.id) == []
    assert len(report.deleted) >= len(seen["made"])


def test_ctrl_c_midway_deletes_what_was_made_and_says_so(world):
    run = Run("0c7dc0de")

    def interrupted(ctx: ProbeContext) -> dict:
        make_everything(ctx)
        raise KeyboardInterrupt

    report = run_probes(world, run, [probe(interrupted, "interrupted"), probe(lambda ctx: {"ran": True}, "runs after")],
                        EXPECTED)
    assert report.interrupted == "interrupted (Ctrl-C)"
    assert report.results == []  # the interrupted probe has no verdict; the next one never started
    assert not report.ok
    assert leftovers(world, run.id) == []


def test_an_aborted_runs_leftovers_are_found_by_tag_and_deleted_first(world):
    aborted = ProbeContext(world, Run("deadbeef"), Tracker())
    make_everything(aborted)  # the process died: nothing deleted
    # named like the kit's, tagged for another run: not the aborted run's, so left alone
    world.client("dynamodb").create_table(
        TableName="iotmr-conf-deadbeef-foreign", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}], Tags=[{"Key": TAG_KEY, "Value": "someone-else"}])
    run = Run("5ec0d2a1")
    earlier = sweep.find(world, lambda found: found != run.id)
    assert earlier.runs == {"deadbeef"}
    kinds = sorted({r.kind for r in earlier.found.items})
    assert kinds == sorted({"DynamoDB table", "SQS queue", "IAM role", "IoT policy", "IoT certificate", "IoT thing",
                            "IoT topic rule", "Lambda function", "IoT CA certificate", "IoT provisioning template",
                            "IoT certificate provider", "IoT domain configuration"})
    assert earlier.skipped == ["DynamoDB table iotmr-conf-deadbeef-foreign (eu-west-1): named like the kit's but not "
                               f"tagged {TAG_KEY}=deadbeef"]
    report = run_probes(world, run, [], {}, earlier=earlier)
    assert len(report.earlier_deleted) == len(earlier.found.deleted) >= 12
    assert not report.left
    assert leftovers(world, "deadbeef") == ["iotmr-conf-deadbeef-foreign"]


def test_the_cli_exits_130_after_cleaning_up_an_interrupted_run(tmp_path, capsys, monkeypatch):
    from ops import cli
    from ops.conformance import cli as conformance_cli
    from ops.conformance import probes

    def interrupted(ctx: ProbeContext) -> dict:
        res.table(ctx, "table")
        raise KeyboardInterrupt

    first = probes.PROBES[0]
    monkeypatch.setattr(probes, "PROBES", (Probe(first.name, first.register_row, "", (), (), 1, interrupted),))
    world = LocalWorld("eu-west-1", "us-west-2", state_dir=tmp_path)
    args = cli.build_parser().parse_args(["conformance", "eu-west-1", "--local", "--json"])
    assert conformance_cli.main(args, world=world) == 130
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"probes": []}
    assert "interrupted (Ctrl-C)" in captured.err and "Deleted 1 temporary resources" in captured.err


def test_two_runs_one_after_the_other_do_not_collide(world):
    """Names carry the run id, and the account-wide certificate provider is gone before the next run makes one."""
    from ops.conformance.expectations import expectations
    from ops.conformance.probes import by_row

    rows = ("iot.delete-thing-with-principal", "fleet.certificate-provider-per-account", "iot.error-action-message")
    selected = [by_row()[row] for row in rows]
    reports = [run_probes(world, Run(run_id), selected, expectations()) for run_id in ("0000aaaa", "0000bbbb")]
    for report in reports:
        assert [(r.probe.register_row, r.agree) for r in report.results] == [(row, True) for row in rows]
        assert report.ok and not report.left
