"""Issue 21: ``python -m ops allow-list reset REGION THING [--yes]`` lets a device that lost its key provision again,
and cleans what a dead or failed attempt left, without ever taking a thing or certificate that is not the entry's.

Fails on main at 9c49dd7: there was no command, and an entry provisioned for a lost key stayed so for good.
"""
from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import boto3
import pytest

from contract import allow_list
from ops import cli
from tests.provisioning import kit
from tests.provisioning.api_faults import aws_like, Died, Faulty, always, call, still_attached  # noqa: F401 - aws_like is a fixture

pytestmark = pytest.mark.usefixtures("aws_like")

ROOT = Path(__file__).resolve().parents[2]


def enrolled(account, name="sensor-1"):
    device = kit.Device.new(name)
    kit.enrol(account.tables["allow"], device)
    return device


def with_new_tls_key(device):
    return kit.Device(device.name, device.signing_key, kit.Device.new(device.name).tls_key)


def reset(*argv):
    return cli.main(["--application", "app", "--json", "allow-list", "reset", *argv])


def inventory(account, thing):
    item = account.dynamodb.get_item(TableName=account.tables["inventory"], Key={"ThingName": {"S": thing}})["Item"]
    return {k: v["S"] for k, v in item.items()}


def test_a_device_that_lost_its_key_provisions_again_after_a_reset_and_the_old_certificate_is_retired(account, capsys):
    device = enrolled(account)
    old = call(account, device.body()).body["certificateId"]
    device = with_new_tls_key(device)
    assert call(account, device.body()).body["error"] == "AlreadyProvisioned"

    assert reset(kit.REGION, device.name, "--yes") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["replacesCertificateId"] == old and report["done"] is True
    entry = account.entry(device.name)
    assert entry["Status"] == "unprovisioned" and entry["ReplacesCertificateId"] == old
    assert "CertificateId" not in entry and "PublicKeyDigest" not in entry

    answer = call(account, device.body())
    assert answer.status == 200, answer.body
    new = answer.body["certificateId"]
    # the commit is a rotation: the item names the new certificate and retires the old one (every region's
    # replication machine revokes PreviousCertificateId: docs/design.md, "Events and inputs")
    item = inventory(account, device.name)
    assert (item["CertificateId"], item["PreviousCertificateId"], item["Status"]) == (new, old, "ACTIVE")
    assert account.iot.describe_thing(thingName=device.name)["attributes"]["certificateId"] == new
    entry = account.entry(device.name)
    assert entry["Status"] == "provisioned" and entry["CertificateId"] == new
    assert "ReplacesCertificateId" not in entry


def test_without_yes_the_reset_says_what_it_would_do_and_changes_nothing(account, capsys):
    device = enrolled(account)
    call(account, device.body())
    before = account.entry(device.name)
    assert cli.main(["--application", "app", "allow-list", "reset", kit.REGION, device.name]) == 0
    text = capsys.readouterr().out
    assert "--yes" in text and device.name in text
    assert account.entry(device.name) == before


def test_a_name_not_on_the_allow_list_or_not_a_thing_name_is_bad_input(account, capsys):
    assert reset(kit.REGION, "never-enrolled", "--yes") == 2
    assert "not on the allow-list" in capsys.readouterr().out
    assert reset(kit.REGION, "no spaces/here", "--yes") == 2
    assert "is not a thing name" in capsys.readouterr().out


def test_an_entry_a_request_is_provisioning_right_now_is_left_alone(account, capsys):
    device = enrolled(account)
    assert allow_list.claim(account.dynamodb, account.tables["allow"], device.name, allow_list.read(
        account.dynamodb, account.tables["allow"], device.name), "t" * 24, kit.REGION, int(time.time()), "c" * 64)
    assert reset(kit.REGION, device.name, "--yes") == 1
    assert "in progress" in capsys.readouterr().out
    assert account.entry(device.name)["Status"] == "provisioning"


