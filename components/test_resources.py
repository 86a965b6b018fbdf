"""The seed's test kit: an encrypted, private, TLS-only bucket for certificates, and an EC2
instance role/profile that can read that bucket and nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from builders import iam
from components.context import RegionContext
from components.private_bucket import private_bucket
from components.roles import service_role


@dataclass(frozen=True)
class TestResourcesArgs:
    context: RegionContext


class TestResources(pulumi.ComponentResource):
    __test__ = False  # not a pytest class
    bucket: aws.s3.Bucket
    instance_profile: aws.iam.InstanceProfile

    def __init__(self, name: str, args: TestResourcesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:TestResources", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ctx = args.context
        bucket_name = ctx.names.certificate_store_bucket(ctx.region, ctx.account_id)
        bucket_arn = f"arn:aws:s3:::{bucket_name}"
        self.bucket = private_bucket(f"{name}-certificate-store", bucket_name=bucket_name, parent=self,
                                     force_destroy=True)
        role = service_role(
            f"{name}-instance",
            service="ec2",
            account_id=ctx.account_id,
            source_arn=None,
            policy=iam.bucket_reader_policy(bucket_arn),
            parent=self,
            description="Test instances read device certificates from the certificate store",
        )
        self.instance_profile = aws.iam.InstanceProfile(f"{name}-instance-profile", role=role.role.name, opts=child)
        self.register_outputs({"certificateStoreBucket": self.bucket.bucket,
                               "instanceProfileName": self.instance_profile.name})
