"""The open-model driver of one load process: requests leave on schedule, whatever the answers do.

A request that cannot leave on time (the in-flight cap is reached, or every account already has a
request in flight) is counted as `client_saturated` rather than sent late, so a slow node shows up
as errors and latency, never as a quietly lower offered rate.

Per-sender order: an account is in at most one request at a time (a free-account queue), because
the node applies transactions in arrival order and a later nonce stored first would get the
earlier one rejected. An account whose request ended without an answer (timeout, dropped
connection) may still be in the node's hands, so it is retired for the rest of the run.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import deque
from collections.abc import Coroutine
from typing import Any

import orjson

from v11ops.load import tally as kinds
from v11ops.load.http import LoadClient, Response, TransportError
from v11ops.load.plan import WorkerPlan
from v11ops.load.presign import Account, plan_accounts, presign
from v11ops.load.tally import Tally

TRANSACTIONS_PATH = "/api/v11/transactions"
READ_PATHS = ("/api/v11/stats", "/api/v11/info")
# Launch at most this many overdue requests before letting the event loop run the ones launched.
_BURST = 64


def prepare(plan: WorkerPlan) -> tuple[list[Account], Tally]:
    """Sign this process's share of the run ahead of the clock."""
    planned = plan_accounts(plan.accounts, plan.spec.batch, plan.requests)
    accounts = presign(planned, plan.sign_threads)
    tally = Tally(signed_ahead=sum(count for _, count in planned) * plan.spec.batch)
    return accounts, tally


def make_client(plan: WorkerPlan) -> LoadClient:
    spec = plan.spec
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if spec.api_key:
        headers["X-API-Key"] = spec.api_key
    return LoadClient(spec.target, headers, spec.timeout_s)


async def drive(plan: WorkerPlan, accounts: list[Account], tally: Tally) -> Tally:
    """Run this process's schedule against the target and return the filled-in tally."""
    async with make_client(plan) as client:
        await Driver(plan, accounts, client, tally).run()
    return tally


class Driver:
    """Launches one process's requests on schedule and counts what comes back."""

    def __init__(
        self, plan: WorkerPlan, accounts: list[Account], client: LoadClient, tally: Tally
    ) -> None:
        self._plan = plan
        self._spec = plan.spec
        self._client = client
        self._tally = tally
        self._free: deque[Account] = deque(accounts)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_answer = 0.0

    async def run(self) -> None:
        plan, spec, tally = self._plan, self._spec, self._tally
        start = time.perf_counter()
        tally.started = start
        slot = writes = burst = 0
        while writes < plan.requests:
            due = start + plan.slot_time(slot)
            wait = due - time.perf_counter()
            if wait > 0:
                burst = 0
                await asyncio.sleep(wait)
            elif burst >= _BURST:
                burst = 0
                await asyncio.sleep(0)
            burst += 1
            if WorkerPlan.is_read(slot, spec.read_ratio):
                self._launch_read(due)
            else:
                writes += 1
                self._launch_write(due)
            slot += 1
        await self._drain(deadline=start + spec.duration_s + spec.grace_s)
        tally.finished = self._last_answer or time.perf_counter()

    async def _drain(self, deadline: float) -> None:
        if not self._tasks:
            return
        _, unfinished = await asyncio.wait(
            set(self._tasks), timeout=max(0.0, deadline - time.perf_counter())
        )
        # The hard stop: whatever is still waiting is a timeout, and nothing outlives the run.
        for task in unfinished:
            task.cancel()
            self._tally.errors[kinds.TIMEOUT] += 1
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)

    def _saturated(self) -> bool:
        return len(self._tasks) >= self._plan.max_in_flight

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _launch_write(self, due: float) -> None:
        tally = self._tally
        if self._saturated() or not self._free:
            tally.errors[kinds.CLIENT_SATURATED] += 1
            return
        account = self._free.popleft()
        body, late = account.take()
        if late:
            tally.signed_late += account.batch
        tally.requests += 1
        tally.transactions += account.batch
        self._spawn(self._write(account, body, due))

    def _launch_read(self, due: float) -> None:
        if self._saturated():
            self._tally.errors[kinds.CLIENT_SATURATED] += 1
            return
        path = READ_PATHS[self._tally.reads % len(READ_PATHS)]
        self._tally.reads += 1
        self._spawn(self._read(path, due))

    async def _write(self, account: Account, body: bytes, due: float) -> None:
        tally = self._tally
        tally.lags.append(max(0.0, time.perf_counter() - due))
        reusable = False  # also when cancelled at the hard stop: the node may still have it
        try:
            response = await self._client.post(TRANSACTIONS_PATH, body)
        except TransportError as exc:
            kind, reusable = _transport_error(exc)
            tally.errors[kind] += 1
        except Exception:  # a defect must show in the counts, not vanish with its task
            tally.errors[kinds.OTHER] += 1
        else:
            reusable = True
            self._answered(tally.latencies, due)
            self._record_write(response)
        finally:
            if reusable:
                self._free.append(account)
            else:
                tally.retired_accounts += 1

    def _record_write(self, response: Response) -> None:
        tally, status = self._tally, response.status_code
        tally.statuses[str(status)] += 1
        if status == 202:
            hashes = _hashes(response.content)
            if hashes is None:
                tally.errors[kinds.BAD_RESPONSE] += 1
                return
            tally.accepted_requests += 1
            tally.accepted += len(hashes)
            if self._spec.collect_hashes:
                tally.hashes.extend(hashes)
        elif 400 <= status < 500:
            tally.rejected[str(status)] += 1
        elif status >= 500:
            tally.errors[kinds.SERVER_ERROR] += 1
        else:
            tally.errors[kinds.BAD_RESPONSE] += 1

    async def _read(self, path: str, due: float) -> None:
        tally = self._tally
        try:
            response = await self._client.get(path)
        except TransportError as exc:
            tally.errors[_transport_error(exc)[0]] += 1
            return
        except Exception:  # as in _write
            tally.errors[kinds.OTHER] += 1
            return
        self._answered(tally.read_latencies, due)
        if 200 <= response.status_code < 300:
            tally.reads_ok += 1
        else:
            tally.errors[kinds.READ_FAILED] += 1

    def _answered(self, latencies: array[float], due: float) -> None:
        now = time.perf_counter()
        self._last_answer = max(self._last_answer, now)
        latencies.append(now - due)


def _transport_error(exc: TransportError) -> tuple[str, bool]:
    """Error kind, and whether the request surely never reached the node (account reusable)."""
    return exc.kind, not exc.may_have_arrived


def _hashes(content: bytes) -> list[str] | None:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    hashes = body.get("hashes") if isinstance(body, dict) else None
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        return None
    return hashes


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where installed (less client overhead per request), else the standard loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop
