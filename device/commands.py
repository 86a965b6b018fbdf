"""The subcommands: each ``register(subparsers)`` adds its parser and sets ``handler`` (args -> exit code)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from device import telemetry
from device.endpoint import EndpointError, parse_endpoint
from device.inputs import check_tls_identity, non_negative_float, non_negative_int, positive_float, positive_int
from device.session import Identity, Refused, Session, connect_with_backoff


def add_endpoint_arguments(parser: argparse.ArgumentParser) -> None:
    """Where to connect and whom to trust: the options of every command that connects, whatever its identity."""
    parser.add_argument("--endpoint", required=True, help="the custom domain (port 8883) or host:port")
    parser.add_argument("--proxy", help="resolve the domain through socks5h://[LOCATION@]HOST:PORT "
                                        "(the local cloud's DNS answer); default: the system resolver")
    parser.add_argument("--sni", help="TLS server name when --endpoint is an address (the custom domain)")
    parser.add_argument("--ca", type=Path, help="CA the server certificate chains to (default: system store)")
    parser.add_argument("--attempts", type=positive_int, default=8,
                        help="connection attempts before giving up (at least 1; default 8)")


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a command that connects as a provisioned device: the endpoint, and its own certificate."""
    add_endpoint_arguments(parser)
    parser.add_argument("--thing", required=True, help="thing name = MQTT client id = certificate CN")
    parser.add_argument("--cert", type=Path, required=True, help="device certificate (PEM, from python -m pki)")
    parser.add_argument("--key", type=Path, required=True, help="device private key (PEM)")
    parser.add_argument("--mqtt", choices=("3.1.1", "5"), default="3.1.1",
                        help="MQTT version (default 3.1.1); with 5 the endpoint's reason codes are reported")


def _session_factory(args: argparse.Namespace, on_message=None):
    endpoint = parse_endpoint(args.endpoint, sni=args.sni, proxy=args.proxy)
    check_tls_identity(args.cert, args.key, args.ca)  # InputError (exit 2) before the first attempt
    identity = Identity(args.thing, args.cert, args.key, args.ca)
    version = 5 if getattr(args, "mqtt", "3.1.1") == "5" else 4
    return lambda: Session(endpoint, identity, on_message=on_message, mqtt_version=version)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _connect(args: argparse.Namespace, on_message=None) -> Session:
    session, attempts = connect_with_backoff(_session_factory(args, on_message), attempts=args.attempts,
                                             on_refused=lambda n, why, d: _say(f"attempt {n} refused: {why}; "
                                                                               f"retrying in {d:.2f} s"))
    _say(f"connected as {args.thing} after {attempts} attempt(s)")
    return session


def cmd_connect(args: argparse.Namespace) -> int:
    _connect(args).close()
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    session = _connect(args)
    try:
        session.publish(args.topic or f"i/{args.thing}/m", args.message, qos=args.qos)
        _say("published" + (" (PUBACK received)" if args.qos else ""))
    finally:
        session.close()
    return 0


def cmd_listen(args: argparse.Namespace) -> int:
    received: list[tuple[str, bytes]] = []
    session = _connect(args, on_message=lambda topic, payload: (received.append((topic, payload)),
                                                                print(f"{topic} {payload.decode(errors='replace')}",
                                                                      flush=True)))
    try:
        granted = session.subscribe(args.topic or f"e/{args.thing}/#", qos=1)
        if granted >= 0x80:
            why = "Not authorized, iot:Subscribe" if granted == 0x87 else "iot:Subscribe or AWS's limits"
            _say(f"subscription refused by the endpoint: SUBACK 0x{granted:02X} ({why})")
            return 1
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and (args.count == 0 or len(received) < args.count):
            if session.wait_closed(0.05):
                _say("connection closed by the endpoint")
                return 1
    finally:
        session.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    report = telemetry.run(_session_factory(args), args.thing, count=args.count, interval_s=args.interval,
                           attempts=args.attempts, log=_say)
    _say(f"{len(report.acknowledged)} acknowledged, {len(report.resent)} resent, {report.connections} connection(s)")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    connect = commands.add_parser("connect", help="connect once (backing off while refused), then disconnect")
    add_connection_arguments(connect)
    connect.set_defaults(handler=cmd_connect)

    publish = commands.add_parser("publish", help="publish one message (default topic i/<thing>/m)")
    add_connection_arguments(publish)
    publish.add_argument("--topic")
    publish.add_argument("--message", default='{"message": "hello"}')
    publish.add_argument("--qos", type=int, choices=(0, 1), default=1)
    publish.set_defaults(handler=cmd_publish)

    listen = commands.add_parser("listen", help="subscribe and print messages (default filter e/<thing>/#)")
    add_connection_arguments(listen)
    listen.add_argument("--topic")
    listen.add_argument("--count", type=non_negative_int, default=0,
                        help="stop after N messages (default 0: until --timeout)")
    listen.add_argument("--timeout", type=positive_float, default=60.0, help="seconds to listen (default 60)")
    listen.set_defaults(handler=cmd_listen)

    run = commands.add_parser("run", help="telemetry loop: publish QoS 1, follow the domain on region loss")
    add_connection_arguments(run)
    run.add_argument("--count", type=positive_int, default=10, help="messages to publish (default 10)")
    run.add_argument("--interval", type=non_negative_float, default=1.0, help="seconds between messages (default 1)")
    run.set_defaults(handler=cmd_run)


__all__ = ["add_connection_arguments", "add_endpoint_arguments", "register", "EndpointError", "Refused"]
