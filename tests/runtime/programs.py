"""Tiny child programs for runtime tests, and bounded waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from v11ops.config import ResolvedRelease

ReleaseFactory = Callable[..., ResolvedRelease]

PROGRAMS = {
    # Answers HTTP until SIGTERM (the default action ends it).
    "http_server.py": """
import http.server, sys
handler = http.server.SimpleHTTPRequestHandler
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
""",
    # Ignores SIGTERM; writes a file once the handler is in place.
    "ignore_term.py": """
import pathlib, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[2]).write_text("ready")
time.sleep(120)
""",
    # Exits on SIGTERM, but leaves a helper in its process group that ignores SIGTERM.
    "leaves_helper.py": """
import pathlib, signal, subprocess, sys, time
helper = subprocess.Popen([sys.executable, "-c",
    "import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    "pathlib.Path(sys.argv[1]).write_text('ready'); time.sleep(120)", sys.argv[2]])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
time.sleep(120)
""",
    # Exits with code 3 the first time (a flag file remembers), then runs.
    "crash_once.py": """
import pathlib, sys, time
flag = pathlib.Path(sys.argv[2])
if not flag.exists():
    flag.write_text("crashed once")
    sys.exit(3)
time.sleep(120)
""",
    # Always exits with code 3 shortly after starting.
    "crash.py": """
import sys, time
time.sleep(0.05)
sys.exit(3)
""",
    "sleep.py": """
import time
time.sleep(120)
""",
}


def eventually(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Wait until `predicate()` holds (bounded); fail the test otherwise."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


async def eventually_async(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.02)
