"""Global-table replication: deferred, per-region streams, last-writer-wins, no-op writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from localcloud.services.dynamodb.global_tables import GlobalTableError, GlobalTables

from engine_support import PRIMARY, SECONDARY

TABLE = "inventory"


def ddb(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region)


def create_table(region: str = PRIMARY, *, stream: bool = True, name: str = TABLE) -> None:
    kwargs: dict[str, Any] = {}
    if stream:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
    ddb(region).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "ThingName", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "ThingName", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        **kwargs,
    )


def stream_records(region: str, name: str = TABLE) -> list[dict[str, Any]]:
    client = ddb(region)
    arn = client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name=region)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return streams.get_records(ShardIterator=iterator)["Records"]


def item(region: str, thing: str) -> dict[str, Any] | None:
    return ddb(region).get_item(TableName=TABLE, Key={"ThingName": {"S": thing}}).get("Item")


@pytest.fixture
def tables(aws: None) -> Iterator[GlobalTables]:
    create_table()
    with GlobalTables() as engine:
        engine.register(TABLE, [PRIMARY, SECONDARY])
        yield engine


def test_register_creates_the_replica_with_schema_stream_and_existing_items(aws: None) -> None:
    create_table()
    ddb(PRIMARY).put_item(TableName=TABLE, Item={"ThingName": {"S": "old"}})
    with GlobalTables() as engine:
        assert engine.register(TABLE, [PRIMARY, SECONDARY]) == [SECONDARY]
        described = ddb(SECONDARY).describe_table(TableName=TABLE)["Table"]
        assert described["KeySchema"] == [{"AttributeName": "ThingName", "KeyType": "HASH"}]
        assert described["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert item(SECONDARY, "old") == {"ThingName": {"S": "old"}}
        assert stream_records(SECONDARY) == []  # the initial copy is not a change


def test_writes_replicate_only_when_settled(tables: GlobalTables) -> None:
    ddb(PRIMARY).put_item(TableName=TABLE, Item={"ThingName": {"S": "d1"}, "Status": {"S": "ACTIVE"}})
    assert tables.pending() == 1
    assert item(SECONDARY, "d1") is None
    assert tables.settle() == 1
    assert item(SECONDARY, "d1") == {"ThingName": {"S": "d1"}, "Status": {"S": "ACTIVE"}}
    assert tables.pending() == 0


def test_each_replica_stream_has_its_own_region_and_event_ids(tables: GlobalTables) -> None:
    ddb(PRIMARY).put_item(TableName=TABLE, Item={"ThingName": {"S": "d1"}})
    tables.settle()
    (local,) = stream_records(PRIMARY)
    (replicated,) = stream_records(SECONDARY)
    assert local["awsRegion"] == PRIMARY
    assert replicated["awsRegion"] == SECONDARY
    assert local["eventName"] == replicated["eventName"] == "INSERT"
    assert local["eventID"] != replicated["eventID"]
    assert replicated["dynamodb"]["NewImage"] == {"ThingName": {"S": "d1"}}


def test_replicated_writes_are_not_replicated_back(tables: GlobalTables) -> None:
    ddb(PRIMARY).put_item(TableName=TABLE, Item={"ThingName": {"S": "d1"}})
    tables.settle()
    assert tables.pending() == 0
    assert len(stream_records(PRIMARY)) == 1


def test_update_and_delete_replicate(tables: GlobalTables) -> None:
    client = ddb(PRIMARY)
    client.put_item(TableName=TABLE, Item={"ThingName": {"S": "d1"}, "Status": {"S": "ACTIVE"}})
    client.update_item(
        TableName=TABLE,
        Key={"ThingName": {"S": "d1"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "Status"},
        ExpressionAttributeValues={":s": {"S": "REVOKED"}},
    )
    tables.settle()
    assert item(SECONDARY, "d1")["Status"] == {"S": "REVOKED"}
    client.delete_item(TableName=TABLE, Key={"ThingName": {"S": "d1"}})
    tables.settle()
    assert item(SECONDARY, "d1") is None
    assert [r["eventName"] for r in stream_records(SECONDARY)] == ["INSERT", "MODIFY", "REMOVE"]


def test_a_write_that_changes_nothing_has_no_stream_record_and_no_replication(
    tables: GlobalTables,
) -> None:
    client = ddb(PRIMARY)
    client.put_item(TableName=TABLE, Item={"ThingName": {"S": "d1"}, "A": {"S": "x"}})
    tables.settle()
    client.put_item(TableName=TABLE, Item={"ThingName": {"S": "d1"}, "A": {"S": "x"}})
    client.update_item(
        TableName=TABLE,
        Key={"ThingName": {"S": "d1"}},
        UpdateExpression="SET A = :a",
        ExpressionAttributeValues={":a": {"S": "x"}},
    )
    assert tables.pending() == 0
    assert len(stream_records(PRIMARY)) == 1
    assert tables.stats.suppressed_no_change == 2


def test_update_item_on_a_new_key_emits_one_insert_with_the_full_image(
    tables: GlobalTables,
) -> None:
    ddb(PRIMARY).update_item(
        TableName=TABLE,
        Key={"ThingName": {"S": "d9"}},
        UpdateExpression="SET A = :a",
        ExpressionAttributeValues={":a": {"S": "x"}},
    )
    (record,) = stream_records(PRIMARY)
    assert record["eventName"] == "INSERT"
    assert record["dynamodb"]["NewImage"] == {"ThingName": {"S": "d9"}, "A": {"S": "x"}}
    assert tables.settle() == 1
    (replicated,) = stream_records(SECONDARY)
    assert replicated["dynamodb"]["NewImage"] == {"ThingName": {"S": "d9"}, "A": {"S": "x"}}


def test_concurrent_writes_converge_last_writer_wins(tables: GlobalTables) -> None:
    ddb(PRIMARY).put_item(TableName=TABLE, Item={"ThingName": {"S": "d1"}, "Origin": {"S": PRIMARY}})
    ddb(SECONDARY).put_item(
        TableName=TABLE, Item={"ThingName": {"S": "d1"}, "Origin": {"S": SECONDARY}}
    )
    assert tables.pending() == 2
    tables.settle()
    assert item(PRIMARY, "d1")["Origin"] == {"S": SECONDARY}
    assert item(SECONDARY, "d1")["Origin"] == {"S": SECONDARY}
    assert tables.stats.superseded == 1
    assert [r["eventName"] for r in stream_records(PRIMARY)] == ["INSERT", "MODIFY"]
    assert [r["eventName"] for r in stream_records(SECONDARY)] == ["INSERT"]


def test_batch_write_and_transactions_replicate(tables: GlobalTables) -> None:
    client = ddb(PRIMARY)
    client.batch_write_item(
        RequestItems={
            TABLE: [{"PutRequest": {"Item": {"ThingName": {"S": f"b{i}"}}}} for i in range(3)]
        }
    )
    client.transact_write_items(
        TransactItems=[{"Put": {"TableName": TABLE, "Item": {"ThingName": {"S": "t1"}}}}]
    )
    assert tables.settle() == 4
    assert {r["dynamodb"]["Keys"]["ThingName"]["S"] for r in stream_records(SECONDARY)} == {
        "b0", "b1", "b2", "t1",
    }  # fmt: skip


def test_a_cancelled_transaction_replicates_nothing(tables: GlobalTables) -> None:
    client = ddb(PRIMARY)
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"ThingName": {"S": "t1"}}}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"ThingName": {"S": "absent"}},
                        "ConditionExpression": "attribute_exists(ThingName)",
                    }
                },
            ]
        )
    assert tables.pending() == 0
    assert item(PRIMARY, "t1") is None


def test_a_table_without_stream_is_refused_with_the_fix(aws: None) -> None:
    create_table(stream=False)
    with GlobalTables() as engine, pytest.raises(GlobalTableError, match="StreamSpecification"):
        engine.register(TABLE, [PRIMARY, SECONDARY])


def test_a_missing_home_table_is_refused(aws: None) -> None:
    with GlobalTables() as engine, pytest.raises(GlobalTableError, match="create it there"):
        engine.register("nope", [PRIMARY, SECONDARY])


def test_replica_updates_register_the_new_regions(aws: None) -> None:
    create_table()
    with GlobalTables() as engine:
        engine.register_from_replica_updates(
            PRIMARY, TABLE, [{"Create": {"RegionName": SECONDARY}}]
        )
        assert engine.replicas[TABLE] == [PRIMARY, SECONDARY]
        with pytest.raises(GlobalTableError, match="Delete"):
            engine.register_from_replica_updates(
                PRIMARY, TABLE, [{"Delete": {"RegionName": SECONDARY}}]
            )


def test_update_table_replica_updates_create_and_describe_replicas(aws: None) -> None:
    create_table()
    with GlobalTables() as engine:
        ddb(PRIMARY).update_table(TableName=TABLE, ReplicaUpdates=[{"Create": {"RegionName": SECONDARY}}])
        assert engine.replicas[TABLE] == [PRIMARY, SECONDARY]
        primary = ddb(PRIMARY).describe_table(TableName=TABLE)["Table"]
        secondary = ddb(SECONDARY).describe_table(TableName=TABLE)["Table"]
        assert primary["Replicas"] == [{"RegionName": SECONDARY, "ReplicaStatus": "ACTIVE"}]
        assert secondary["Replicas"] == [{"RegionName": PRIMARY, "ReplicaStatus": "ACTIVE"}]
        assert primary["GlobalTableVersion"] == "2019.11.21"
        ddb(SECONDARY).put_item(TableName=TABLE, Item={"ThingName": {"S": "x"}})
        assert engine.settle() == 1
        assert item(PRIMARY, "x") == {"ThingName": {"S": "x"}}