def test_a_reset_cleans_what_a_dead_invocation_left_and_keeps_what_is_not_the_entrys(account, capsys):
    device = enrolled(account)
    long_ago = time.time() - 600
    with pytest.raises(Died):
        call(account, device.body(timestamp=int(long_ago)), at=long_ago,
             iot=Faulty(account.iot, attach_thing_principal=always(Died())))
    (attempt,) = [c["certificateId"] for c in account.iot.list_certificates()["certificates"]]
    account.iot.create_thing(thingName="neighbour", attributePayload={"attributes": {"certificateId": attempt}})

    assert reset(kit.REGION, device.name, "--yes") == 0
    assert json.loads(capsys.readouterr().out)["cleaned"] == [attempt]
    assert [c["status"] for c in account.iot.list_certificates()["certificates"]] in ([], ["REVOKED"])
    assert device.name not in [t["thingName"] for t in account.iot.list_things()["things"]]
    assert "neighbour" in [t["thingName"] for t in account.iot.list_things()["things"]]  # another name: not ours
    assert account.entry(device.name)["Status"] == "unprovisioned"
    assert call(account, device.body()).status == 200


def test_the_reset_command_in_docs_operations_md_runs_as_pasted(account, capsys):
    """The line of docs/operations.md, run as printed (`python -m ops` with the default application's tables)."""
    (line,) = [line for line in (ROOT / "docs/operations.md").read_text().splitlines()
               if line.startswith(".venv/bin/python -m ops allow-list reset")]
    argv = shlex.split(line.split("#")[0])
    assert argv[:3] == [".venv/bin/python", "-m", "ops"]
    region, thing = argv[5], argv[6]
    tables = {"allow": "multi-region-iot-allow-list", "inventory": "multi-region-iot-device-inventory"}
    ddb = boto3.client("dynamodb", region_name=region)
    for table in tables.values():
        ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "ThingName", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "ThingName", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=tables["allow"], Item={
        "ThingName": {"S": thing}, "Status": {"S": "provisioned"}, "VerifyingKey": {"S": "k"},
        "CertificateId": {"S": "a" * 64}, "PublicKeyDigest": {"S": "b" * 64}})
    ddb.put_item(TableName=tables["inventory"], Item={
        "ThingName": {"S": thing}, "CertificateId": {"S": "a" * 64}, "Status": {"S": "ACTIVE"}})

    assert cli.main(argv[3:]) == 0, capsys.readouterr().out
    entry = allow_list.read(ddb, tables["allow"], thing)
    assert (entry["Status"], entry["ReplacesCertificateId"]) == ("unprovisioned", "a" * 64)


def test_a_thing_that_cannot_be_deleted_yet_is_named_and_finished_by_the_next_request(account, capsys, monkeypatch):
    from contract import registry

    # the reset's backoff between refused deletions happens, instantly (as the service's in api_faults.clients)
    monkeypatch.setattr(registry.Provisioning.__init__, "__defaults__",
                        (lambda seconds: None, *registry.Provisioning.__init__.__defaults__[1:]))
    device = enrolled(account)
    long_ago = time.time() - 600
    with pytest.raises(Died):
        call(account, device.body(timestamp=int(long_ago)), at=long_ago,
             iot=Faulty(account.iot, attach_thing_principal=always(Died())))
    refusing = Faulty(account.iot, delete_thing=always(still_attached(account.iot, device.name)))
    clients = lambda service, region: refusing if service == "iot" else boto3.client(service, region_name=region)

    assert cli.main(["--application", "app", "allow-list", "reset", kit.REGION, device.name, "--yes"],
                    clients=clients) == 1
    text = capsys.readouterr().out
    assert "left:" in text and "cannot be deleted yet" in text
    assert account.entry(device.name)["Status"] == "unprovisioned"
    assert [c["status"] for c in account.iot.list_certificates()["certificates"]] == ["REVOKED"]
    answer = call(account, device.body())  # the detach has propagated: the device's next request finishes it
    assert answer.status == 200, answer.body
    assert account.iot.describe_thing(thingName=device.name)["attributes"]["certificateId"] == answer.body["certificateId"]
