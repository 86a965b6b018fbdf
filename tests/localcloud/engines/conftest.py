"""Fixtures for the engine tests: a fresh moto world per test, two regions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from engine_support import PRIMARY


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, fake credentials, account-id endpoints off (DescribeStream needs it)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", PRIMARY)
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    with mock_aws():
        yield
