"""Free ports for slots configured with `port: auto`.

The kernel's own pick (`bind(port 0)`) comes from the ephemeral range, the same range every
outgoing connection takes its source port from. The router opens many upstream connections,
so a port it was given a moment ago could be taken by one of them before the instance binds
it. Auto ports therefore come from below the ephemeral range (`V11OPS_AUTO_PORT_RANGE`,
default 20000 up to the start of `net.ipv4.ip_local_port_range`), where only listeners that
ask for a port by number can land.
"""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

RANGE_ENV = "V11OPS_AUTO_PORT_RANGE"
_EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_DEFAULT_LOW = 20000
_FALLBACK_EPHEMERAL_LOW = 32768

_lock = threading.Lock()
_handed_out: set[int] = set()  # never hand the same port out twice from one process


class PortRangeError(ValueError):
    """`V11OPS_AUTO_PORT_RANGE` is not `LOW-HIGH` with 1024 <= LOW <= HIGH <= 65535."""


def auto_port_range() -> tuple[int, int]:
    """The inclusive range auto ports are picked from."""
    text = os.environ.get(RANGE_ENV, "").strip()
    if text:
        return _parse_range(text)
    return _DEFAULT_LOW, max(_DEFAULT_LOW, _ephemeral_low() - 1)


def _parse_range(text: str) -> tuple[int, int]:
    low_text, sep, high_text = text.partition("-")
    try:
        low, high = int(low_text), int(high_text)
    except ValueError:
        low, high = 0, 0
    if not sep or not 1024 <= low <= high <= 65535:
        raise PortRangeError(f"{RANGE_ENV}={text!r}: expected LOW-HIGH within 1024-65535")
    return low, high


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _FALLBACK_EPHEMERAL_LOW


def free_port(host: str = "127.0.0.1") -> int:
    """A port in the auto range that was free a moment ago and that this process has not
    handed out before. Another process may still take it before the instance binds it; the
    readiness gate then fails and the deploy stops cleanly."""
    low, high = auto_port_range()
    size = high - low + 1
    start = random.randrange(size)  # spreads picks; not a secret
    with _lock:
        for offset in range(size):
            port = low + (start + offset) % size
            if port not in _handed_out and _bindable(host, port):
                _handed_out.add(port)
                return port
    raise OSError(f"no free port in {low}-{high} on {host}")


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
