"""``python -m device fleet-provision``: a factory-fresh device holding only the fleet's claim certificate gets its
own certificate and thing through the fleet provisioning MQTT API (docs/design.md, "Fleet provisioning by claim").

The device connects with the claim (client id ``claim-<random>``: the claim's policy allows no other, so it never
takes a device's or a canary's client id, nor another device's that provisions at the same time), subscribes to the
replies of the two requests, then

1. makes its own P-256 key (``OUT/<serial>.key``, 0600, written before anything is sent; a retry reuses it) and
   publishes a CSR with CN = serial on ``$aws/certificates/create-from-csr/json``, carrying a fresh enrolment proof
   signed by its enrolled signing key (``--signing-key``, the one ``python -m pki enrol`` made, whose public half is
   on the allow-list; ``functions/fleet_provisioning/proof.py``): the certificate provider signs it with our CA only
   for an enrolled serial not provisioned yet, and the answer holds the certificate and an ownership token, which the
   device keeps (``OUT/<serial>.pending.crt`` and ``.pending.json``, 0600) before going on;
2. publishes the token and ``{"SerialNumber": serial}`` on ``$aws/provisioning-templates/<template>/provision/json``
   (RegisterThing): the hook admits only the certificate the provider issued last for the serial, the template makes
   the thing, attaches the device policy and activates the certificate;
3. stores ``OUT/<serial>.crt`` (the certificate, checked to be for its own key) and ``OUT/<serial>.json``.

A run that lost a reply is simply run again: with a certificate kept from before, it first asks RegisterThing again
with its token (admitted again for the same certificate), and if that is refused (AWS may not take a token twice)
connects once with that certificate: if it is active, the device was provisioned and keeps it. Otherwise, or with
nothing kept, it starts over with a new proof, whose certificate supersedes the one issued before (never admitted
then, and deleted by AWS after an hour).

Every reply arrives on ``<request>/accepted`` or ``<request>/rejected`` (AWS's device provisioning MQTT API,
https://docs.aws.amazon.com/iot/latest/developerguide/fleet-provision-api.html). Anything that stops it is a
:class:`FleetProvisioningError` naming the problem and the fix. The same code runs against AWS IoT and the local
cloud's served endpoints. Keys are never printed, and ``*.key`` is git-ignored.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builders.fleet import CREATE_FROM_CSR, claim_client_id, provision_topic, reply_topics
from contract import names
from contract.fleet import SERIAL_NUMBER
from device import keys
from device.commands import add_endpoint_arguments
from device.endpoint import Endpoint, parse_endpoint
from device.inputs import InputError, check_out_dir, check_tls_identity, load_signing_key
from device.session import Identity, Lost, Refused, Session, connect_with_backoff
from functions.fleet_provisioning import proof
from pki.names import PkiError, validate_thing_name

DEFAULT_TEMPLATE = "multi-region-iot-fleet"  # <application>-fleet: the stack output fleetTemplateName
#: What to do about a rejection of CreateCertificateFromCsr (any errorCode: the certificate provider says no more).
CSR_FIX = ("the certificate provider issued nothing for {serial}: it is not on the allow-list (an operator enrols it: "
           "`python -m ops allow-list add REGION {serial} KEY.pem`), it was provisioned already with another "
           "certificate (a device provisioned before keeps the certificate it got then), or --signing-key is not its "
           "enrolled key (the one `python -m pki enrol` made: DIR/devices/{serial}.provisioning.key)")
#: What to do about a RegisterThing rejection, by errorCode (AccessDenied: the pre-provisioning hook refused it).
REGISTER_FIXES = {"AccessDenied": "the certificate was not admitted for {serial}: another attempt for this serial got "
                                  "a newer certificate since (run fleet-provision again to get the latest), or the "
                                  "serial is not on the allow-list, or was provisioned already with another "
                                  "certificate (`python -m ops allow-list add REGION {serial} KEY.pem` enrols it)"}
CSR_FIXES: dict[str, str] = {}


class FleetProvisioningError(Exception):
    """Fleet provisioning cannot go on; the message names the problem and the fix. ``exit_code`` 2 = bad input."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Rejected(FleetProvisioningError):
    """AWS answered a request on its ``/rejected`` topic (``statusCode``, ``errorCode``, ``errorMessage``)."""

    def __init__(self, request_topic: str, reply: dict[str, Any], fixes: dict[str, str], serial: str,
                 default: str = "the errorMessage says why; nothing was provisioned") -> None:
        self.request_topic, self.reply = request_topic, reply
        self.error_code = str(reply.get("errorCode", ""))
        fix = fixes.get(self.error_code, default).format(serial=serial)
        super().__init__(f"{request_topic} was rejected ({reply.get('statusCode', '?')} {self.error_code}: "
                         f"{reply.get('errorMessage', '')}); {fix}")


@dataclass(frozen=True)
class Provisioned:
    """What the device has after provisioning: its thing name, certificate id and the files it stored."""

    thing_name: str
    certificate_id: str
    certificate: Path
    key: Path
    attempts: int  # connections with the claim it took


@dataclass
class _Replies:
    """Messages arriving on the reply topics (paho's thread adds, the device's thread waits)."""

    received: list[tuple[str, bytes]] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, topic: str, payload: bytes) -> None:
        with self._arrived:
            self.received.append((topic, payload))
            self._arrived.notify_all()

    def wait(self, request_topic: str, timeout_s: float) -> tuple[bool, dict[str, Any]]:
        """``(accepted, reply)`` for ``request_topic``; raise if none arrives in time."""
        wanted = {f"{request_topic}/accepted": True, f"{request_topic}/rejected": False}

        def found() -> tuple[str, bytes] | None:
            return next(((t, p) for t, p in self.received if t in wanted), None)

        with self._arrived:
            arrived = self._arrived.wait_for(found, timeout=timeout_s)
            if arrived is None:
                raise FleetProvisioningError(f"no reply to {request_topic} within {timeout_s:g} s: the endpoint may "
                                             "not run fleet provisioning; check --endpoint, or raise --timeout")
            topic, payload = arrived
            self.received.remove((topic, payload))
        try:
            reply = json.loads(payload)
        except ValueError:
            raise FleetProvisioningError(f"the reply on {topic} is not JSON") from None
        return wanted[topic], reply if isinstance(reply, dict) else {}


def check_inputs(serial: str, claim_cert: Path, claim_key: Path, ca: Path | None, template: str, out: Path,
                 signing_key: Path | None = None) -> Any:
    """Refuse, before any connection, what cannot work: each message names the problem and the fix. Returns the
    enrolled signing key (``None`` only when ``signing_key`` is not checked: a caller that passes none is refused)."""
    try:
        validate_thing_name(serial)
    except PkiError as error:
        raise FleetProvisioningError(f"--serial: {error} (the serial becomes the thing name)", exit_code=2) from None
    reserved = names.refusal(serial)
    if reserved:
        raise FleetProvisioningError(f"--serial {reserved}", exit_code=2)
    for path, option, fix in ((claim_cert, "--claim-cert", "the claim certificate every device ships with "
                               "(`python -m pki issue-claim --out pki-out` writes pki-out/claim/claim.crt)"),
                              (claim_key, "--claim-key", "the claim's private key (pki-out/claim/claim.key)"),
                              (ca, "--ca", "the CA the endpoint's server certificate chains to (root-ca.crt), or "
                               "leave --ca out to use the system's trust store")):
        if path is not None and not path.is_file():
            raise FleetProvisioningError(f"{option} {path}: no such file; give {fix}", exit_code=2)
    try:  # the claim's certificate, key and the CA as the TLS connection will load them
        check_tls_identity(claim_cert, claim_key, ca, cert_option="--claim-cert", key_option="--claim-key",
                           cert_what="the claim certificate every device ships with (pki-out/claim/claim.crt)",
                           key_what="the claim's private key (pki-out/claim/claim.key)")
        check_out_dir(out)
    except InputError as error:
        raise FleetProvisioningError(str(error), exit_code=2) from None
    try:
        provision_topic(template)
    except ValueError as error:
        raise FleetProvisioningError(f"--template: {error}; use the stack output fleetTemplateName",
                                     exit_code=2) from None
    if (out / f"{serial}.crt").exists():
        raise FleetProvisioningError(f"{out / (serial + '.crt')} exists: {serial} is provisioned already; connect with "
                                     "it (`python -m device connect ...`), or move it away to provision again",
                                     exit_code=2)
    if signing_key is None:
        raise FleetProvisioningError(f"--signing-key is required: the device's enrolled signing key, whose public half "
                                     f"is on the allow-list (`python -m pki enrol` writes "
                                     f"DIR/devices/{serial}.provisioning.key)", exit_code=2)
    try:
        return load_signing_key(signing_key, "--signing-key")
    except InputError as error:
        raise FleetProvisioningError(str(error), exit_code=2) from None


def provision_by_claim(endpoint: Endpoint, serial: str, claim_cert: Path, claim_key: Path, ca: Path | None,
                       out: Path, *, signing_key: Path | None = None, template: str = DEFAULT_TEMPLATE,
                       attempts: int = 8, timeout_s: float = 10.0, base_s: float = 0.5, cap_s: float = 30.0,
                       log: Callable[[str], None] = lambda _: None) -> Provisioned:
    """Run fleet provisioning by claim for ``serial`` against ``endpoint``; store and return what it got."""
    signer = check_inputs(serial, claim_cert, claim_key, ca, template, out, signing_key)
    key_path = out / f"{serial}.key"
    try:
        key, made = keys.load_or_make_key(key_path)
    except ValueError as error:
        raise FleetProvisioningError(str(error), exit_code=2) from None
    log(f"{'made' if made else 'reusing'} the device key {key_path}")
    pending = _Pending(out, serial)
    kept = pending.load(key)
    replies = _Replies()
    claim = Identity(claim_client_id(), claim_cert, claim_key, ca)
    try:
        session, tries = connect_with_backoff(lambda: Session(endpoint, claim, on_message=replies.add),
                                              attempts=attempts, base_s=base_s, cap_s=cap_s)
    except Refused as refused:
        raise FleetProvisioningError(
            f"the endpoint refused the claim certificate ({refused.reason}) after {attempts} attempt(s): give the "
            "claim registered by the deployment (config provisioning with fleet) and the endpoint's domain") from None
    log(f"connected with the claim as {claim.thing} (attempt {tries})")
    try:
        for topic in reply_topics(template):
            if session.subscribe(topic) == 0x80:
                raise FleetProvisioningError(f"the claim may not subscribe to {topic}: --template {template} is not "
                                             "the deployment's template (stack output fleetTemplateName)")
        created = registered = None
        if kept is not None:  # a reply was lost before: finish with the certificate received then
            created, registered = kept, _finish_kept(session, replies, endpoint, serial, kept, pending, key_path, ca,
                                                     template, timeout_s, log)
        if registered is None:
            created = _request(session, replies, CREATE_FROM_CSR,
                               {"certificateSigningRequest": proof.csr_pem(key, serial, signer)}, timeout_s,
                               fixes=CSR_FIXES, default=CSR_FIX)
            if not keys.certifies(str(created.get("certificatePem", "")), key):
                raise FleetProvisioningError("the certificate received is not for this device's key: refusing to "
                                             "store it")
            pending.save(created)  # before RegisterThing: a lost reply is then finished by the next run
            log(f"certificate {created['certificateId'][:12]}… received for the device's own key")
            registered = _request(session, replies, provision_topic(template),
                                  {"certificateOwnershipToken": created["certificateOwnershipToken"],
                                   "parameters": {SERIAL_NUMBER: serial}}, timeout_s, fixes=REGISTER_FIXES)
    except Lost as lost:  # a subscription the connection did not live to acknowledge
        raise FleetProvisioningError(f"the endpoint closed the claim's connection ({lost}): run fleet-provision "
                                     "again (what was received so far is kept)") from None
    finally:
        session.close()
    assert created is not None and registered is not None, "both requests answered, or an error was raised"
    certificate = out / f"{serial}.crt"
    certificate.write_text(created["certificatePem"])
    (out / f"{serial}.json").write_text(json.dumps({"thingName": registered["thingName"], "certificateId":
                                                    created["certificateId"], "endpoint": endpoint.sni,
                                                    "template": template}, indent=2))
    pending.remove()
    return Provisioned(registered["thingName"], created["certificateId"], certificate, key_path, tries)


class _Pending:
    """The certificate and ownership token a device received and has not seen admitted yet (0600 files)."""

    def __init__(self, out: Path, serial: str) -> None:
        self.certificate, self.token = out / f"{serial}.pending.crt", out / f"{serial}.pending.json"

    def save(self, created: dict[str, Any]) -> None:
        keys.write_private(self.certificate, str(created["certificatePem"]))
        keys.write_private(self.token, json.dumps({"certificateId": created["certificateId"],
                                                   "certificateOwnershipToken": created["certificateOwnershipToken"]}))

    def load(self, key: Any) -> dict[str, Any] | None:
        """What a previous run kept, if it is for this device's key; else nothing (and it is removed)."""
        try:
            pem = self.certificate.read_text()
            kept = json.loads(self.token.read_text())
        except (OSError, ValueError):
            self.remove()
            return None
        if not isinstance(kept, dict) or not keys.certifies(pem, key):
            self.remove()
            return None
        return {**kept, "certificatePem": pem}

    def remove(self) -> None:
        for path in (self.certificate, self.token):
            path.unlink(missing_ok=True)


def _finish_kept(session: Session, replies: _Replies, endpoint: Endpoint, serial: str, kept: dict[str, Any],
                 pending: _Pending, key_path: Path, ca: Path | None, template: str, timeout_s: float,
                 log: Callable[[str], None]) -> dict[str, Any] | None:
    """RegisterThing again for the kept certificate; if refused, whether that certificate connects (it was then
    provisioned and only the reply was lost). The answer, or None to start over (the kept certificate is dropped)."""
    log(f"finishing with certificate {str(kept.get('certificateId', ''))[:12]}… received before (a reply was lost)")
    try:
        return _request(session, replies, provision_topic(template),
                        {"certificateOwnershipToken": kept.get("certificateOwnershipToken", ""),
                         "parameters": {SERIAL_NUMBER: serial}}, timeout_s, fixes=REGISTER_FIXES)
    except Rejected as rejected:
        log(f"RegisterThing again was refused ({rejected.error_code}); trying the certificate itself")
    try:
        probe, _ = connect_with_backoff(lambda: Session(endpoint, Identity(serial, pending.certificate, key_path, ca)),
                                        attempts=1)
    except Refused as refused:
        log(f"the certificate received before is not usable ({refused.reason}); starting over with a new proof")
        pending.remove()
        return None
    probe.close()
    log("the certificate received before is active: it was provisioned, only the reply was lost")
    return {"thingName": serial}


def _request(session: Session, replies: _Replies, topic: str, body: dict[str, Any], timeout_s: float, *,
             fixes: dict[str, str], default: str | None = None) -> dict[str, Any]:
    """Publish one request (QoS 1) and return its accepted reply; raise :class:`Rejected` on a rejection."""
    try:
        session.publish(topic, json.dumps(body), qos=1)
    except Lost as lost:
        raise FleetProvisioningError(f"the endpoint closed the connection on {topic} ({lost}): the claim's policy does "
                                     "not allow it; check --template (stack output fleetTemplateName)") from None
    accepted, reply = replies.wait(topic, timeout_s)
    if not accepted:
        raise Rejected(topic, reply, fixes, serial_of(body), *([default] if default else []))
    return reply


def serial_of(body: dict[str, Any]) -> str:
    """The serial a request is about (RegisterThing's parameter, or the CSR's CN)."""
    serial = (body.get("parameters") or {}).get(SERIAL_NUMBER)
    if serial:
        return str(serial)
    try:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        csr = x509.load_pem_x509_csr(str(body.get("certificateSigningRequest", "")).encode())
        return str(csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    except (ValueError, IndexError):
        return "SERIAL"


def cmd_fleet_provision(args: argparse.Namespace) -> int:
    """The ``fleet-provision`` subcommand: exit 0 provisioned, 1 refused by the endpoint, 2 bad input."""
    say = lambda text: print(text, file=sys.stderr, flush=True)
    endpoint = parse_endpoint(args.endpoint, sni=args.sni, proxy=args.proxy)  # EndpointError: cli.main says it
    try:
        done = provision_by_claim(endpoint, args.serial, args.claim_cert, args.claim_key, args.ca, args.out,
                                  signing_key=args.signing_key, template=args.template, attempts=args.attempts,
                                  timeout_s=args.timeout, log=say)
    except FleetProvisioningError as error:
        say(f"error: {error}")
        return error.exit_code
    print(f"provisioned {done.thing_name}: certificate {done.certificate}, key {done.key} (certificate id "
          f"{done.certificate_id}); connect with `python -m device connect --thing {done.thing_name} "
          f"--cert {done.certificate} --key {done.key} ...`")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("fleet-provision", help="get a certificate and thing with the fleet's claim "
                                 "certificate (fleet provisioning MQTT API)")
    add_endpoint_arguments(parser)
    parser.add_argument("--serial", required=True, help="the device's serial: thing name, MQTT client id and CN")
    parser.add_argument("--claim-cert", type=Path, required=True, help="the claim certificate (PEM) every device ships")
    parser.add_argument("--claim-key", type=Path, required=True, help="the claim's private key (PEM)")
    parser.add_argument("--signing-key", type=Path, help="the device's enrolled signing key (PEM, Ed25519 or EC; "
                        "`python -m pki enrol` writes DIR/devices/SERIAL.provisioning.key): it signs the enrolment "
                        "proof in the CSR (required)")
    parser.add_argument("--template", default=DEFAULT_TEMPLATE,
                        help=f"the provisioning template (stack output fleetTemplateName; default {DEFAULT_TEMPLATE})")
    parser.add_argument("--out", type=Path, default=Path("device-out"),
                        help="where the device keeps its key and certificate (default device-out)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each reply (default 10)")
    parser.set_defaults(handler=cmd_fleet_provision)
