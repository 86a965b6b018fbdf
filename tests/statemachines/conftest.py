"""Fixtures for executing the builders' state machines in moto (two regions, patched by localcloud.fixes)."""
from __future__ import annotations

import pytest

from localcloud.statemachines.certs import TestCA
from localcloud.statemachines.harness import Cloud


@pytest.fixture(scope="session")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def cloud(ca: TestCA):
    with Cloud(ca) as world:
        yield world
