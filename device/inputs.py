"""What the device commands check before they connect or send anything: bad input exits 2 naming the fix (README).

- :class:`InputError`: a value that cannot work (``python -m device`` prints it and exits 2, never a traceback);
- argparse types for counts, attempts and durations (argparse exits 2 naming the option);
- :func:`check_tls_identity`: the certificate, key and CA files a TLS connection will load, loaded now, so a missing
  file, a key of another certificate or a file that is not PEM is named before the first attempt (not retried as a
  refusal, nor a traceback from ``ssl``);
- :func:`load_signing_key`: the provisioning API's request-signing key (Ed25519 or EC, unencrypted PEM);
- :func:`check_url`, :func:`check_out_dir`, :func:`check_thing_name`.
"""
from __future__ import annotations

import argparse
import math
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class InputError(ValueError):
    """An input that cannot be used; the message names the option and the fix (exit 2)."""


def _number(kind: type, admits: Any, requirement: str):
    """An argparse type: a finite ``kind`` for which ``admits(value)``; else argparse exits 2 with ``requirement``."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if not math.isfinite(value) or not admits(value):
            raise argparse.ArgumentTypeError(f"{text} must be {requirement}")
        return value
    return parse


positive_int = _number(int, lambda v: v >= 1, "at least 1")
non_negative_int = _number(int, lambda v: v >= 0, "0 or more")
positive_float = _number(float, lambda v: v > 0, "more than 0 (seconds)")
non_negative_float = _number(float, lambda v: v >= 0, "0 or more (seconds)")


def check_thing_name(name: str, option: str) -> str:
    """``name`` if it can be a thing name and is not reserved (contract/names.py), else InputError."""
    from contract import names
    from pki.names import PkiError, validate_thing_name

    try:
        validate_thing_name(name)
    except PkiError as error:
        raise InputError(f"{option}: {error}") from None
    reserved = names.refusal(name)
    if reserved:
        raise InputError(f"{option} {reserved}")
    return name


def _readable(path: Path, option: str, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{option} {path}: no such file; give {what}") from None
    except IsADirectoryError:
        raise InputError(f"{option} {path} is a folder; give {what}") from None
    except OSError as error:
        raise InputError(f"{option} {path}: cannot read ({error.strerror}); give {what}") from None


def _private_key(path: Path, option: str, what: str) -> Any:
    """The unencrypted PEM private key in ``path``, else InputError naming ``option`` and ``what`` to give."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    pem = _readable(path, option, what)
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise InputError(f"{option} {path} is encrypted; give {what}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(f"{option} {path} is not a PEM private key; give {what}") from None


DEVICE_CERT = "the device certificate (PEM; python -m pki writes DIR/devices/NAME.crt)"
DEVICE_KEY = "the private key of that certificate (PEM, unencrypted; DIR/devices/NAME.key next to NAME.crt)"


def check_tls_identity(cert: Path, key: Path, ca: Path | None, *, cert_option: str = "--cert",
                       key_option: str = "--key", ca_option: str = "--ca", cert_what: str = DEVICE_CERT,
                       key_what: str = DEVICE_KEY) -> None:
    """Load what a TLS connection with this identity loads, naming the option of whatever cannot work."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert_pem = _readable(cert, cert_option, cert_what)
    try:
        certificates = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise InputError(f"{cert_option} {cert} is not a PEM certificate; give {cert_what}") from None
    private = _private_key(key, key_option, key_what)
    if certificates[0].public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo) != \
            private.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo):
        raise InputError(f"{key_option} {key} is not the key of {cert_option} {cert}: give {key_what}, or "
                         f"{cert_option} {cert_what} for that key")
    if ca is not None:
        ca_what = ("the CA the endpoint's server certificate chains to (root-ca.crt), or leave "
                   f"{ca_option} out to use the system's trust store")
        _readable(ca, ca_option, ca_what)
        try:
            ssl.create_default_context(cafile=str(ca))
        except ssl.SSLError:
            raise InputError(f"{ca_option} {ca} is not a PEM certificate; give {ca_what}") from None
    try:  # what Session.open does: anything OpenSSL still refuses is named here, not retried
        ssl.create_default_context().load_cert_chain(str(cert), str(key))
    except ssl.SSLError as error:
        raise InputError(f"{cert_option} {cert} / {key_option} {key} cannot be used for TLS ({error.reason or error}); "
                         f"give {cert_what} and {key_what}") from None


def load_signing_key(path: Path, option: str = "--key") -> Any:
    """The provisioning API's request-signing key: an unencrypted Ed25519 or EC private key in PEM."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    what = ("the device's enrolled request-signing key: Ed25519 or EC, PEM, unencrypted (python -m pki enrol writes "
            "DIR/devices/NAME.provisioning.key; its public half is on the allow-list)")
    key = _private_key(path, option, what)
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        kind = type(key).__name__.removeprefix("_").removesuffix("PrivateKey")
        raise InputError(f"{option} {path} holds a key of type {kind}; give {what}")
    return key


def check_url(url: str, option: str, example: str) -> str:
    """An http(s) URL with a host, else InputError naming ``example``."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise InputError(f"{option} {url!r} is not an http(s) URL: give it as {example}")
    return url


def check_out_dir(out: Path, option: str = "--out") -> Path:
    """``out`` is a folder, or can be made (nothing in its way is a file)."""
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise InputError(f"{option} {out}: {folder} is a file, not a folder; give a folder for the device's "
                                 "files (it is made if missing)")
            break
    return out
