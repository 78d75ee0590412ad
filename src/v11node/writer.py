"""One writer thread per node process, with group commit.

Every write of this process goes through one thread: SQLite allows one writer at a time, and
funnelling writes avoids lock convoys between threads. Transactions accepted by concurrent
requests are gathered into one database transaction (one fsync for all of them); each request's
future resolves only after that commit, so a 202 always means "on disk".

Every other write (a block, the lease, the heartbeat) goes ahead of queued inserts: a block is
what empties the pending pool, inserts are what fill it. In first-come order, an overloaded node
put each block behind seconds of inserts and committed 5k tx/s while accepting 21k (measured,
docs/benchmarks.md, session 5).
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from v11node.ledger.transaction import Transaction
from v11node.storage.base import LedgerStorage

T = TypeVar("T")
_STOP = object()
# Queue priorities: lower first; the counter keeps first-come order within a priority.
_CALL, _INSERT, _LAST = 0, 1, 2


class WriteQueue:
    def __init__(self, storage: LedgerStorage, max_group_rows: int = 2_000) -> None:
        self._storage = storage
        # Bounds how long a block waits for the group in progress (about 50 µs a row on SQLite).
        self._max_group_rows = max_group_rows
        self._queue: queue.PriorityQueue[tuple[int, int, Any]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._run, name="v11-writer", daemon=True)
        self.group_commits = 0
        self._thread.start()

    async def insert_pending(self, rows: list[tuple[bytes, Transaction, int]]) -> list[bool]:
        """Per row, True if this call stored it; False for a transaction already stored (by an
        earlier request, a concurrent one in the same group, or earlier in these rows)."""
        fut: Future[list[bool]] = Future()
        self._put(_INSERT, ("pending", rows, fut))
        return await asyncio.wrap_future(fut)

    async def call(self, fn: Callable[[], T]) -> T:
        """Run any other write (block commit, lease) on the writer thread."""
        fut: Future[T] = Future()
        self._put(_CALL, ("call", fn, fut))
        return await asyncio.wrap_future(fut)

    def call_sync(self, fn: Callable[[], T]) -> T:
        fut: Future[T] = Future()
        self._put(_CALL, ("call", fn, fut))
        return fut.result()

    def close(self) -> None:
        """Finish every write queued so far, then stop the thread."""
        self._put(_LAST, _STOP)
        self._thread.join(timeout=30)

    def _put(self, priority: int, item: Any) -> None:
        self._queue.put((priority, next(self._order), item))

    def _get(self, block: bool = True) -> Any:
        return self._queue.get(block)[2]

    def _run(self) -> None:
        while True:
            item = self._get()
            if item is _STOP:
                return
            kind, payload, fut = item
            if kind == "call":
                _resolve(fut, payload)
                continue
            group = [(payload, fut)]
            rows = len(payload)
            deferred = None
            while rows < self._max_group_rows:
                try:
                    nxt = self._get(block=False)
                except queue.Empty:
                    break
                if nxt is _STOP or nxt[0] != "pending":
                    deferred = nxt
                    break
                group.append((nxt[1], nxt[2]))
                rows += len(nxt[1])
            self._commit_group(group)
            if deferred is _STOP:
                return
            if deferred is not None:
                _resolve(deferred[2], deferred[1])

    def _commit_group(self, group: list[tuple[list[tuple[bytes, Transaction, int]], Any]]) -> None:
        # A cancelled request (client gone) is still written: harmless, it was never acknowledged.
        group = [(rows, fut) for rows, fut in group if fut.set_running_or_notify_cancel() or True]
        all_rows = [row for rows, _ in group for row in rows]
        try:
            unclaimed = self._storage.insert_pending(all_rows)
        except BaseException as exc:
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.group_commits += 1
        for rows, fut in group:
            new = _claim(rows, unclaimed)
            if not fut.done():
                fut.set_result(new)


def _claim(rows: list[tuple[bytes, Transaction, int]], unclaimed: set[bytes]) -> list[bool]:
    """The first row of a stored hash claims it (in queue order); later copies are duplicates."""
    new = []
    for tx_hash, _, _ in rows:
        stored = tx_hash in unclaimed
        if stored:
            unclaimed.discard(tx_hash)
        new.append(stored)
    return new


def _resolve(fut: Future[Any], fn: Callable[[], Any]) -> None:
    if not fut.set_running_or_notify_cancel():
        return  # the caller went away (cancelled): nothing to run for it
    try:
        fut.set_result(fn())
    except BaseException as exc:
        fut.set_exception(exc)
