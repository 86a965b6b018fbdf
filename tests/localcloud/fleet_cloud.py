"""The fleet deployment the fleet test modules share the shape of: provisioning ``fleet,jitr`` with a claim issued,
under AS_THE_DESIGN_NEEDS (the register rows fleet provisioning depends on today: localcloud/assumptions.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localcloud.assumptions import AS_THE_DESIGN_NEEDS
from localcloud.cloud import LocalCloud
from pki.claim import issue_claim


@contextmanager
def fleet_cloud(state_dir: Path) -> Iterator[LocalCloud]:
    """Both stacks deployed with fleet provisioning and JITR, the claim issued into the cloud's PKI."""
    with LocalCloud(state_dir=state_dir, config_overrides={"provisioning": "fleet,jitr"},
                    assumptions=AS_THE_DESIGN_NEEDS) as cloud:
        issue_claim(cloud.ensure_pki())
        cloud.deploy()
        yield cloud


def claim_pem(cloud: LocalCloud) -> str:
    """The claim certificate the deployment was given."""
    return (cloud.pki_dir / "claim" / "claim.crt").read_text()
