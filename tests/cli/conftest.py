"""Run the CLIs as a user would: ``python -m <cli> ...`` in a subprocess from the repository root.

AWS is never reached: dummy credentials, no config files, and for ``ops`` (the one CLI that calls AWS) every AWS
endpoint pointed at a closed loopback port, so a command that gets past its input checks fails fast instead of calling
out (and the test sees it did). ``localcloud`` runs moto in its own process, as a user's run does.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout and stderr with line wrapping undone (rich wraps at 80 columns when not on a terminal)."""
        return " ".join((self.out + " " + self.err).split())

    def assert_no_traceback(self) -> None:
        assert "Traceback" not in self.err and "Traceback" not in self.out, self.err or self.out


def run(*argv: str, timeout: float = 120, cwd: Path = ROOT) -> Result:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1"})
    if argv[0] == "ops":
        env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    done = subprocess.run([sys.executable, "-m", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def pki_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PKI folder (python -m pki init) with two devices, a and b."""
    import pki

    out = tmp_path_factory.mktemp("cli") / "pki-out"
    pki.init_pki(out, "iot.example.com")
    pki.issue_device_certificates(out, ["dev-a", "dev-b"])
    return out
