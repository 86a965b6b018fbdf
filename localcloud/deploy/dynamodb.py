"""DynamoDB: tables; a table with replicas becomes a global table in the replication engine, so each replica has
its own stream ARN."""

from __future__ import annotations

from typing import Any

import pulumi

from .common import client, physical_name
from .registry import DeployContext, Result, UnsupportedResource, creates


@creates("aws:dynamodb/table:Table")
def table(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    name = physical_name(args, inputs, limit=255)
    keys = [(inputs["hashKey"], "HASH")] + ([(inputs["rangeKey"], "RANGE")] if inputs.get("rangeKey") else [])
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": k, "KeyType": t} for k, t in keys],
        "AttributeDefinitions": [{"AttributeName": a["name"], "AttributeType": a["type"]}
                                 for a in inputs.get("attributes", [])],
        "BillingMode": inputs.get("billingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = {"ReadCapacityUnits": int(inputs.get("readCapacity") or 1),
                                            "WriteCapacityUnits": int(inputs.get("writeCapacity") or 1)}
    if inputs.get("streamEnabled"):
        request["StreamSpecification"] = {"StreamEnabled": True,
                                          "StreamViewType": inputs.get("streamViewType", "NEW_AND_OLD_IMAGES")}
    if inputs.get("deletionProtectionEnabled"):
        request["DeletionProtectionEnabled"] = True
    dynamodb = client("dynamodb", region)
    created = dynamodb.create_table(**request)["TableDescription"]
    ttl = inputs.get("ttl") or {}
    if ttl.get("enabled"):
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "Enabled": True, "AttributeName": ttl["attributeName"]})
    replicas = inputs.get("replicas") or []
    replica_regions = [r["regionName"] for r in replicas]
    if replica_regions:
        if ctx.on_global_table is None:
            raise UnsupportedResource(f"table {name!r} has replicas {replica_regions} but this deployer has no "
                                      "global-table engine (pass on_global_table=engines.global_tables.register)")
        ctx.on_global_table(name, region, replica_regions)
    state = {**inputs, "name": name, "arn": created["TableArn"], "streamArn": created.get("LatestStreamArn", ""),
             "streamLabel": created.get("LatestStreamLabel", "")}
    state["replicas"] = []
    for replica in replicas:
        replica_client = client("dynamodb", replica["regionName"])
        if replica.get("deletionProtectionEnabled"):
            replica_client.update_table(TableName=name, DeletionProtectionEnabled=True)
        described = replica_client.describe_table(TableName=name)["Table"]
        state["replicas"].append({**replica, "arn": described["TableArn"],
                                  "streamArn": described.get("LatestStreamArn", ""),
                                  "streamLabel": described.get("LatestStreamLabel", "")})
    return name, state
