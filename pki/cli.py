"""``python -m pki``: the command line over :mod:`pki.store`, :mod:`pki.verify` and :mod:`pki.listing`.

Exit status: 0 success, 1 failure (one-line reason on stderr; for ``verify`` the report is on
stdout and the summary on stderr), 2 bad usage (one line on stderr), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn
from collections.abc import Sequence

from pki import profiles
from pki.authority import DEFAULT_ORG
from pki.errors import PkiError
from pki.keys import DEFAULT_KEY_TYPE, KEY_TYPES, PASSPHRASE_ENV
from pki.listing import list_certificates
from pki.names import device_names
from pki.pem import certificate_id
from pki.revocation import revoke_device
from pki.store import init_pki, issue_device_certificates, issue_server_certificate, sign_csr_file
from pki.verify import verify_directory

PROG = "python -m pki"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message instead of usage + message, and no abbreviated
    options (so ``--passphrase x`` can never be taken for ``--passphrase-env x``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _add_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="the PKI directory")


def _add_passphrase_env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-env", default=PASSPHRASE_ENV, metavar="VAR",
        help=f"environment variable holding the CA keys' passphrase (default {PASSPHRASE_ENV}); "
             "passphrases are never taken from the command line",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand and its help."""
    parser = _Parser(
        prog=PROG,
        description="Certificate toolkit: root and intermediate CA, the IoT endpoint's server certificate, "
                    "device certificates (CN = AWS IoT thing name).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    init = commands.add_parser(
        "init", help="create root CA, intermediate CA, server certificate and chain bundle",
        description="Create root CA (path length 1), intermediate CA (path length 0) signed by it, a server "
                    "certificate for FQDN signed by the intermediate, and ca-chain.pem (intermediate then root). "
                    f"CA keys are encrypted when ${PASSPHRASE_ENV} is set.",
    )
    _add_out(init)
    init.add_argument("--domain", required=True, metavar="FQDN", help="the endpoint's host name, e.g. iot.example.com")
    init.add_argument("--org", default=DEFAULT_ORG, help=f"organisation (O) in every subject (default {DEFAULT_ORG!r})")
    init.add_argument("--country", default=None, help="two-letter country code (C) in every subject, e.g. SE")
    init.add_argument("--key-type", choices=KEY_TYPES, default=DEFAULT_KEY_TYPE, help="server key type (default %(default)s)")
    init.add_argument("--ca-key-type", choices=KEY_TYPES, default=DEFAULT_KEY_TYPE, help="CA key type (default %(default)s)")
    init.add_argument("--days", type=_positive, default=profiles.SERVER_DAYS,
                      help=f"server certificate lifetime in days, at most {profiles.SERVER_MAX_DAYS} (default %(default)s)")
    init.add_argument("--force", action="store_true", help="replace an existing CA (the old files move to DIR/archive/<time>/)")
    _add_passphrase_env(init)

    issue = commands.add_parser(
        "issue-device", help="issue device key(s) and certificate(s) signed by the intermediate",
        description="Issue a key and a certificate with CN = NAME (an AWS IoT thing name: 1-128 characters from "
                    "[a-zA-Z0-9:_-]). With --count N, NAME is a prefix and NAME-0001 ... are issued.",
    )
    issue.add_argument("name", metavar="NAME", help="thing name, or the prefix with --count")
    _add_out(issue)
    issue.add_argument("--count", type=_positive, default=None, metavar="N", help="issue N devices named NAME-0001 ...")
    issue.add_argument("--key-type", choices=KEY_TYPES, default=DEFAULT_KEY_TYPE, help="device key type (default %(default)s)")
    issue.add_argument("--days", type=_positive, default=profiles.DEVICE_DAYS, help="lifetime in days (default %(default)s)")
    issue.add_argument("--force", action="store_true", help="replace a device that already has a certificate")
    _add_passphrase_env(issue)

    server = commands.add_parser(
        "issue-server", help="issue or renew the server certificate for FQDN from the existing CA",
        description="Issue a server certificate (CN and SAN = FQDN, serverAuth, at most 397 days) signed by the "
                    "intermediate. Use it to renew before expiry (--force) or to add another domain; unlike "
                    "init --force it keeps the CA that devices already trust.",
    )
    server.add_argument("domain", metavar="FQDN", help="the endpoint's host name")
    _add_out(server)
    server.add_argument("--key-type", choices=KEY_TYPES, default=DEFAULT_KEY_TYPE, help="server key type (default %(default)s)")
    server.add_argument("--days", type=_positive, default=profiles.SERVER_DAYS,
                        help=f"lifetime in days, at most {profiles.SERVER_MAX_DAYS} (default %(default)s)")
    server.add_argument("--force", action="store_true", help="replace (renew) an existing server certificate")
    _add_passphrase_env(server)

    sign = commands.add_parser(
        "sign-csr", help="sign a device's certificate signing request (the device keeps its key)",
        description="Check the CSR's signature and that its CN is a valid thing name, issue a device certificate "
                    "for its key into DIR/devices/<CN>.crt and print that path.",
    )
    sign.add_argument("csr", metavar="CSR", help="the CSR file (PEM or DER), or - for standard input")
    _add_out(sign)
    sign.add_argument("--days", type=_positive, default=profiles.DEVICE_DAYS, help="lifetime in days (default %(default)s)")
    sign.add_argument("--force", action="store_true", help="replace a device that already has a certificate")
    _add_passphrase_env(sign)

    verify = commands.add_parser(
        "verify", help="verify chain, validity, key usages and key/certificate pairs",
        description="Verify the CA and CERT... (default: every server and device certificate in DIR): chain to "
                    "the root, validity now, basic constraints, key usages, names, and that each key file "
                    "matches its certificate. Lists every problem; exit status 1 if there is any.",
    )
    _add_out(verify)
    verify.add_argument("certificates", nargs="*", type=Path, metavar="CERT", help="certificate files to verify")
    verify.add_argument("--quiet", action="store_true", help="print only the certificates with problems")
    _add_passphrase_env(verify)

    revoke = commands.add_parser(
        "revoke", help="revoke a device's certificate: add its serial to DIR/crl.pem",
        description="Add the serial of DIR/devices/NAME.crt to the certificate revocation list DIR/crl.pem "
                    "(created if absent), signed by the intermediate CA and replaced atomically. Revoking a "
                    "certificate already listed changes nothing. Publish crl.pem to every region (pulumi up) so "
                    "that the certificate inspector refuses the certificate when the device first connects.",
    )
    revoke.add_argument("name", metavar="NAME", help="the device's thing name")
    _add_out(revoke)
    _add_passphrase_env(revoke)

    enrol = commands.add_parser(
        "enrol", help="make device request-signing key(s) and their allow-list entries (provisioning API)",
        description="For the provisioning API: give each device its own Ed25519 request-signing key "
                    "(DIR/devices/NAME.provisioning.key, 0600; an existing one is kept) and write the devices' "
                    "allow-list entries to DIR/allow-list.jsonl, which `python -m ops allow-list import REGION FILE` "
                    "loads. With --count N, NAME is a prefix and NAME-0001 ... are enrolled.",
    )
    enrol.add_argument("name", metavar="NAME", help="thing name, or the prefix with --count")
    _add_out(enrol)
    enrol.add_argument("--count", type=_positive, default=None, metavar="N", help="enrol N devices named NAME-0001 ...")

    claim = commands.add_parser(
        "issue-claim", help="make the fleet provisioning claim certificate and key (DIR/claim/)",
        description="Write the claim every factory-fresh device ships with for fleet provisioning: a self-signed "
                    "certificate DIR/claim/claim.crt and its key DIR/claim/claim.key (0600). With `provisioning` "
                    "including fleet, `pulumi up` registers it without CA in every region with a policy allowing "
                    "only the fleet provisioning topics. An existing claim is kept unless --replace.",
    )
    _add_out(claim)
    claim.add_argument("--replace", action="store_true", help="make a new claim even if one exists")

    listing = commands.add_parser(
        "list", help="list issued certificates (name, serial, not-after, status)",
        description="List what has been issued: kind, name, serial, not-after and status (valid, expired, "
                    "not-yet-valid, replaced, missing, unindexed).",
    )
    _add_out(listing)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _cmd_init(args: argparse.Namespace) -> int:
    result = init_pki(
        args.out, args.domain, org=args.org, country=args.country, key_type=args.key_type,
        ca_key_type=args.ca_key_type, server_days=args.days, force=args.force, passphrase_env=args.passphrase_env,
    )
    layout = result.layout
    if result.archived_to:
        print(f"previous CA archived to {result.archived_to}")
    for path in (*layout.ca_files(), layout.server_cert(result.server.name), layout.server_key(result.server.name)):
        print(path)
    print(f"intermediate CA certificate id (register this CA in IoT Core): "
          f"{certificate_id(result.authority.intermediate_pem)}")
    return 0


