"""``python -m ops conformance REGION [--yes] [--json] [--local]``: the command (wired into ``ops.cli``).

Exit status: 0 every probe agrees with the local cloud and everything was deleted; 1 a probe disagrees (or could not
observe), or something could not be deleted; 2 bad input (an unknown region, no credentials, conflicting flags, no
confirmation) named with its fix, before anything is created; 130 interrupted (after cleaning up).
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

CONFIRM = "yes"


class UsageError(Exception):
    """Bad input: the message names the fix (exit 2)."""


@lru_cache(maxsize=1)
def iot_regions() -> dict[str, str]:
    """Every region botocore knows AWS IoT in, by partition (``{region: partition}``)."""
    import boto3

    session = boto3.Session()
    found: dict[str, str] = {}
    for partition in session.get_available_partitions():
        for region in session.get_available_regions("iot", partition_name=partition):
            found[region] = partition
    return found


def iot_region(text: str) -> str:
    """argparse type: a region where botocore knows AWS IoT Core (its endpoints data)."""
    if text not in iot_regions():
        import botocore

        close = sorted(r for r in iot_regions() if r.split("-")[0] == text.split("-")[0])[:6]
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a region where AWS IoT Core is available (botocore {botocore.__version__}'s endpoint "
            f"data); pass one like eu-west-1 or us-west-2{' (or ' + ', '.join(close) + ')' if close else ''}")
    return text


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "conformance", parents=[common],
        help="check, in a sandbox account, what the local cloud assumes about AWS (temporary resources, cents)")
    parser.add_argument("region", type=iot_region, metavar="REGION", help="the region to probe, e.g. eu-west-1")
    parser.add_argument("--yes", action="store_true", help="create the temporary resources without asking")
    parser.add_argument("--local", action="store_true",
                        help="run the same probes against the local cloud (no AWS account, nothing created)")
    # tests: run --local with another answer for an undocumented behaviour, e.g. get_dynamodb_missing_item=undefined
    parser.add_argument("--local-assumption", action="append", default=[], help=argparse.SUPPRESS)


def partner_region(region: str) -> str:
    """Another region of the same partition: a shipped stack's region if there is one, else a well-known one."""
    import yaml

    partition = iot_regions()[region]
    shipped = []
    for path in sorted(Path(__file__).resolve().parents[2].glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        if config.get("aws:region"):
            shipped.append(config["aws:region"])
    candidates = [*shipped, "us-west-2", "eu-west-1", *sorted(iot_regions())]
    return next(r for r in candidates if r != region and iot_regions().get(r) == partition)


def _assumptions(pairs: list[str]) -> Any:
    from localcloud.assumptions import AWS_AS_REPORTED, Assumptions

    if not pairs:
        return AWS_AS_REPORTED
    fields = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        fields[name] = value
    try:
        return Assumptions(**fields)
    except (TypeError, ValueError) as error:
        raise UsageError(f"--local-assumption {pairs}: {error}") from None


def _check(args: argparse.Namespace) -> None:
    if args.local and args.profile:
        raise UsageError("--profile names AWS credentials, which --local does not use: drop --profile, or drop "
                         "--local to probe AWS")
    if args.local_assumption and not args.local:
        raise UsageError("--local-assumption changes the local cloud only: add --local")
    if not args.local and args.json and not args.yes:
        raise UsageError("--json prints only the result, so nothing can be asked: add --yes to create the temporary "
                         "resources (see the plan without --json first)")


def _confirmable(args: argparse.Namespace) -> None:
    if not args.local and not args.yes and not sys.stdin.isatty():
        raise UsageError("nobody can confirm (stdin is not a terminal): add --yes to create the temporary resources")


def _session(profile: str | None) -> Any:
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    except ProfileNotFound:
        raise UsageError(f"no AWS profile named {profile!r}: list yours with `aws configure list-profiles`") from None
    if session.get_credentials() is None:
        raise UsageError("no AWS credentials found: configure them (`aws configure`, AWS_PROFILE, SSO) or pass "
                         "--profile NAME; or run against the local cloud with --local")
    return session


def main(args: argparse.Namespace, console: Console | None = None, *, world: Any = None) -> int:
    """Run the command; ``world`` lets tests pass a prepared world (its mode must match ``--local``)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    from ops.conformance import render, sweep
    from ops.conformance.expectations import expectations
    from ops.conformance.probes import PROBES
    from ops.conformance.resources import Run, new_run_id
    from ops.conformance.runner import run_probes

    console = console or Console(stderr=args.json)
    try:
        _check(args)
        assumptions = _assumptions(args.local_assumption)
        partner = partner_region(args.region)
        if world is None:
            if args.local:
                from ops.conformance.local import LocalWorld

                world = LocalWorld(args.region, partner, assumptions=assumptions)
            else:
                from ops.conformance.world import LiveWorld

                world = LiveWorld(_session(args.profile), args.region, partner)
        _confirmable(args)
        expected = expectations()  # the local cloud as shipped: what --local is held to, and AWS too
        run = Run(new_run_id())
        with world:
            earlier = sweep.find(world, lambda found: found != run.id)
            render.plan(console, world.mode, args.region, world.partner_region, world.account_id, run, PROBES,
                        earlier)
            if world.mode == "live" and not args.yes:
                answer = console.input(f"Create these temporary resources in account {world.account_id}? "
                                       f"Type [bold]{CONFIRM}[/bold] to go on: ")
                if answer.strip().lower() != CONFIRM:
                    console.print("Nothing was created.")
                    return 2
            report = run_probes(world, run, PROBES, expected, earlier=earlier,
                                say=lambda text: console.print(f"[dim]{escape(text)}[/dim]"),
                                on_result=lambda result: render.result(console, result))
    except UsageError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        return 2
    except NoCredentialsError:
        console.print("[red]error:[/red] no AWS credentials found: configure them (`aws configure`, AWS_PROFILE) "
                      "or pass --profile NAME; or use --local")
        return 2
    except EndpointConnectionError as error:
        console.print(f"[red]error:[/red] cannot reach AWS ({escape(str(error))}): check the network and the region")
        return 2
    except ClientError as error:  # before any probe: the identity call or the sweep's first listing
        details = error.response.get("Error", {})
        console.print(f"[red]error:[/red] AWS refused {error.operation_name}: {details.get('Code')}: "
                      f"{escape(str(details.get('Message')))}; check the credentials (--profile) and that they may use IoT, IAM, "
                      f"Lambda, DynamoDB and SQS in {args.region}")
        return 2
    except KeyboardInterrupt:
        console.print("Interrupted before any probe ran: nothing was created.")
        return 130
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    render.report(console, report)
    if report.interrupted:
        return 130
    return 0 if report.ok else 1
