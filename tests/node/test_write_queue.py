"""The writer thread: group commit, order of other writes, failures reach the waiting caller."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import Transaction, make_transaction
from v11node.node import _genesis
from v11node.storage import LedgerStorage, open_storage
from v11node.writer import WriteQueue

ALLOC = {dev_address(i): 1_000 for i in range(3)}


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[LedgerStorage]:
    st = open_storage(f"sqlite:///{tmp_path / 'ledger.db'}")
    st.initialize_genesis(ALLOC, _genesis(ALLOC))
    yield st
    st.close()


def _rows(*nonces: int) -> list[tuple[bytes, Transaction, int]]:
    txs = [make_transaction(dev_signing_key(0), dev_address(1), 1, n) for n in nonces]
    return [(t.hash, t, 1) for t in txs]


def test_inserts_queued_together_commit_as_one_group_and_other_writes_go_first(
    storage: LedgerStorage,
) -> None:
    queue = WriteQueue(storage)
    release = threading.Event()
    order: list[str] = []

    async def run() -> None:
        # Hold the writer thread so that everything below is queued before it looks again.
        held = asyncio.ensure_future(queue.call(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        first = asyncio.ensure_future(queue.insert_pending(_rows(1, 2)))
        second = asyncio.ensure_future(queue.insert_pending(_rows(3)))
        replay = asyncio.ensure_future(queue.insert_pending(_rows(3, 4)))
        after = asyncio.ensure_future(
            queue.call(lambda: order.append(f"call saw {storage.pending_count()} pending"))
        )
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(held, first, second, replay, after)
        # In the same group, the first request with a transaction has it; a copy is a replay.
        new.extend([first.result(), second.result(), replay.result()])

    new: list[list[bool]] = []
    try:
        asyncio.run(run())
    finally:
        queue.close()
    assert queue.group_commits == 1, "the inserts went into one database transaction"
    # A block commit empties the pool that inserts fill: it goes ahead of queued inserts.
    assert order == ["call saw 0 pending"], "the later write ran ahead of the queued inserts"
    assert new == [[True, True], [True], [False, True]]


def test_a_failed_group_commit_fails_every_waiting_insert(storage: LedgerStorage) -> None:
    queue = WriteQueue(storage)
    storage.close()  # every write now fails

    async def run() -> list[BaseException | None]:
        results = await asyncio.gather(
            queue.insert_pending(_rows(1)), queue.insert_pending(_rows(2)), return_exceptions=True
        )
        return list(results)

    try:
        results = asyncio.run(run())
    finally:
        queue.close()
    assert all(isinstance(r, Exception) for r in results), results
    assert queue.group_commits == 0


def test_a_write_that_raises_reaches_its_caller_and_the_thread_goes_on(
    storage: LedgerStorage,
) -> None:
    queue = WriteQueue(storage)

    def boom() -> None:
        raise ValueError("bad write")

    try:
        with pytest.raises(ValueError, match="bad write"):
            queue.call_sync(boom)
        assert queue.call_sync(storage.pending_count) == 0
    finally:
        queue.close()


def test_closing_stops_after_the_queued_inserts_are_committed(storage: LedgerStorage) -> None:
    queue = WriteQueue(storage)
    release = threading.Event()

    async def run() -> None:
        held = asyncio.ensure_future(queue.call(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        inserted = asyncio.ensure_future(queue.insert_pending(_rows(1)))
        await asyncio.sleep(0.05)
        closing = asyncio.ensure_future(asyncio.to_thread(queue.close))  # queued behind both
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.wait_for(asyncio.gather(held, inserted, closing), 10)

    asyncio.run(run())
    assert storage.pending_count() == 1 and queue.group_commits == 1


def test_a_group_stops_at_its_row_bound_so_a_block_never_waits_long(
    storage: LedgerStorage,
) -> None:
    queue = WriteQueue(storage, max_group_rows=2)
    release = threading.Event()

    async def run() -> None:
        held = asyncio.ensure_future(queue.call(lambda: release.wait(10)))
        await asyncio.sleep(0.05)
        inserts = [asyncio.ensure_future(queue.insert_pending(_rows(n))) for n in (1, 2, 3)]
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.wait_for(asyncio.gather(held, *inserts), 10)

    try:
        asyncio.run(run())
    finally:
        queue.close()
    assert queue.group_commits == 2, "three rows with a bound of two make two groups"
    assert storage.pending_count() == 3
