"""Where a command acts: boto3 clients per (service, region), the account, and our names and ARNs there.

State machine ARNs are *built* (``arn:<partition>:states:<region>:<account>:stateMachine:<name>``)
from the caller's account and partition (one ``sts:GetCallerIdentity``, allowed to every principal)
rather than found with ``ListStateMachines``: the names are fixed by ``contract.resources.Names``, so
building costs no paginated listing of every machine in the account, needs no ``states:List*``
permission, and cannot pick a same-named machine of another application. A machine that is not
deployed shows up at ``StartExecution`` as ``StateMachineDoesNotExist``, which the commands report.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from contract.resources import Names

#: ``(service, region) -> boto3 client``; tests and the CLI build one from a Session.
ClientFactory = Callable[[str, str], Any]
SessionOrFactory = boto3.Session | ClientFactory | None

DEFAULT_APPLICATION = "multi-region-iot"
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")


def client_factory(source: SessionOrFactory = None, endpoint_url: str | None = None) -> ClientFactory:
    """A caching factory from a boto3 Session (default: a new default session) or an existing factory.

    ``endpoint_url`` sends every client's calls there (``--endpoint-url``, e.g. the local cloud's
    ``http://127.0.0.1:4566``); without it boto3 resolves the endpoint itself, honouring ``AWS_ENDPOINT_URL`` and the
    profile's ``endpoint_url`` ("Service-specific endpoints", AWS SDKs and Tools Reference Guide:
    https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html)."""
    if source is not None and not isinstance(source, boto3.Session):
        return source
    session = source or boto3.Session()
    cache: dict[tuple[str, str], Any] = {}

    def make(service: str, region: str) -> Any:
        key = (service, region)
        if key not in cache:
            cache[key] = session.client(service, region_name=region, endpoint_url=endpoint_url)
        return cache[key]

    return make


@dataclass(frozen=True)
class Scope:
    """One region of one application in one account: physical names and ARNs a command needs."""

    region: str
    names: Names
    account_id: str
    partition: str
    clients: ClientFactory

    def client(self, service: str) -> Any:
        return self.clients(service, self.region)

    def state_machine_arn(self, name: str) -> str:
        return f"arn:{self.partition}:states:{self.region}:{self.account_id}:stateMachine:{name}"

    @property
    def replicate_arn(self) -> str:
        return self.state_machine_arn(self.names.replication_state_machine)

    @property
    def decommission_arn(self) -> str:
        return self.state_machine_arn(self.names.decommission_state_machine)

    def certificate_arn(self, certificate_id: str) -> str:
        return f"arn:{self.partition}:iot:{self.region}:{self.account_id}:cert/{certificate_id}"


def scope(source: SessionOrFactory, region: str, application: str = DEFAULT_APPLICATION) -> Scope:
    """Resolve the account and partition of the caller (``sts:GetCallerIdentity`` in ``region``)."""
    clients = client_factory(source)
    identity = clients("sts", region).get_caller_identity()
    partition = identity["Arn"].split(":")[1]
    return Scope(region=region, names=Names(application), account_id=identity["Account"], partition=partition,
                 clients=clients)


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError (``""`` for anything else)."""
    response = getattr(error, "response", None) or {}
    return str((response.get("Error") or {}).get("Code", ""))
