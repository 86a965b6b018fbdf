"""A KMS signing key holding our CA's key, as ImportKeyMaterial would make it (moto cannot import asymmetric material).

In AWS the intermediate CA's key is imported once into a multi-Region asymmetric SIGN_VERIFY key (ECC_NIST_P256),
its replicas receive the same material, and the provisioning function may only ``kms:Sign`` with it
(https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-import.html). Here a moto key of the
same spec is created in each region and its generated material replaced by the PKI folder's intermediate key, so
the function's real ``KmsSigner`` path runs unchanged.
"""
from __future__ import annotations

from typing import Any

import boto3
from cryptography.hazmat.primitives.asymmetric import ec

from localcloud.compat.moto.core import DEFAULT_ACCOUNT_ID as DEFAULT_ACCOUNT

KEY_SPECS = {"secp256r1": "ECC_NIST_P256", "secp384r1": "ECC_NIST_P384"}


def signing_key(region: str, private_key: Any, account: str = DEFAULT_ACCOUNT) -> str:
    """Create the key in ``region`` with ``private_key`` as its material; returns the key ARN."""
    from localcloud.compat.moto.services import kms_backends

    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name not in KEY_SPECS:
        raise ValueError("the local cloud imports EC P-256/P-384 CA keys only (the PKI's default)")
    kms = boto3.client("kms", region_name=region)
    metadata = kms.create_key(KeySpec=KEY_SPECS[private_key.curve.name], KeyUsage="SIGN_VERIFY",
                              Description="the intermediate CA's key (imported material)")["KeyMetadata"]
    kms_backends[account][region].keys[metadata["KeyId"]].private_key.private_key = private_key
    return metadata["Arn"]
