"""ops.allow_list: enrolling devices from a file of verifying keys, idempotently."""
import json

import pytest

from ops import allow_list as ops_allow_list
from tests.provisioning import kit


def lines(*devices):
    return [json.dumps(ops_allow_list.entry(d.name, d.verifying_key_pem)) for d in devices]


def test_import_enrols_unprovisioned_and_a_second_import_changes_nothing(account):
    a, b = kit.Device.new("imp-1"), kit.Device.new("imp-2", "ec")
    report = ops_allow_list.import_entries(account.dynamodb, account.tables["allow"],
                                           ops_allow_list.parse(lines(a, b)))
    assert report.enrolled == ["imp-1", "imp-2"]
    account.dynamodb.update_item(TableName=account.tables["allow"], Key={"ThingName": {"S": "imp-1"}},
                                 UpdateExpression="SET #s = :p", ExpressionAttributeNames={"#s": "Status"},
                                 ExpressionAttributeValues={":p": {"S": "provisioned"}})
    again = ops_allow_list.import_entries(account.dynamodb, account.tables["allow"], ops_allow_list.parse(lines(a, b)))
    assert again.already == ["imp-1", "imp-2"] and account.entry("imp-1")["Status"] == "provisioned"
    assert account.entry("imp-2")["Status"] == "unprovisioned"


@pytest.mark.parametrize("line, why", [('{"thingName": "x y", "verifyingKey": "k"}', "not a thing name"),
                                       ('{"thingName": "ok"}', "thingName and verifyingKey"),
                                       ('{"thingName": "ok", "verifyingKey": "nope"}', "not a PEM public key")])
def test_a_bad_line_is_refused_naming_the_line(line, why):
    with pytest.raises(ops_allow_list.EntryError, match=f"line 1: .*{why}"):
        ops_allow_list.parse([line])


def test_the_ops_cli_imports_a_file_and_adds_one_device_and_names_a_bad_file(account, tmp_path, capsys):
    from ops import cli

    a, b = kit.Device.new("cli-1"), kit.Device.new("cli-2")
    entries = tmp_path / "factory-batch.jsonl"
    entries.write_text("\n".join(lines(a)) + "\n")
    key = tmp_path / "cli-2.pub.pem"
    key.write_text(b.verifying_key_pem)

    assert cli.main(["--application", "app", "--json", "allow-list", "import", kit.REGION, str(entries)]) == 0
    assert json.loads(capsys.readouterr().out)["enrolled"] == ["cli-1"]
    assert cli.main(["--application", "app", "allow-list", "add", kit.REGION, "cli-2", str(key)]) == 0
    assert account.entry("cli-2")["Status"] == "unprovisioned"
    capsys.readouterr()

    assert cli.main(["--application", "app", "allow-list", "import", kit.REGION, str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().out
