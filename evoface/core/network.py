"""Addresses that users type (studio's --host, evolve's --ray-address): their syntax, their lookup, a listening
socket, and a time-bound probe of a server. Every name lookup goes through ``lookup``, which tests replace."""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
import time

from evoface.core.errors import InputError

HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
ADDRESS_EXAMPLE = "10.0.0.1:6379"


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_host(host: str, flag: str) -> None:
    """InputError unless ``host`` is an IP address or a host name of valid syntax (RFC 1123 labels)."""
    if is_ip(host):
        return
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(HOST_LABEL.fullmatch(label) for label in name.split(".")):
        raise InputError(f"{flag} {host!r} is not a host name or an IP address")


def split_address(address: str, flag: str) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT as (host, port); InputError for anything else."""
    host, colon, port = address.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{flag} must be HOST:PORT with a port in 1-65535 (e.g. {ADDRESS_EXAMPLE}), got {address!r}")
    check_host(host, flag)
    return host, int(port)


def lookup(host: str, port: int, passive: bool = False) -> list[tuple]:
    """The TCP addresses of ``host`` (``socket.getaddrinfo``); ``passive``: addresses to listen on."""
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE if passive else 0)


def resolve(host: str, port: int, flag: str, passive: bool = False) -> list[tuple]:
    """``lookup`` of a host of checked syntax; InputError naming the flag when the name does not resolve."""
    check_host(host, flag)
    try:
        found = lookup(host, port, passive)
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"cannot resolve {flag} {host}: {getattr(exc, 'strerror', None) or exc}") from None
    if not found:
        raise InputError(f"cannot resolve {flag} {host}: no address")
    return found


def listen(host: str, port: int, host_flag: str = "--host", port_flag: str = "--port") -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: any free port) and listening, on its IPv4 address where it has one
    (as werkzeug binds a name); InputError saying why not."""
    found = resolve(host, port, host_flag, passive=True)
    family, kind, proto, _, sockaddr = min(found, key=lambda info: info[0] != socket.AF_INET)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server does: a closed TIME_WAIT port
        sock.bind(sockaddr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {_bind_reason(exc, host, port_flag)}") from None
    return sock


def _bind_reason(exc: OSError, host: str, port_flag: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"the port is in use by another program; pass another {port_flag}, or {port_flag} 0 for any free port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    if exc.errno == errno.EACCES:
        return f"permission denied (ports below 1024 need privileges): pass {port_flag} 0 for any free port"
    return exc.strerror or str(exc)


def unreachable(host: str, port: int, flag: str, timeout: float) -> str | None:
    """Why no TCP connection to ``host``:``port`` opened within ``timeout`` seconds in all (None: one did)."""
    deadline, reason = time.monotonic() + timeout, "no address"
    for family, kind, proto, _, sockaddr in resolve(host, port, flag):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(left)
            try:
                sock.connect(sockaddr)
                return None
            except TimeoutError:
                reason = f"no answer within {timeout:g} s"
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
    return reason
