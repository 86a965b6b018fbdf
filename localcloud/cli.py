"""``python -m localcloud``: the local cloud's commands (argparse; output with rich).

- ``up``: deploy both shipped stacks into the local cloud, print what was created per region; ``up --serve``
  [``--provisioning jitr|jitp|fleet[,..]``] then serves their MQTT endpoints (see ``localcloud.serve``).
- ``enrol SERIAL...``: enrol serials into the local cloud a running ``up --serve`` holds (``localcloud.enrol``).
- ``demo``: the whole system end to end (see ``localcloud.demo``).
- ``bench --devices N``: onboarding throughput and cost figures (see ``localcloud.bench``).
- ``storm --devices N --rate R`` / ``capacity --devices N --regions …``: onboarding storms in simulated time under
  AWS quotas, and the capacity planner (``localcloud.storm``).
- ``preview STACK [--policy-pack DIR]``: run the program under mocks and the policy pack
  (``localcloud.preview``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _whole_number(minimum: int, requirement: str):
    """An argparse type: a whole number of at least ``minimum`` (``requirement`` says so)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be {requirement}")
        return value
    return parse


_positive = _whole_number(1, "at least 1")
_non_negative = _whole_number(0, "0 or more")


def _port(text: str) -> int:
    value = _non_negative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: give 0-65535 (0 = any free port)")
    return value


