"""What a load run is asked to do, checked before anything is signed or sent."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

import httpx

from v11node.ledger.accounts import DEV_ACCOUNT_COUNT

MAX_BATCH = 1000
MAX_DURATION_S = 3600.0
MAX_READ_RATIO = 0.95
# Every transaction is signed ahead and kept in memory (about 320 bytes each) until it is sent.
MAX_TRANSACTIONS = 2_000_000
MAX_WORKERS = 32


class LoadSpecError(ValueError):
    """The load spec asks for something impossible or unsafe; the message says what to change."""


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """A bounded, open-model load run: `rate` transactions per second for `duration_s` seconds.

    Each write request carries `batch` transactions from one sender; `accounts` funded development
    accounts (starting at `first_account`) sign them, split between `workers` processes. At most
    `max_in_flight` requests per worker are outstanding; a request that cannot be launched on
    schedule is counted as `client_saturated`, never delayed. A fraction `read_ratio` of all
    requests are GETs of read endpoints. Targets off this machine need `allow_remote`.
    """

    target: str
    rate: float
    duration_s: float
    batch: int = 1
    accounts: int = 1000
    workers: int = 1
    api_key: str | None = None
    read_ratio: float = 0.0
    max_in_flight: int = 256
    timeout_s: float = 5.0
    first_account: int = 0
    collect_hashes: bool = False
    allow_remote: bool = False

    def __post_init__(self) -> None:
        _check_target(self.target, self.allow_remote)
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise LoadSpecError(f"rate must be > 0 transactions per second, got {self.rate}")
        if not (math.isfinite(self.duration_s) and 0 < self.duration_s <= MAX_DURATION_S):
            raise LoadSpecError(
                f"duration must be > 0 and <= {MAX_DURATION_S:g} s, got {self.duration_s}"
            )
        if not 1 <= self.batch <= MAX_BATCH:
            raise LoadSpecError(f"batch must be 1..{MAX_BATCH} transactions, got {self.batch}")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise LoadSpecError(f"workers must be 1..{MAX_WORKERS}, got {self.workers}")
        if not self.workers <= self.accounts:
            raise LoadSpecError(
                f"accounts ({self.accounts}) must be at least workers ({self.workers}): "
                "each worker signs for its own accounts"
            )
        if not 0 <= self.first_account <= DEV_ACCOUNT_COUNT - self.accounts:
            raise LoadSpecError(
                f"accounts {self.first_account}..{self.first_account + self.accounts - 1} are not "
                f"all development accounts (0..{DEV_ACCOUNT_COUNT - 1}): lower --accounts"
            )
        if not (math.isfinite(self.read_ratio) and 0 <= self.read_ratio <= MAX_READ_RATIO):
            raise LoadSpecError(
                f"read ratio must be 0..{MAX_READ_RATIO} (fraction of requests that are reads), "
                f"got {self.read_ratio}"
            )
        if self.max_in_flight < 1:
            raise LoadSpecError(f"max in flight must be >= 1, got {self.max_in_flight}")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise LoadSpecError(f"timeout must be > 0 s, got {self.timeout_s}")
        if self.transactions > MAX_TRANSACTIONS:
            raise LoadSpecError(
                f"rate x duration is {self.transactions:,} transactions, more than the "
                f"{MAX_TRANSACTIONS:,} that are signed ahead: lower --rate or --duration"
            )

    @property
    def requests(self) -> int:
        """Write requests in the whole run (at least one)."""
        return max(1, round(self.rate * self.duration_s / self.batch))

    @property
    def transactions(self) -> int:
        """Transactions in the whole run."""
        return self.requests * self.batch

    @property
    def grace_s(self) -> float:
        """How long after the schedule ends answers are still awaited before the hard stop."""
        return self.timeout_s + 1.0


def _check_target(target: str, allow_remote: bool) -> None:
    try:
        url = httpx.URL(target)
    except (httpx.InvalidURL, TypeError) as exc:
        raise LoadSpecError(
            f"target {target!r} is not a URL ({exc}): use http://HOST:PORT"
        ) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise LoadSpecError(f"target {target!r} is not an http(s) URL: use http://HOST:PORT")
    if url.query or url.fragment:
        raise LoadSpecError(f"target {target!r} has a query or fragment: give the base URL only")
    if not allow_remote and not is_loopback(url.host):
        raise LoadSpecError(f"{url.host} is not on this machine: pass --allow-remote to load it")


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
