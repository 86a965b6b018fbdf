"""The canary's private key, written into its secret without ever entering Pulumi's state.

pulumi-aws's ``SecretVersion(secret_string_wo=...)`` is write-only in Terraform only: the bridge still writes the
value (encrypted, as a secret) into the state's inputs (pulumi-terraform-bridge issue 3201; PR 3215 marks such
fields secret "until #3201 is implemented"), and the version's read calls ``GetSecretValue`` on every refresh. So
the key is written by this dynamic resource instead. Its inputs, hence all the state holds of it, are:

* ``secretArn``, ``region`` and ``profile`` (``aws:profile`` or nothing): where to write;
* ``keyFile``: the path of ``<pkiDir>/devices/canary-<region>.key`` on the machine that ran the deployment;
* ``publicKeySha256``: the SHA-256 of the key's public half (DER SubjectPublicKeyInfo), nothing secret: a new key
  changes it, so the next ``pulumi up`` writes the new key (``PutSecretValue``, a new version).

The provider reads the file and calls ``PutSecretValue`` with the deploying principal's own credentials (boto3's
default chain, or ``aws:profile``); it never reads the value back (no ``read``: ``pulumi refresh`` keeps the state as
it is), and ``delete`` does nothing (the secret and all its versions go with the Secret resource). ``check`` refuses
a key file that is missing or no longer matches the digest the program computed, so a preview says so.

The provider class is made inside a function so that dill serializes it by value into the resource (a class
importable from a module would be pickled by reference, and the dynamic provider process might not find it:
pulumi/pulumi issue 7453); its methods import what they need themselves for the same reason.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi
from pulumi.dynamic import Resource, ResourceProvider


def public_key_sha256(key_pem: str) -> str:
    """The SHA-256 of the private key's public half (DER SubjectPublicKeyInfo), in hex."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    return hashlib.sha256(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def _writer_class() -> type[ResourceProvider]:
    from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, UpdateResult

    class CanaryKeyWriter(ResourceProvider):
        """PutSecretValue of a PEM file's content; only the file's path and public-key digest are ever stored."""

        @staticmethod
        def _read(props: dict) -> str:
            import hashlib as _hashlib
            from pathlib import Path as _Path

            from cryptography.hazmat.primitives import serialization as _serialization

            pem = _Path(props["keyFile"]).read_text(encoding="ascii")
            public = _serialization.load_pem_private_key(pem.encode(), password=None).public_key().public_bytes(
                _serialization.Encoding.DER, _serialization.PublicFormat.SubjectPublicKeyInfo)
            if _hashlib.sha256(public).hexdigest() != props["publicKeySha256"]:
                raise ValueError(f"{props['keyFile']} changed since the program read it (its public key's digest "
                                 "differs): run the deployment again")
            return pem

        def check(self, _olds: dict, news: dict) -> CheckResult:
            try:
                self._read(news)
            except (OSError, ValueError, TypeError) as error:
                return CheckResult(news, [CheckFailure("keyFile", f"cannot write the canary key from "
                                                                  f"{news.get('keyFile')}: {error}")])
            return CheckResult(news, [])

        @classmethod
        def _put(cls, props: dict) -> str:
            import boto3

            session = boto3.Session(profile_name=props.get("profile") or None, region_name=props["region"])
            return session.client("secretsmanager").put_secret_value(
                SecretId=props["secretArn"], SecretString=cls._read(props))["VersionId"]

        def create(self, props: dict) -> CreateResult:
            version = self._put(props)
            return CreateResult(id_=version, outs={**props, "versionId": version})

        def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
            # The path may differ between machines (CI, a laptop): only the target and the key itself matter.
            replaces = ["secretArn"] if olds.get("secretArn") != news.get("secretArn") else []
            changed = bool(replaces) or olds.get("publicKeySha256") != news.get("publicKeySha256")
            return DiffResult(changes=changed, replaces=replaces, stables=[], delete_before_replace=False)

        def update(self, _id: str, _olds: dict, news: dict) -> UpdateResult:
            return UpdateResult(outs={**news, "versionId": self._put(news)})

        def delete(self, _id: str, _props: dict) -> None:
            """Nothing: the key's versions are deleted with the secret (the Secret resource)."""

    return CanaryKeyWriter


class CanaryKeyVersion(Resource, module="canary", name="KeyVersion"):
    """The canary's key written into ``secret_arn`` from ``key_file`` (see the module docstring)."""

    version_id: pulumi.Output[str]

    def __init__(self, name: str, *, secret_arn: pulumi.Input[str], region: str, key_file: Path,
                 opts: pulumi.ResourceOptions | None = None):
        profile = pulumi.Config("aws").get("profile")
        digest = public_key_sha256(key_file.read_text(encoding="ascii"))
        super().__init__(_writer_class()(), name, {
            "secretArn": secret_arn, "region": region, "profile": profile, "keyFile": str(key_file),
            "publicKeySha256": digest, "versionId": None}, opts)
