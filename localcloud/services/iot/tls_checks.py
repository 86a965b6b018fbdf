"""What the emulated broker refuses at the TLS handshake, before it looks the certificate up.

AWS IoT Core authenticates a device in TLS client-authentication mode. A client certificate outside its
validity window is taken to fail the handshake, as a standard TLS server's path validation makes it
(docs/design.md, "Certificates refused", says what AWS documents and what is our judgement), so such a
device is never auto-registered and no JITR event is published. That is register row
``iot.handshake-certificate-validity`` (docs/emulator.md): by default (the outcome worse for the design) the engine
path accepts such a certificate and leaves it to the inspector; ``expired_certificate_handshake="refused"`` calls
:func:`check_client_certificate` from ``IotCore._connect`` right after parsing the certificate::

    tls_checks.check_client_certificate(parsed.certificate, error=ConnectionRefused)

Only the validity dates are checked here: AWS documents no handshake check of the extended key usage
or basic constraints, so those are left to the certificate inspector (functions/certificate_inspector/checks.py).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from cryptography import x509


class HandshakeRefused(Exception):
    """The TLS handshake failed; ``reason`` says why, as the device would log it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_client_certificate(certificate: x509.Certificate, now: datetime.datetime | None = None, *,
                             error: Callable[[str], Exception] = HandshakeRefused) -> None:
    """Raise ``error(reason)`` when ``certificate`` is not valid at ``now`` (default: the current UTC time)."""
    moment = now or datetime.datetime.now(datetime.UTC)
    if moment < certificate.not_valid_before_utc:
        raise error(f"TLS handshake failed: client certificate serial {certificate.serial_number:x} is not valid "
                    f"before {_stamp(certificate.not_valid_before_utc)}")
    if moment > certificate.not_valid_after_utc:
        raise error(f"TLS handshake failed: client certificate serial {certificate.serial_number:x} expired on "
                    f"{_stamp(certificate.not_valid_after_utc)}")
