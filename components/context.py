"""What every component of one region shares: made once per stack, passed to each component instead of the same
handful of ``Args`` fields repeated in each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.config import StackSettings
from components.naming import Names


@dataclass(frozen=True)
class RegionContext:
    """One stack's region and the stack-wide choices its components apply alike."""

    names: Names  # every physical name derives from the application (components/naming.py)
    region: str
    account_id: str
    log_retention_days: int  # of every log group the region's components create
    state_machine_log_level: str  # of every state machine
    alarm_topic_arn: str | None  # notified by every alarm (None: alarms without notifications)
    # Config `retiring` (README, "Removing a region"): nothing may attach the device policy here any more, so no DNS
    # record (device endpoint, provisioning API), CA auto-registration and the JITR rule off, the fleet template
    # disabled and the replication pipe stopped.
    retiring: bool
    # Where and how the region's Lambda functions are built (components/function.py).
    lambda_architecture: str
    functions_dir: Path
    build_cache_dir: Path

    @classmethod
    def of(cls, settings: StackSettings, account_id: str, functions_dir: Path, build_cache_dir: Path) -> RegionContext:
        return cls(names=Names(settings.application), region=settings.region, account_id=account_id,
                   log_retention_days=settings.log_retention_days,
                   state_machine_log_level=settings.state_machine_log_level, alarm_topic_arn=settings.alarm_topic_arn,
                   retiring=settings.retiring, lambda_architecture=settings.lambda_architecture,
                   functions_dir=functions_dir, build_cache_dir=build_cache_dir)
