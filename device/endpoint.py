"""Where a device connects: ``--endpoint`` (the custom domain, or host:port) and an optional resolver.

* ``--endpoint iot.example.com`` (port 8883): the system resolver answers (Route 53 on AWS); SNI = the domain.
* ``--endpoint iot.example.com --proxy socks5h://US@127.0.0.1:1080``: the local cloud's DNS answer
  resolves the domain (``localcloud.services.iot.mqtt.resolver``; the user part is the device's location); SNI = the domain.
* ``--endpoint 127.0.0.1:8884 --sni iot.example.com``: one region's endpoint directly, SNI still the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from device.inputs import InputError

DEFAULT_PORT = 8883


class EndpointError(InputError):
    """An ``--endpoint``/``--proxy`` value that cannot be used; the message says how to write it."""


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    location: str | None


@dataclass(frozen=True)
class Endpoint:
    host: str  # where TCP goes (without a proxy) or the name the proxy resolves
    port: int
    sni: str  # the TLS server name: always the custom domain
    proxy: Proxy | None = None


def parse_endpoint(endpoint: str, *, sni: str | None = None, proxy: str | None = None) -> Endpoint:
    if "://" in endpoint or "/" in endpoint:
        raise EndpointError(f"--endpoint {endpoint!r} is a URL: give the host only, iot.example.com or host:port")
    host, _, port_text = endpoint.rpartition(":") if ":" in endpoint else (endpoint, "", "")
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise EndpointError(f"--endpoint {endpoint!r}: the port must be a number (host:8883)") from None
    if not 1 <= port <= 65535:
        raise EndpointError(f"--endpoint {endpoint!r}: the port must be 1-65535 (host:8883)")
    if not host:
        raise EndpointError("--endpoint needs a host: iot.example.com or 127.0.0.1:8883")
    server_name = sni or host
    if _is_address(server_name):
        raise EndpointError(f"--endpoint {endpoint!r} is an address: give the domain as --sni (the endpoint refuses "
                            "a TLS connection without the custom domain as SNI)")
    return Endpoint(host, port, server_name, parse_proxy(proxy) if proxy else None)


def parse_proxy(url: str) -> Proxy:
    parts = urlsplit(url)
    try:
        port = parts.port  # ValueError when not a number in 0-65535
    except ValueError:
        port = 0
    if parts.scheme != "socks5h" or not parts.hostname or port == 0:
        raise EndpointError(f"--proxy {url!r}: write socks5h://[LOCATION@]127.0.0.1:1080 (a port in 1-65535)")
    return Proxy(parts.hostname, port or 1080, parts.username or None)


def _is_address(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
