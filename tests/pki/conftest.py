"""Fixtures for the PKI toolkit tests: fresh and shared PKI directories."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `pytest tests/pki` from anywhere must import the pki package
    sys.path.insert(0, str(REPO_ROOT))

import pki  # noqa: E402 - after the sys.path line above

DOMAIN = "iot.example.com"


@pytest.fixture
def pki_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A freshly initialised PKI directory (unencrypted CA keys) for tests that change it."""
    monkeypatch.delenv(pki.PASSPHRASE_ENV, raising=False)
    directory = tmp_path / "pki"
    pki.init_pki(directory, DOMAIN, country="SE")
    return directory


@pytest.fixture(scope="session")
def shared_pki(tmp_path_factory: pytest.TempPathFactory) -> pki.InitResult:
    """One PKI directory for read-only tests (certificate fields, TLS)."""
    directory = tmp_path_factory.mktemp("shared") / "pki"
    return pki.init_pki(directory, DOMAIN, country="SE", passphrase=b"")