def _cmd_issue(args: argparse.Namespace) -> int:
    names = device_names(args.name, args.count) if args.count else [args.name]
    started = time.perf_counter()
    issued = issue_device_certificates(
        args.out, names, key_type=args.key_type, days=args.days, force=args.force, passphrase_env=args.passphrase_env,
    )
    elapsed = time.perf_counter() - started
    devices = args.out / "devices"
    if args.count:
        rate = len(issued) / elapsed if elapsed else float("inf")
        print(f"issued {len(issued)} device certificates ({args.key_type}) into {devices} "
              f"in {elapsed:.2f} s ({rate:.0f}/s): {issued[0].name} ... {issued[-1].name}")
    else:
        print(devices / f"{issued[0].name}.crt")
        print(devices / f"{issued[0].name}.key")
    return 0


def _cmd_server(args: argparse.Namespace) -> int:
    server = issue_server_certificate(
        args.out, args.domain, key_type=args.key_type, days=args.days, force=args.force, passphrase_env=args.passphrase_env,
    )
    print(args.out / "server" / f"{server.name}.crt")
    print(args.out / "server" / f"{server.name}.key")
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    if args.csr == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(args.csr).read_bytes()
        except FileNotFoundError:
            raise PkiError(f"CSR file {args.csr} does not exist") from None
    _, path = sign_csr_file(args.out, data, days=args.days, force=args.force, passphrase_env=args.passphrase_env)
    print(path)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    report = verify_directory(args.out, args.certificates, passphrase_env=args.passphrase_env)
    for finding in report.findings:
        if finding.ok and args.quiet:
            continue
        label = f"{finding.path} ({finding.what})" if finding.what else finding.path
        print(f"{'OK  ' if finding.ok else 'FAIL'} {label}")
        for problem in finding.problems:
            print(f"     - {problem}")
        if not args.quiet:
            for note in finding.notes:
                print(f"     note: {note}")
    if report.ok:
        print(f"verified {len(report.findings)} files: no problems")
        return 0
    failed = report.failed()
    print(f"{PROG} verify: {report.problem_count} problem(s) in {len(failed)} of {len(report.findings)} files, "
          f"first: {failed[0].path}: {failed[0].problems[0]}", file=sys.stderr)
    return 1


def _cmd_revoke(args: argparse.Namespace) -> int:
    result = revoke_device(args.out, args.name, passphrase_env=args.passphrase_env)
    when = f"{result.revoked_at:%Y-%m-%d %H:%M:%SZ}"
    if result.already:
        print(f"device {result.name} (serial {result.serial}) was already revoked on {when}; {result.crl_path} unchanged")
    else:
        print(f"revoked device {result.name} (serial {result.serial}) on {when}; publish {result.crl_path} to every "
              "region (pulumi up)")
    return 0


def _cmd_enrol(args: argparse.Namespace) -> int:
    from pki.enrolment import enrol

    names = device_names(args.name, args.count) if args.count else [args.name]
    print(enrol(args.out, names))
    return 0


def _cmd_claim(args: argparse.Namespace) -> int:
    from pki.claim import issue_claim

    result = issue_claim(args.out, replace=args.replace)
    state = "wrote" if result.created else "kept the existing"
    print(f"{state} claim certificate {result.certificate} and key {result.key} (0600)")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    rows = list_certificates(args.out)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=1))
        return 0
    headers = ("KIND", "NAME", "SERIAL", "NOT-AFTER", "STATUS")
    table = [(r.kind, r.name, r.serial, r.not_after[:19].replace("T", " "), r.status) for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, h in enumerate(headers)]
    for row in (headers, *table):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


COMMANDS = {"init": _cmd_init, "issue-device": _cmd_issue, "issue-server": _cmd_server, "sign-csr": _cmd_sign,
            "verify": _cmd_verify, "revoke": _cmd_revoke, "enrol": _cmd_enrol, "issue-claim": _cmd_claim,
            "list": _cmd_list}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PkiError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `list | head`: the reader has seen enough
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except OSError as exc:
        print(f"{PROG} {args.command}: error: {exc.strerror or exc} ({exc.filename or 'no file'})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted; the next command cleans up any partial write", file=sys.stderr)
        return 130
