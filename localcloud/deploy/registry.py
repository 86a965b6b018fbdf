"""The deployer's creators, one per Pulumi resource type, registered by the type token they handle.

A creator makes one resource in moto and answers ``(physical id, state)``, the state being the inputs plus the
outputs the program reads::

    @creates("aws:iot/thing:Thing")
    def thing(ctx: DeployContext, args: MockResourceArgs, inputs: dict[str, Any], region: str) -> Result: ...

``creates`` refuses a token that already has a creator, so no type has two. ``creator_for`` finds a token's creator;
a Python dynamic resource without its own creator runs its own provider (``creates_any`` registers that fallback
by prefix). ``NOT_CREATED`` lists the types the local cloud deliberately never creates, each with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pulumi

DYNAMIC_TYPE = "pulumi-python:dynamic"  # every Python dynamic resource type starts so

Result = tuple[str, dict[str, Any]]


class UnsupportedResource(Exception):
    """The program declared a resource type (or a shape of one) the local cloud cannot create."""


class DeployContext(Protocol):
    """What creators read from the deployer (``localcloud.deploy.deployer.Deployer``)."""

    account_id: str
    functions_package: str
    on_global_table: Callable[[str, str, list[str]], Any] | None


Creator = Callable[[DeployContext, pulumi.runtime.MockResourceArgs, dict[str, Any], str], Result]

CREATORS: dict[str, Creator] = {}
PREFIX_CREATORS: dict[str, Creator] = {}

# Types the program may register that the deployer never creates, with the reason.
NOT_CREATED: dict[str, str] = {
    "pulumi:pulumi:StackReference": "resolved by CloudMocks.new_resource from the referenced stack's outputs (an "
                                    "earlier deployment), as the engine reads another stack; nothing to create",
}


def creates(*tokens: str) -> Callable[[Creator], Creator]:
    """Register the decorated function as the creator of each token (a second creator for a token is an error)."""

    def register(creator: Creator) -> Creator:
        for token in tokens:
            if token in CREATORS:
                raise ValueError(f"{token} already has a creator ({_where(CREATORS[token])}); "
                                 f"{_where(creator)} would be a second")
            if token in NOT_CREATED:
                raise ValueError(f"{token} is listed in NOT_CREATED; {_where(creator)} cannot create it")
            CREATORS[token] = creator
        return creator

    return register


def creates_any(prefix: str) -> Callable[[Creator], Creator]:
    """Register the fallback creator of every type starting with ``prefix`` that has no creator of its own."""

    def register(creator: Creator) -> Creator:
        if prefix in PREFIX_CREATORS:
            raise ValueError(f"types {prefix}* already have a fallback creator ({_where(PREFIX_CREATORS[prefix])})")
        PREFIX_CREATORS[prefix] = creator
        return creator

    return register


def creator_for(token: str) -> Creator | None:
    """The token's creator, else the fallback of a prefix it starts with, else None."""
    found = CREATORS.get(token)
    if found is not None:
        return found
    return next((c for prefix, c in PREFIX_CREATORS.items() if token.startswith(prefix)), None)


def _where(creator: Creator) -> str:
    return f"{getattr(creator, '__module__', '?')}.{getattr(creator, '__qualname__', creator)}"