def _state_dir(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file: give a folder (made if missing) for the local PKI")
    return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m localcloud",
                                     description="The offline cloud: deploy and exercise the real program.")
    parser.add_argument("--state-dir", type=_state_dir, default=None,
                        help="where the local PKI is kept (default: <project>/.localcloud)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser("up", help="deploy both stacks into the local cloud and list what was created")
    up.add_argument("--serve", action="store_true", help="then serve each region's MQTT endpoint until Ctrl-C")
    up.add_argument("--ports", nargs="+", metavar="REGION=PORT", help="endpoint ports (default 8883, 8884, …)")
    up.add_argument("--resolver-port", type=_port, default=1080,
                    help="the domain's socks5h resolver (default 1080; 0 = any free port)")
    up.add_argument("--aws-port", type=_port, default=4566,
                    help="with --serve: every region's AWS APIs on this loopback port, as LocalStack (default 4566; "
                         "0 = any free port)")
    up.add_argument("--provisioning", metavar="MODES", default=None,
                    help="with --serve: deploy this provisioning (config key provisioning: jitr, jitp, fleet, or "
                         "fleet,jitr; default: the stacks' own) and print the commands that work for it")
    enrol = commands.add_parser("enrol", help="enrol serials into the cloud a running `up --serve` holds (fleet "
                                "provisioning: each device's signing key and allow-list entry)")
    enrol.add_argument("serials", nargs="+", metavar="SERIAL", help="the devices' serials (thing names)")
    enrol.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the server (default 30)")
    commands.add_parser("demo", help="deploy, onboard devices, publish telemetry, show everything per region")
    dashboard = commands.add_parser("dashboard", help="draw REGION's CloudWatch dashboard as a PNG, from a running "
                                    "`up --serve`'s metrics (its AWS endpoint) or AWS's (localcloud.dashboard)")
    dashboard.add_argument("region", metavar="REGION", help="the dashboard's region, e.g. eu-west-1")
    dashboard.add_argument("--png", type=Path, required=True, metavar="FILE", help="where to write the picture")
    dashboard.add_argument("--endpoint-url", default=None, metavar="URL",
                           help="the CloudWatch endpoint, e.g. up --serve's http://127.0.0.1:4566 (default: "
                                "AWS_ENDPOINT_URL, else AWS)")
    dashboard.add_argument("--name", default=None, help="the dashboard's name (default: the one named for REGION)")
    dashboard.add_argument("--minutes", type=_positive, default=30, help="how far back (default 30)")
    dashboard.add_argument("--period", type=_positive, default=60, help="seconds per datapoint (default 60)")
    bench = commands.add_parser("bench", help="onboard N devices and report throughput and per-device costs")
    bench.add_argument("--devices", type=_positive, required=True, help="devices to onboard")
    bench.add_argument("--regions", nargs="+", default=None,
                       help="regions devices first connect to (default: every deployed region)")
    bench.add_argument("--messages", type=_non_negative, default=1, help="telemetry messages per device (default 1)")
    bench.add_argument("--seed", type=int, default=7, help="random seed for first regions (default 7)")
    bench.add_argument("--batch", type=_positive, default=500,
                       help="devices connecting before the cloud settles (default 500)")
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    from localcloud.storm.commands import add_parsers

    add_parsers(commands, _positive)
    preview = commands.add_parser("preview", help="preview a stack under mocks with the policy pack")
    preview.add_argument("stack", help="stack name, e.g. eu-west-1")
    preview.add_argument("--policy-pack", default="policy", help="policy pack folder (default: policy)")
    return parser


def cmd_up(console: Console, state_dir: Path | None) -> int:
    from localcloud.cloud import LocalCloud

    with console.status("Deploying the shipped stacks into the local cloud…"):
        cloud = LocalCloud(state_dir=state_dir)
        with cloud:
            deployments = cloud.deploy()
    for name, deployment in deployments.items():
        resources = [r for r in deployment.run.resources if r.custom]
        table = Table(title=f"stack {name} → {deployment.stack.region}: {len(resources)} resources",
                      title_justify="left")
        table.add_column("type")
        table.add_column("count", justify="right")
        table.add_column("physical ids")
        by_type: dict[str, list[str]] = {}
        for resource in resources:
            by_type.setdefault(resource.type, []).append(resource.id)
        for type_, ids in sorted(by_type.items()):
            shown = ", ".join(i.rsplit(":", 1)[-1] if i.startswith("arn:") else i for i in ids)
            table.add_row(type_, str(len(ids)), shown if len(shown) < 160 else shown[:157] + "…")
        console.print(table)
        exports = Table(title=f"stack {name}: exports", title_justify="left")
        exports.add_column("output")
        exports.add_column("value")
        for key, value in sorted(deployment.outputs.items()):
            exports.add_row(key, value if isinstance(value, str) else json.dumps(value))
        console.print(exports)
    console.print(f"[green]Deployed {len(deployments)} stacks ({', '.join(deployments)}).[/green] "
                  "The local cloud lives in this process only; `python -m localcloud demo` shows it working.")
    return 0


def cmd_preview(stack: str, policy_pack: str) -> int:
    try:
        preview = importlib.import_module("localcloud.preview")
    except ModuleNotFoundError as error:
        if error.name != "localcloud.preview":
            raise
        print("localcloud.preview is not available yet (localcloud/preview.py is missing)", file=sys.stderr)
        return 2
    result = preview.main(stack, policy_pack)
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    if args.command == "up" and args.serve:
        from localcloud import serve

        return serve.main(console, args.state_dir, args.ports, args.resolver_port, provisioning=args.provisioning,
                          aws_port=args.aws_port)
    if args.command == "up" and args.provisioning is not None:
        print("error: --provisioning goes with --serve (up --serve --provisioning MODES)", file=sys.stderr)
        return 2
    if args.command == "enrol":
        from localcloud import enrol

        return enrol.main(args.state_dir, args.serials, timeout_s=args.timeout)
    if args.command == "up":
        return cmd_up(console, args.state_dir)
    if args.command == "dashboard":
        from localcloud import dashboard

        return dashboard.main(args.region, args.png, endpoint_url=args.endpoint_url, name=args.name,
                              minutes=args.minutes, period=args.period)
    if args.command == "demo":
        from localcloud import demo

        demo.run(console, state_dir=args.state_dir)
        return 0
    if args.command == "bench":
        from localcloud import bench
        from localcloud.cloud import LocalCloudError

        try:
            return bench.main(devices=args.devices, regions=args.regions, messages=args.messages, seed=args.seed,
                              batch=args.batch, as_json=args.json, console=console, state_dir=args.state_dir)
        except LocalCloudError as error:  # e.g. --regions not deployed: said before anything is deployed
            print(f"error: {error}", file=sys.stderr)
            return 2
    if args.command in ("storm", "capacity"):
        from localcloud.storm import commands

        return commands.cmd_storm(args, console) if args.command == "storm" else commands.cmd_capacity(args, console)
    if args.command == "preview":
        return cmd_preview(args.stack, args.policy_pack)
    raise AssertionError(args.command)
