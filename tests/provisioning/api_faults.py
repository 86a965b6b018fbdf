"""Faults for the provisioning API's tests (issue 21): an invocation that dies, calls AWS refuses for a while, a
response lost on the way back, and the API in-process behind ``urllib`` for the device tool.

``Died`` is a ``BaseException``: the service catches ``Exception`` to roll back, so raising ``Died`` is what Lambda
does to an invocation at its timeout (the code after it never runs, no rollback, no release).
"""
from __future__ import annotations

import io
import json
import time
import urllib.error
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterator

import pytest

from functions.provisioning_api import service
from functions.provisioning_api.request import BadRequest, from_event
from tests.provisioning import kit


class Died(BaseException):
    """The invocation was stopped here (Lambda timeout, out of memory): nothing after this line runs."""


class Faulty:
    """A client whose operations fail as ``rules`` say: ``{operation: callable(kwargs) -> exception or None}``; an
    operation without a rule (or whose rule answers None) reaches the real client."""

    def __init__(self, client: Any, **rules: Callable[[dict[str, Any]], BaseException | None]):
        self._client, self._rules, self.calls = client, rules, []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._rules:
            return attribute

        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            error = self._rules[name](kwargs)
            if error is not None:
                raise error
            return attribute(**kwargs)
        return call


def always(error: BaseException) -> Callable[[dict[str, Any]], BaseException]:
    return lambda kwargs: error


def first(count: int, error: BaseException) -> Callable[[dict[str, Any]], BaseException | None]:
    """Fail the first ``count`` calls, then let them through (a refusal that lasts a while)."""
    left = [count]

    def rule(kwargs: dict[str, Any]) -> BaseException | None:
        if left[0] > 0:
            left[0] -= 1
            return error
        return None
    return rule


def still_attached(iot: Any, thing: str) -> BaseException:
    """What AWS answers DeleteThing while a principal is attached or its detach is still propagating
    (docs/emulator.md section 2)."""
    return iot.exceptions.InvalidRequestException(
        {"Error": {"Code": "InvalidRequestException",
                   "Message": f"Cannot delete. Thing {thing} is still attached to one or more principals"}},
        "DeleteThing")


def clients(account: Any, *, clock: Callable[[], float] = time.time, iot: Any = None,
            dynamodb: Any = None) -> service.Clients:
    """The service's clients for ``account`` with a clock, optional faulty clients, and sleeps that do not sleep."""
    made = account.clients(clock, iot)
    if dynamodb is not None:
        made.dynamodb = dynamodb
    made.sleep = lambda seconds: None  # retries and backoffs happen, instantly
    return made


def call(account: Any, body: dict[str, Any], *, at: float | None = None, iot: Any = None, dynamodb: Any = None,
         source_ip: str = kit.DUBLIN_IP) -> service.Answer:
    """One request through the service at time ``at`` (default now)."""
    request = from_event(kit.event(body, source_ip))
    clock = (lambda: at) if at is not None else time.time
    return service.provision(request, account.settings(), clients(account, clock=clock, iot=iot, dynamodb=dynamodb))


@dataclass
class _Response:
    status: int
    data: bytes

    def read(self) -> bytes:
        return self.data

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


@dataclass
class InProcessApi:
    """The provisioning API behind ``urllib.request.urlopen`` (monkeypatched), answering through ``service``.

    ``lose`` responses are lost after the service answered (ConnectionResetError, what the device sees when the
    connection drops on the way back); ``die`` requests kill the device after the service answered (``Died``);
    ``forced`` answers ``(status, body)`` are given instead of calling the service, first."""

    account: Any
    url: str = "https://provision.iot.example.com/provision"
    lose: int = 0
    die: int = 0
    forced: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    answers: list[service.Answer] = field(default_factory=list)

    def urlopen(self, request: Any, timeout: float | None = None) -> _Response:
        body = json.loads(request.data)
        self.bodies.append(body)
        if self.forced:
            answer = service.Answer(*self.forced.pop(0))
        else:
            try:
                parsed = from_event(kit.event(request.data.decode()))
            except BadRequest as error:
                answer = service.Answer(400, {"error": "BadRequest", "message": str(error)})
            else:
                answer = service.provision(parsed, self.account.settings(), clients(self.account))
        self.answers.append(answer)
        if self.die:
            self.die -= 1
            raise Died("the device was switched off after the API answered")
        if self.lose:
            self.lose -= 1
            raise ConnectionResetError("the response was lost on the way back")
        data = json.dumps(answer.body).encode()
        if answer.status >= 400:
            raise urllib.error.HTTPError(request.full_url, answer.status, "refused", {}, io.BytesIO(data))
        return _Response(answer.status, data)


#: The local cloud's fixes that make moto's IoT registry answer as AWS does where these tests depend on it
#: (docs/emulator.md sections 1-5): CreateThing of an existing name with other attributes is refused, DeleteThing
#: is refused while a principal is attached or its detach still propagates, DeleteCertificate refuses ACTIVE or
#: attached certificates, REVOKED is final, DetachPolicy from a missing target.
AWS_LIKE_IOT = ("iot_create_thing", "iot_detach_propagation", "iot_delete_thing", "iot_delete_certificate",
                "iot_certificate_status", "iot_detach_policy")


@pytest.fixture
def aws_like() -> Iterator[None]:
    from localcloud.fixes import patched

    with patched(AWS_LIKE_IOT):
        yield
