"""The ``storm`` and ``capacity`` commands of ``python -m localcloud`` (arguments, output; exit 2 on bad input)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def add_parsers(commands: Any, positive: Any) -> None:
    storm = commands.add_parser("storm", help="an onboarding storm in simulated time under AWS quotas")
    storm.add_argument("--devices", type=positive, required=True, help="devices in the storm")
    storm.add_argument("--rate", type=_positive_number, required=True, help="first connections per simulated second")
    storm.add_argument("--regions", nargs="+", default=None, help="regions devices first connect to (default: all)")
    storm.add_argument("--one-region", action="store_true", help="every device first connects to the first region")
    storm.add_argument("--quotas", type=Path, default=None, help="a quota file overriding the AWS defaults")
    storm.add_argument("--replication-lag", type=_positive_number, default=1.0, help="global-table lag, s (default 1)")
    storm.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    storm.add_argument("--plot", type=Path, default=None, help="write a PNG of devices ACTIVE over time here")
    storm.add_argument("--missing-item", choices=("function-error", "undefined"), default="function-error",
                       help="what rule SQL's get_dynamodb() of a missing item gives (default: function-error, as "
                            "re:Post reports; docs/emulator.md, Assumptions register)")
    storm.add_argument("--json", action="store_true", help="print one JSON object")
    capacity = commands.add_parser("capacity", help="drain time, bounding API and cost of onboarding N devices")
    capacity.add_argument("--devices", type=positive, required=True, help="devices to onboard")
    capacity.add_argument("--regions", nargs="+", required=True, help="the regions every device is registered in")
    capacity.add_argument("--quotas", type=Path, default=None, help="a quota file overriding the AWS defaults")
    capacity.add_argument("--target-hours", type=_positive_number, default=None,
                          help="the quota the bounding API needs for this drain time")
    capacity.add_argument("--json", action="store_true", help="print one JSON object")


def _load_quotas(path: Path | None) -> Any:
    from quotas import QuotaFileError, load

    try:
        return load(path)
    except QuotaFileError as error:
        print(f"error: --quotas: {error}", file=sys.stderr)
        return None


def cmd_storm(args: argparse.Namespace, console: Console) -> int:
    from localcloud.assumptions import Assumptions
    from localcloud.cloud import LocalCloudError

    from .run import StormConfig, run_storm

    if _load_quotas(args.quotas) is None:
        return 2
    config = StormConfig(devices=args.devices, rate=args.rate, regions=args.regions, one_region=args.one_region,
                         quotas_file=args.quotas, seed=args.seed, replication_lag_s=args.replication_lag,
                         state_dir=args.state_dir,
                         assumptions=Assumptions(get_dynamodb_missing_item=args.missing_item.replace("-", "_")))
    try:
        if args.json:
            result = run_storm(config)
        else:
            with console.status("storm: deploying, calibrating, simulating…"):
                result = run_storm(config)
    except LocalCloudError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.plot:
        from .plot import plot

        plot(result, args.plot)
    if args.json:
        print(json.dumps(result.as_json()))
    else:
        table = Table(title=f"storm: {result.devices} devices at {result.rate:g}/s", title_justify="left")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in result.as_json().items():
            table.add_row(key, json.dumps(value) if isinstance(value, (dict, list)) else str(value))
        for api, (seconds, region) in sorted(result.bound_per_api.items(), key=lambda kv: -kv[1][0]):
            table.add_row(f"[dim]bound {api}[/dim]", f"[dim]{seconds} s ({region})[/dim]")
        console.print(table)
        if args.plot:
            console.print(f"plot: {args.plot}")
    return 0 if result.lost == 0 and result.stuck == 0 and result.dead_letters == 0 else 1


def cmd_capacity(args: argparse.Namespace, console: Console) -> int:
    from localcloud.cloud import LocalCloud
    from quotas import prices

    from .capacity import plan
    from .run import calibrate

    quotas = _load_quotas(args.quotas)
    if quotas is None:
        return 2
    cloud = LocalCloud(state_dir=args.state_dir)
    with cloud:
        cloud.deploy()
        profile = calibrate(cloud, cloud.load_ca(), cloud.regions, 4)
    result = plan(profile, args.regions, args.devices, quotas, prices(), args.target_hours)
    document = {
        "devices": result.devices, "regions": result.regions,
        "onboarding_s": result.onboarding.seconds, "onboarding_api": result.onboarding.api,
        "onboarding_rate_now": result.onboarding.rate_now, "onboarding_rate_needed": result.onboarding.rate_needed,
        "backfill_s": result.backfill.seconds, "backfill_api": result.backfill.api,
        "backfill_rate_now": result.backfill.rate_now, "backfill_rate_needed": result.backfill.rate_needed,
        "cost_per_million_usd": result.cost_per_million, "cost_total_per_million_usd": result.cost_total_per_million,
        "profile": {"origin": profile.origin, "replica": profile.replica},
    }
    if args.json:
        print(json.dumps(document))
        return 0
    table = Table(title=f"capacity: {result.devices} devices in {', '.join(result.regions)}", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in document.items():
        if key not in ("cost_per_million_usd", "profile"):
            table.add_row(key, str(value))
    for item, usd in result.cost_per_million.items():
        table.add_row(f"$ per million devices: {item}", f"{usd:,.2f}")
    table.add_row("$ per million devices: total", f"{result.cost_total_per_million:,.2f}")
    console.print(table)
    return 0
