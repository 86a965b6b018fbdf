"""The certificate revocation list, published in one region for the certificate inspector.

``python -m pki revoke NAME`` adds a device's serial to ``<pkiDir>/crl.pem``, signed by the intermediate CA (the CA
registered in IoT Core). Each region gets a dedicated private bucket and, when that file exists, the object
``crl.pem`` uploaded from it; the inspector is then given ``CRL_BUCKET``, ``CRL_KEY`` and
``CRL_ISSUER_CERTIFICATE`` and refuses a listed certificate on its first connection (a key stolen at the factory).

Without ``crl.pem`` the bucket stays empty and the inspector gets no CRL variables: it refuses nothing as revoked.
Configuring it against a missing object would make it fail closed (``RevocationListUnavailable``) and activate
nothing. A ``crl.pem`` that is not one CRL signed by the intermediate stops the program before anything is
registered, rather than at the first device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

import pki
from components.config import ConfigError
from components.context import RegionContext
from components.private_bucket import private_bucket

CRL_KEY = "crl.pem"  # the inspector's default CRL_KEY, and the file `pki revoke` writes
CRL_CONTENT_TYPE = "application/x-pem-file"


def find_revocation_list(pki_dir: Path, ca_certificate_pem: str) -> Path | None:
    """``<pki_dir>/crl.pem`` if it exists, checked to be one CRL signed by the registered CA; None without one."""
    from cryptography import x509

    from pki.layout import Layout
    from pki.revocation import load_crl

    path = Layout(pki_dir).crl
    if not path.is_file():
        return None
    issuer = x509.load_pem_x509_certificate(ca_certificate_pem.encode())
    try:
        load_crl(path, issuer)
    except pki.PkiError as error:
        raise ConfigError(f"pkiDir: {error}") from None
    return path


@dataclass(frozen=True)
class RevocationListArgs:
    context: RegionContext
    ca_certificate_pem: str  # the intermediate: the CRL's issuer, registered in IoT Core
    crl_file: Path | None  # None: nothing revoked yet, nothing published


class RevocationList(pulumi.ComponentResource):
    """The region's CRL bucket and, when there is a CRL, its ``crl.pem`` object."""

    bucket: aws.s3.Bucket
    bucket_name: str
    object: aws.s3.BucketObjectv2 | None
    object_arn: str | None  # what the inspector may s3:GetObject (None without a CRL)
    environment: dict[str, pulumi.Input[str]]  # the inspector's CRL_* variables (empty without a CRL)

    def __init__(self, name: str, args: RevocationListArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("iotmr:regional:RevocationList", name, None, opts)
        ctx = args.context
        self.bucket_name = ctx.names.crl_bucket(ctx.region, ctx.account_id)
        self.bucket = private_bucket(f"{name}-bucket", bucket_name=self.bucket_name, parent=self)
        self.object, self.object_arn, self.environment = None, None, {}
        if args.crl_file is not None:
            self.object = aws.s3.BucketObjectv2(
                f"{name}-object",
                bucket=self.bucket.id,
                key=CRL_KEY,
                source=pulumi.FileAsset(str(args.crl_file)),
                content_type=CRL_CONTENT_TYPE,
                server_side_encryption="AES256",
                opts=pulumi.ResourceOptions(parent=self.bucket),
            )
            self.object_arn = f"arn:aws:s3:::{self.bucket_name}/{CRL_KEY}"
            self.environment = {
                "CRL_BUCKET": self.bucket.bucket,
                "CRL_KEY": CRL_KEY,
                "CRL_ISSUER_CERTIFICATE": args.ca_certificate_pem,
            }
        self.register_outputs({"crlBucket": self.bucket.bucket, "crlPublished": args.crl_file is not None})
