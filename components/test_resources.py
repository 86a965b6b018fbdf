"""The seed's test kit: an encrypted, private, TLS-only bucket for certificates, and an EC2
instance role/profile that can read that bucket and nothing else."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from builders import iam
from components.naming import Names
from components.roles import service_role


@dataclass(frozen=True)
class TestResourcesArgs:
    names: Names
    region: str
    account_id: str


class TestResources(pulumi.ComponentResource):
    __test__ = False  # not a pytest class
    bucket: aws.s3.Bucket
    instance_profile: aws.iam.InstanceProfile

    def __init__(self, name: str, args: TestResourcesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:TestResources", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket_name = args.names.certificate_store_bucket(args.region, args.account_id)
        bucket_arn = f"arn:aws:s3:::{bucket_name}"
        self.bucket = aws.s3.Bucket(f"{name}-certificate-store", bucket=bucket_name, force_destroy=True, opts=child)
        on_bucket = pulumi.ResourceOptions(parent=self.bucket)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-certificate-store-encryption",
            bucket=self.bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"),
                bucket_key_enabled=True)],
            opts=on_bucket,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-certificate-store-public-access",
            bucket=self.bucket.id,
            block_public_acls=True, block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
            opts=on_bucket,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-certificate-store-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=on_bucket,
        )
        aws.s3.BucketPolicy(
            f"{name}-certificate-store-policy",
            bucket=self.bucket.id,
            policy=json.dumps(iam.tls_only_bucket_policy(bucket_arn)),
            opts=pulumi.ResourceOptions(parent=self.bucket, depends_on=[public_access]),
        )
        role = service_role(
            f"{name}-instance",
            service="ec2",
            account_id=args.account_id,
            source_arn=None,
            policy=iam.bucket_reader_policy(bucket_arn),
            parent=self,
            description="Test instances read device certificates from the certificate store",
        )
        self.instance_profile = aws.iam.InstanceProfile(f"{name}-instance-profile", role=role.role.name, opts=child)
        self.register_outputs({"certificateStoreBucket": self.bucket.bucket,
                               "instanceProfileName": self.instance_profile.name})
