"""What one load process counted while it ran; the tallies of a run merge into its report."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field

# Error kinds: why a request got no usable answer. `client_saturated` means it was never launched.
CONNECT = "connect"
TIMEOUT = "timeout"
DISCONNECTED = "disconnected"
SERVER_ERROR = "5xx"
BAD_RESPONSE = "bad_response"
CLIENT_SATURATED = "client_saturated"
READ_FAILED = "read_failed"
WORKER_LOST = "worker_lost"
OTHER = "other"


@dataclass(slots=True)
class Tally:
    """Counters of one load process. Times are `time.perf_counter()` seconds (system-wide)."""

    started: float = 0.0
    finished: float = 0.0
    requests: int = 0
    transactions: int = 0
    accepted_requests: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    reads: int = 0
    reads_ok: int = 0
    read_latencies: array[float] = field(default_factory=lambda: array("d"))
    lags: array[float] = field(default_factory=lambda: array("d"))
    signed_ahead: int = 0
    signed_late: int = 0
    retired_accounts: int = 0
    hashes: list[str] = field(default_factory=list)
