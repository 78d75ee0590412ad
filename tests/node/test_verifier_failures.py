"""The verifier when its worker processes cannot start or die mid-request: threads take over and
the answer stays right."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from v11node import verifier as verifier_module
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction
from v11node.verifier import Item, Verifier


def _items(count: int, bad: set[int]) -> list[Item]:
    txs = [make_transaction(dev_signing_key(i % 5), dev_address(9), 1, i + 1) for i in range(count)]
    txs = [replace(t, amount=2) if i in bad else t for i, t in enumerate(txs)]
    return [(t.sender, t.signing_bytes(), t.signature) for t in txs]


def test_without_an_interpreter_for_workers_it_verifies_in_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(verifier_module.sys, "executable", "/nonexistent/python")

    async def run() -> tuple[int, list[int]]:
        verifier = Verifier(processes=2, threads=2)
        await verifier.start()
        try:
            return verifier.processes, await verifier.verify(_items(50, {3, 49}))
        finally:
            await verifier.close()

    processes, bad = asyncio.run(run())
    assert processes == 0
    assert bad == [3, 49]


def test_a_worker_killed_with_requests_in_flight_does_not_change_the_answer() -> None:
    items = _items(3000, {0, 1500, 2999})

    async def run() -> tuple[list[int], int]:
        verifier = Verifier(processes=1, threads=2, min_chunk=3000)
        await verifier.start()
        try:
            pending = asyncio.ensure_future(verifier.verify(items))
            await asyncio.sleep(0)  # the chunk is on its way to the worker
            verifier._workers[0].proc.kill()
            bad = await asyncio.wait_for(pending, 60)
            for _ in range(500):  # the worker's socket reports the death soon after
                if verifier.processes == 0:
                    break
                await asyncio.sleep(0.01)
            return bad, verifier.processes
        finally:
            await verifier.close()

    bad, processes = asyncio.run(run())
    assert bad == [0, 1500, 2999]
    assert processes == 0, "the dead worker is no longer used"
