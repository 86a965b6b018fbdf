"""A private S3 bucket: SSE-S3 with a bucket key, every public access blocked, ACLs disabled, TLS only.

Shared by the test kit's certificate store and the certificate revocation list, so that both satisfy the policy
pack's S3 rules (s3-bucket-encrypted, s3-bucket-public-access-blocked, s3-bucket-tls-only) the same way.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from builders import iam


def private_bucket(name: str, *, bucket_name: str, parent: pulumi.Resource,
                   force_destroy: bool = False) -> aws.s3.Bucket:
    """Create the bucket ``bucket_name`` (logical name ``name``, child of ``parent``) and its four settings
    (logical names ``<name>-encryption``, ``-public-access``, ``-ownership``, ``-policy``, children of the bucket)."""
    bucket = aws.s3.Bucket(name, bucket=bucket_name, force_destroy=force_destroy,
                           opts=pulumi.ResourceOptions(parent=parent))
    on_bucket = pulumi.ResourceOptions(parent=bucket)
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"),
            bucket_key_enabled=True)],
        opts=on_bucket,
    )
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True, block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
        opts=on_bucket,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=on_bucket,
    )
    aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=json.dumps(iam.tls_only_bucket_policy(f"arn:aws:s3:::{bucket_name}")),
        opts=pulumi.ResourceOptions(parent=bucket, depends_on=[public_access]),
    )
    return bucket
