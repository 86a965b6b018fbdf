"""``python -m ops COMMAND``: operator commands against AWS (or the local cloud), rich tables or ``--json``.

- ``backfill REGION [--rate R] [--wait]``: replay ACTIVE inventory items into REGION (``ops.backfill``).
- ``redrive REGION [--discard-batch-failures]``: empty REGION's dead-letter queue (``ops.redrive``).
- ``reconcile REGION [--repair] [--retry-tag T]``: inventory vs IoT registry drift (``ops.reconcile``).
- ``detach-all REGION [--yes] [--wait-executions]``: detach the device policy from every certificate, after the
  region's executions end (``ops.detach``).
- ``conformance REGION [--yes] [--local]``: probe what the local cloud assumes about AWS (``ops.conformance``).
- ``trace THING [--regions R ...]``: one device's story in every region and a verdict per region (``ops.trace``).
- ``status [--regions R ...]``: the fleet at a glance, one row per region (``ops.status``).

Common options (before or after COMMAND): ``--application`` (default ``multi-region-iot``),
``--profile`` (a named AWS profile; default: boto3's default session), ``--json``, ``--endpoint-url URL`` (every AWS
call to URL: the local cloud's ``http://127.0.0.1:4566`` while ``python -m localcloud up --serve`` runs).
Exit status: 0 done, 1 done but something needs attention (failures, drift left, messages left),
2 bad input or a missing resource/credentials (the message names the problem and the fix).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from contract.names import application_refusal
from ops import render
from ops.clients import DEFAULT_APPLICATION, REGION_PATTERN, ClientFactory, client_factory
from ops.errors import OpsError
from ops.ratelimit import ATTACH_POLICY_TPS, DEFAULT_RATE


def _region(text: str) -> str:
    if not REGION_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an AWS region name; pass one like eu-west-1 or us-west-2")
    return text


def _application(text: str) -> str:
    """Exactly the applications the program accepts (contract/names.py: the stack's `application` config)."""
    why = application_refusal(text)
    if why:
        raise argparse.ArgumentTypeError(f"{text!r} is not an application name: it {why}, as in the stack's "
                                         f"`application` config (default {DEFAULT_APPLICATION})")
    return text


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of starts per second (e.g. 5)") from None
    if not 0 < value <= ATTACH_POLICY_TPS:
        raise argparse.ArgumentTypeError(
            f"{value:g} is out of range: use more than 0 and at most {ATTACH_POLICY_TPS:g} per second (AttachPolicy's "
            f"quota, shared with onboarding devices; default {DEFAULT_RATE:g})")
    return value


def _endpoint_url(text: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an endpoint URL: give scheme and host, e.g. "
                                         "http://127.0.0.1:4566")
    return text


def _common(suppress: bool) -> argparse.ArgumentParser:
    """Options accepted before and after COMMAND; after it they override (defaults suppressed there)."""
    parser = argparse.ArgumentParser(add_help=False)
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    parser.add_argument("--application", type=_application, default=default(DEFAULT_APPLICATION),
                        help=f"the stacks' application name (default {DEFAULT_APPLICATION})")
    parser.add_argument("--profile", default=default(None), help="AWS profile (default: boto3's default session)")
    parser.add_argument("--json", action="store_true", default=default(False), help="print one JSON object")
    parser.add_argument("--endpoint-url", type=_endpoint_url, default=default(None), metavar="URL",
                        help="send every AWS call to URL, e.g. the local cloud's http://127.0.0.1:4566 (default: "
                             "AWS's endpoints, or AWS_ENDPOINT_URL when set)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ops", parents=[_common(False)],
                                     description="Operator commands for the multi-region IoT system.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common(True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, parents=[common])
        sub.add_argument("region", type=_region, metavar="REGION", help="the region to act on, e.g. us-west-2")
        return sub

    rate_help = f"starts per second (default {DEFAULT_RATE:g}, at most {ATTACH_POLICY_TPS:g})"
    backfill = command("backfill", "start REGION's replicate machine for every ACTIVE inventory item")
    backfill.add_argument("--rate", type=_rate, default=DEFAULT_RATE, help=rate_help)
    backfill.add_argument("--wait", action="store_true", help="wait for the executions and report their statuses")
    redrive = command("redrive", "empty REGION's dead-letter queue back into the state machines")
    redrive.add_argument("--rate", type=_rate, default=DEFAULT_RATE, help=rate_help)
    redrive.add_argument("--discard-batch-failures", action="store_true",
                         help="delete pipe batch-failure messages (after running backfill or reconcile --repair)")
    reconcile = command("reconcile", "report drift between REGION's inventory replica and IoT registry")
    reconcile.add_argument("--repair", action="store_true", help="start the machine that converges each drifted thing")
    reconcile.add_argument("--rate", type=_rate, default=DEFAULT_RATE, help=rate_help)
    reconcile.add_argument("--retry-tag", default="", help="new execution names for a drift already repaired once")
    allow = commands.add_parser("allow-list", help="enrol devices (unprovisioned) on the allow-list, in every region",
                                parents=[common])
    actions = allow.add_subparsers(dest="action", required=True, metavar="ACTION")
    imports = actions.add_parser("import", help="enrol every device of FILE (JSON lines: thingName, verifyingKey)",
                                 parents=[common])
    imports.add_argument("region", type=_region, metavar="REGION", help="any region of the stacks, e.g. eu-west-1")
    imports.add_argument("file", type=Path, metavar="FILE")
    add = actions.add_parser("add", help="enrol one device: its thing name and its PEM public (verifying) key",
                             parents=[common])
    add.add_argument("region", type=_region, metavar="REGION", help="any region of the stacks, e.g. eu-west-1")
    add.add_argument("thing", metavar="THING")
    add.add_argument("key", type=Path, metavar="KEY", help="PEM file of the device's verifying (public) key")
    reset = actions.add_parser("reset", parents=[common], help="let an enrolled device provision again (it lost its "
                               "key; an attempt left something behind); its next certificate replaces the old one")
    reset.add_argument("region", type=_region, metavar="REGION", help="any region of the stacks, e.g. eu-west-1")
    reset.add_argument("thing", metavar="THING")
    reset.add_argument("--yes", action="store_true", help="really reset (without it: show what would be done)")
    detach = command("detach-all", "detach the device policy from every certificate (before pulumi destroy)")
    detach.add_argument("--yes", action="store_true", help="really detach (without it: list the targets only)")
    detach.add_argument("--rate", type=_rate, default=DEFAULT_RATE, help="detaches per second (default 5)")
    detach.add_argument("--wait-executions", action="store_true",
                        help="first wait (up to 15 min) until no state machine execution of the application runs in "
                             "REGION (the region removal: README, 'Removing a region')")
    regions_help = "the regions to look in (default: every replica of the application's inventory table)"
    trace = commands.add_parser("trace", parents=[common], help="one device's story in every region, oldest first, "
                                "and a verdict per region with the command that fixes it (ops.trace)")
    trace.add_argument("thing", metavar="THING", help="the device's thing name")
    trace.add_argument("--regions", nargs="+", type=_region, metavar="R", help=regions_help)
    status = commands.add_parser("status", parents=[common], help="the fleet at a glance, one row per region "
                                 "(ops.status)")
    status.add_argument("--regions", nargs="+", type=_region, metavar="R", help=regions_help)
    from ops.conformance.cli import add_parser as add_conformance

    add_conformance(commands, common)
    return parser


def _clients(profile: str | None, endpoint_url: str | None = None) -> ClientFactory:
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    except ProfileNotFound:
        raise OpsError(f"no AWS profile named {profile!r}: list yours with `aws configure list-profiles`") from None
    return client_factory(session, endpoint_url)


def _session_region(profile: str | None) -> str | None:
    """The region of the profile (or of boto3's default session): where ``trace``/``status`` look for the
    inventory table's replicas first."""
    import boto3

    try:
        return (boto3.Session(profile_name=profile) if profile else boto3.Session()).region_name
    except Exception:  # noqa: BLE001 - only a hint; _clients reports a bad profile
        return None


def run(args: argparse.Namespace, clients: ClientFactory) -> Any:
    """Run the parsed command; returns its report."""
    if args.command in ("trace", "status"):
        from ops import status, trace

        where = {"regions": args.regions, "application": args.application, "profile": args.profile,
                 "seeds": [_session_region(args.profile)]}
        if args.command == "trace":
            return trace.trace(clients, args.thing, **where)
        return status.status(clients, **where)
    from ops import allow_list, backfill, detach, reconcile, redrive

    if args.command == "allow-list":
        if args.action == "reset":
            return allow_list.reset(clients, args.region, args.thing, application=args.application, confirm=args.yes)
        try:
            entries = allow_list.read_entries(args.action, file=getattr(args, "file", None),
                                              thing=getattr(args, "thing", None), key_file=getattr(args, "key", None))
        except allow_list.EntryError as error:
            raise OpsError(f"{error}; see docs/operations.md (allow-list)") from None
        return allow_list.enrol(clients, args.region, entries, application=args.application)
    common = {"application": args.application, "rate": args.rate}
    if args.command == "backfill":
        return backfill.backfill(clients, args.region, wait=args.wait, **common)
    if args.command == "redrive":
        return redrive.redrive(clients, args.region, discard_batch_failures=args.discard_batch_failures, **common)
    if args.command == "reconcile":
        return reconcile.reconcile(clients, args.region, repair=args.repair, retry_tag=args.retry_tag, **common)
    if args.command == "detach-all":
        return detach.detach_all(clients, args.region, confirm=args.yes, wait_executions=args.wait_executions,
                                 **common)
    raise AssertionError(args.command)


_RENDER = {"backfill": render.backfill, "redrive": render.redrive, "reconcile": render.reconcile,
           "detach-all": render.detach, "allow-list": render.allow_list,
           "trace": lambda console, report: report.render(console),
           "status": lambda console, report: report.render(console)}


def main(argv: Sequence[str] | None = None, *, clients: ClientFactory | None = None,
         console: Console | None = None) -> int:
    """Entry point; ``clients`` lets tests pass a factory (else a session from ``--profile``)."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError
    from rich.markup import escape

    args = build_parser().parse_args(argv)
    if args.command == "conformance":  # its own flow: a plan, a confirmation, exit 1 on any disagreement
        from ops.conformance.cli import main as conformance

        return conformance(args, console)
    console = console or Console()
    try:
        report = run(args, clients or _clients(args.profile, args.endpoint_url))
    except OpsError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")  # the message may quote input holding [brackets]
        return 2
    except NoCredentialsError:
        console.print("[red]error:[/red] no AWS credentials found: configure them (`aws configure`, AWS_PROFILE) "
                      "or pass --profile NAME")
        return 2
    except NoRegionError:  # pragma: no cover - every client gets the REGION argument
        console.print("[red]error:[/red] no region: pass REGION")
        return 2
    except EndpointConnectionError as error:
        console.print(f"[red]error:[/red] cannot reach AWS ({error}): check the network and that REGION exists")
        return 2
    except ClientError as error:  # a refusal that stops the whole command (per-item errors are in the report)
        details = error.response.get("Error", {})
        console.print(f"[red]error:[/red] AWS refused {error.operation_name}: {details.get('Code')}: "
                      f"{details.get('Message')}; check the credentials (--profile) and their permissions in "
                      f"{getattr(args, 'region', None) or 'the regions'}")
        return 2
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    else:
        _RENDER[args.command](console, report)
    return 0 if report.ok else 1
