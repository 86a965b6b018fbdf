"""Pulumi mocks that create every resource of the real program in moto (the local cloud's deployer).

``Deployer.create`` receives one registered resource (type token, logical name, engine camelCase inputs) and hands
it to the creator registered for its type token (``localcloud/deploy/registry.py``; one module per service beside
this one), in the resource's region: the stack's ``aws:region``, or the resource's own ``region`` input. The creator
answers with the real ids and ARNs moto assigned plus the output properties the program reads.

A resource type without a creator is an error naming the type (``UnsupportedResource``): a deploy must never
pretend something exists that the local cloud did not make.

Creation runs under one lock: the Pulumi SDK registers resources from worker threads and moto's backends are plain
dicts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi

from localcloud.mockrun import DEFAULT_ACCOUNT, CloudMocks, session_context

from .common import client
from .registry import CREATORS, UnsupportedResource, creator_for

FUNCTIONS_PACKAGE = "functions"


@dataclass
class Created:
    """One resource the deployer made: its type, logical name, region and physical id."""

    type: str
    name: str
    region: str
    id: str


@dataclass
class Deployer(CloudMocks):
    """``CloudMocks`` whose ``create`` makes each resource in moto (inside an active ``mock_aws``).

    ``on_global_table(name, home_region, replica_regions)`` wires a table with replicas into the
    global-table engine and must create the replicas (``LocalCloud`` passes the engine's
    ``register``). ``functions_package`` names the importable package holding the Lambda
    handlers (``functions/``), so ``certificate_inspector.handler.handler`` runs as
    ``functions.certificate_inspector.handler:handler`` in-process.
    """

    on_global_table: Callable[[str, str, list[str]], Any] | None = None
    functions_package: str = FUNCTIONS_PACKAGE
    account: str = DEFAULT_ACCOUNT
    created: list[Created] = field(default_factory=list)
    _endpoints: dict[str, str] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        CloudMocks.__init__(self, {}, account_id=self.account)

    # -- CloudMocks ------------------------------------------------------------------------
    def create(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        creator = creator_for(args.typ)
        if creator is None:
            raise UnsupportedResource(
                f"the local cloud cannot create resources of type {args.typ} (resource {args.name!r}); "
                f"register a creator for it in localcloud/deploy/ (@creates({args.typ!r}); "
                f"known types: {len(CREATORS)})")
        inputs = dict(args.inputs)
        region = inputs.get("region") or self.region
        with self._lock:
            id_, state = creator(self, args, inputs, region)
        self.created.append(Created(args.typ, args.name, region, id_))
        return id_, state

    def invoke(self, token: str, args: dict) -> dict:
        region = args.get("region") or self.region
        with self._lock:
            match token:
                case "aws:index/getCallerIdentity:getCallerIdentity":
                    identity = client("sts", region).get_caller_identity()
                    return {"accountId": identity["Account"], "arn": identity["Arn"], "userId": identity["UserId"],
                            "id": identity["Account"]}
                case "aws:iam/getSessionContext:getSessionContext":
                    return session_context(args["arn"])
                case "aws:iot/getEndpoint:getEndpoint":
                    # moto invents a new host per call; AWS answers the same one: keep the first.
                    if region not in self._endpoints:
                        self._endpoints[region] = client("iot", region).describe_endpoint(
                            endpointType=args.get("endpointType") or "iot:Data-ATS")["endpointAddress"]
                    return {"endpointAddress": self._endpoints[region], "id": region}
        raise UnsupportedResource(f"the local cloud does not answer the invoke {token}; "
                                  "add it to Deployer.invoke in localcloud/deploy/deployer.py")

    def created_in(self, region: str) -> list[Created]:
        return [c for c in self.created if c.region == region]
