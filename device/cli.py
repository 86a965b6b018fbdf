"""``python -m device COMMAND``: argparse over the subcommand modules listed in :data:`SUBCOMMANDS`.

A new subcommand (e.g. ``provision``) is a module with ``register(subparsers)`` and one line here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from device import commands, fleet, provision
from device.inputs import InputError
from device.session import Lost, Refused

SUBCOMMANDS = [
    commands.register,  # connect, publish, listen, run
    provision.register,  # provision (the provisioning API)
    fleet.register,  # fleet-provision (fleet provisioning by claim, MQTT)
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m device", description="A device: MQTT over TLS 1.3 to the custom "
                                     "domain, against AWS IoT Core or the local cloud.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as error:  # bad input (--endpoint, --proxy, files, keys, URL): named before anything is sent
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Refused as refused:
        print(f"error: the endpoint refused the device: {refused.reason}", file=sys.stderr)
        return 1
    except Lost as lost:  # a publish refused (MQTT 5: PUBACK reason code) or the connection closed first
        print(f"error: {lost}", file=sys.stderr)
        return 1
    except OSError as error:  # e.g. a file the command writes (--out): named, not a traceback
        where = f": {error.filename}; check that folder's permissions and free space" if error.filename else ""
        print(f"error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
