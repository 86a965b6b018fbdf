"""S3: buckets, objects (``content`` or a ``FileAsset``), ownership controls, policies, public access blocks and
default encryption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi

from .common import autoname, client
from .registry import DeployContext, Result, UnsupportedResource, creates


@creates("aws:s3/bucket:Bucket")
def bucket(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any], region: str) -> Result:
    name = inputs.get("bucket") or autoname(args.name, limit=63).lower()
    request: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    client("s3", region).create_bucket(**request)
    return name, {**inputs, "bucket": name, "arn": f"arn:aws:s3:::{name}",
                  "bucketDomainName": f"{name}.s3.amazonaws.com",
                  "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com", "region": region}


@creates("aws:s3/bucketObjectv2:BucketObjectv2")
def bucket_object(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                  region: str) -> Result:
    """An object from ``content`` or a ``FileAsset`` ``source`` (read now, as ``pulumi up`` uploads it)."""
    unknown = set(inputs) - {"bucket", "key", "source", "content", "contentType", "serverSideEncryption",
                             "cacheControl", "metadata", "tags", "tagsAll", "region", "forceDestroy"}
    if unknown:
        raise UnsupportedResource(f"aws:s3/bucketObjectv2:BucketObjectv2 {args.name!r}: inputs {sorted(unknown)} "
                                  "are not emulated")
    source = inputs.get("source")
    if source is not None:
        path = getattr(source, "path", None)
        if path is None:
            raise UnsupportedResource(f"BucketObjectv2 {args.name!r}: only a FileAsset source is emulated, got "
                                      f"{type(source).__name__}")
        body = Path(path).read_bytes()
    else:
        body = str(inputs.get("content") or "").encode()
    key = inputs.get("key") or args.name
    request: dict[str, Any] = {"Bucket": inputs["bucket"], "Key": key, "Body": body}
    for name, member in (("contentType", "ContentType"), ("serverSideEncryption", "ServerSideEncryption"),
                         ("cacheControl", "CacheControl"), ("metadata", "Metadata")):
        if inputs.get(name):
            request[member] = inputs[name]
    response = client("s3", region).put_object(**request)
    return key, {**inputs, "key": key, "etag": response.get("ETag", "").strip('"'),
                 "versionId": response.get("VersionId", ""), "arn": f"arn:aws:s3:::{inputs['bucket']}/{key}"}


@creates("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
def bucket_ownership_controls(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                              region: str) -> Result:
    client("s3", region).put_bucket_ownership_controls(
        Bucket=inputs["bucket"],
        OwnershipControls={"Rules": [{"ObjectOwnership": inputs["rule"]["objectOwnership"]}]})
    return inputs["bucket"], {**inputs}


@creates("aws:s3/bucketPolicy:BucketPolicy")
def bucket_policy(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                  region: str) -> Result:
    client("s3", region).put_bucket_policy(Bucket=inputs["bucket"], Policy=inputs["policy"])
    return inputs["bucket"], {**inputs}


@creates("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
def bucket_public_access_block(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                               region: str) -> Result:
    configuration = {member: bool(inputs.get(key, False)) for key, member in (
        ("blockPublicAcls", "BlockPublicAcls"), ("ignorePublicAcls", "IgnorePublicAcls"),
        ("blockPublicPolicy", "BlockPublicPolicy"), ("restrictPublicBuckets", "RestrictPublicBuckets"))}
    client("s3", region).put_public_access_block(Bucket=inputs["bucket"], PublicAccessBlockConfiguration=configuration)
    return inputs["bucket"], {**inputs}


@creates("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
def bucket_encryption(ctx: DeployContext, args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any],
                      region: str) -> Result:
    rules = []
    for rule in inputs.get("rules", []):
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        entry: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": default["sseAlgorithm"]}}
        if default.get("kmsMasterKeyId"):
            entry["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        if "bucketKeyEnabled" in rule:
            entry["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
        rules.append(entry)
    client("s3", region).put_bucket_encryption(
        Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
    return inputs["bucket"], {**inputs}
