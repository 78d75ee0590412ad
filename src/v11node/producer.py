"""The block producer: exactly one node at a time, fenced by the producer lease.

Every round the node renews (or tries to take) the lease. The holder takes pending transactions
in arrival order, applies the ledger rules and writes the block, the status changes and the new
balances in one database transaction that re-checks the lease epoch: a producer whose lease was
taken over cannot write (its epoch is stale), so there is never a fork or a repeated height.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import structlog

from v11node.ledger.block import Block, BlockHeader, merkle_root
from v11node.ledger.state import apply_transactions
from v11node.metrics import NodeMetrics
from v11node.storage.base import (
    BlockCommit,
    FencingError,
    LedgerStorage,
    PendingRow,
    StorageError,
)
from v11node.writer import WriteQueue

log = structlog.get_logger("v11node.producer")


@dataclass(frozen=True)
class ProducerSettings:
    node_id: str
    block_interval_s: float = 0.25
    max_block_txs: int = 5_000
    lease_ttl_s: float = 2.0
    yield_hold_s: float = 3.0  # after yielding, leave the lease to the new slot this long


class BlockProducer:
    def __init__(
        self,
        storage: LedgerStorage,
        writer: WriteQueue,
        metrics: NodeMetrics,
        settings: ProducerSettings,
    ) -> None:
        self.storage = storage
        self.writer = writer
        self.metrics = metrics
        self.settings = settings
        self.epoch = 0
        self.seen_epoch = 0
        self.is_leader = False
        self.tip: Block | None = None
        self.healthy = True
        self.last_error: str | None = None
        self._hold_until = 0.0
        self._stopping = False
        self._round_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="block-producer")

    async def _loop(self) -> None:
        while not self._stopping:
            started = time.monotonic()
            full = False
            try:
                full = await self.run_round()
                self.healthy = True
            except StorageError as exc:
                self.healthy = False
                self.last_error = str(exc)
                self.metrics.consensus_failures.inc()
                log.warning("producer round failed", error=str(exc))
            # A full block means more is waiting: the next one starts at once, not after the
            # interval (a block is due every interval or as soon as a batch is full).
            wait = (
                0.0
                if full
                else max(self.settings.block_interval_s - (time.monotonic() - started), 0.01)
            )
            await asyncio.sleep(wait)

    async def run_round(self) -> bool:
        """Renew the lease and, as the leader, write one block; True when the batch was full."""
        async with self._round_lock:
            await self._refresh_lease()
            return await self._produce() if self.is_leader else False

    async def _refresh_lease(self) -> None:
        ttl_ms = int(self.settings.lease_ttl_s * 1000)
        if time.monotonic() < self._hold_until and not self.is_leader:
            lease = await asyncio.to_thread(self.storage.read_lease)
        else:
            node = self.settings.node_id
            lease = await self.writer.call(lambda: self.storage.acquire_lease(node, ttl_ms))
        leader = lease.holder == self.settings.node_id
        if lease.epoch != self.seen_epoch:
            if self.seen_epoch:
                self.metrics.leader_changes.inc()
            log.info("producer lease epoch changed", holder=lease.holder, epoch=lease.epoch)
            self.seen_epoch = lease.epoch
        if leader and not self.is_leader:
            log.info("became block producer", epoch=lease.epoch)
            self.tip = None
        self.is_leader = leader
        self.epoch = lease.epoch if leader else 0
        self.metrics.is_leader.set(1 if leader else 0)

    async def _produce(self) -> bool:
        limit = self.settings.max_block_txs
        batch = await asyncio.to_thread(self.storage.pending_for_block, limit)
        if not batch:
            return False
        started = time.perf_counter()
        if self.tip is None:
            self.tip = await asyncio.to_thread(self.storage.latest_block)
        tip = self.tip
        assert tip is not None, "the genesis block is written before the producer starts"
        addresses = {p[1] for p in batch} | {p[2] for p in batch}
        accounts = await asyncio.to_thread(self.storage.get_accounts, addresses)
        rows = [(p[1], p[2], p[3], p[4]) for p in batch]
        outcome = apply_transactions(rows, accounts)
        now_ms = int(time.time() * 1000)
        confirmed = [(batch[i][6], batch[i][0]) for i in outcome.confirmed]
        block = None
        if confirmed:
            header = BlockHeader(
                height=tip.header.height + 1,
                previous_hash=tip.hash,
                merkle_root=merkle_root([tx_hash for _, tx_hash in confirmed]),
                tx_count=len(confirmed),
                timestamp_ms=max(now_ms, tip.header.timestamp_ms),
                producer_id=self.settings.node_id,
                producer_epoch=self.epoch,
            )
            block = Block(header=header, hash=header.compute_hash())
        commit = BlockCommit(
            block=block or tip,
            confirmed=confirmed,
            rejected=[(batch[i][0], reason) for i, reason in outcome.rejected],
            accounts=outcome.accounts,
            decided_ms=now_ms,
        )
        node, epoch = self.settings.node_id, self.epoch
        try:
            await self.writer.call(lambda: self._commit(commit, block is not None, node, epoch))
        except (FencingError, StorageError):
            self.tip = None  # reload the tip: another producer may have extended the chain
            self.is_leader = False
            raise
        self._record(batch, outcome.confirmed, len(outcome.rejected), now_ms, started)
        if block is not None:
            self.tip = block
            self.metrics.block_height.set(block.header.height)
        return len(batch) >= limit

    def _commit(self, commit: BlockCommit, new_block: bool, node: str, epoch: int) -> None:
        if new_block:
            self.storage.commit_block(commit, node, epoch)
        else:
            # Only rejections: no block, but the statuses are still fenced on the lease.
            self.storage.commit_block(
                BlockCommit(commit.block, [], commit.rejected, {}, commit.decided_ms),
                node,
                epoch,
                write_block=False,
            )

    def _record(
        self,
        batch: list[PendingRow],
        confirmed: list[int],
        rejected: int,
        now_ms: int,
        started: float,
    ) -> None:
        m = self.metrics
        m.rounds.inc()
        m.round_duration.observe(time.perf_counter() - started)
        if confirmed:
            m.blocks.inc()
        m.processed.inc(len(confirmed))
        m.transactions.labels("CONFIRMED").inc(len(confirmed))
        m.transactions.labels("REJECTED").inc(rejected)
        m.failed.inc(rejected)
        m.value_transferred.inc(sum(batch[i][3] for i in confirmed))
        m.active_accounts.saw(batch[i][1] for i in confirmed)
        observe = m.tx_duration.observe
        for i in confirmed:
            observe(max(now_ms - batch[i][5], 0) / 1000)

    def yield_hold(self) -> None:
        self._hold_until = time.monotonic() + self.settings.yield_hold_s

    async def yield_lease(self) -> dict[str, object]:
        """Commit what is pending, then release the lease and stay away for `yield_hold_s`."""
        async with self._round_lock:
            if self.is_leader:
                await self._produce()
            self.yield_hold()
            released = False
            if self.is_leader:
                node, epoch = self.settings.node_id, self.epoch
                released = await self.writer.call(lambda: self.storage.release_lease(node, epoch))
            was_epoch = self.epoch
            self.is_leader = False
            self.epoch = 0
            self.metrics.is_leader.set(0)
        log.info("yielded the producer lease", released=released, epoch=was_epoch)
        return {"released": released, "epoch": was_epoch, "holdSeconds": self.settings.yield_hold_s}

    async def stop(self) -> None:
        """Stop producing: commit what is pending (if leader) and release the lease."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.yield_lease()
        except StorageError as exc:
            log.warning("could not hand over the lease at shutdown", error=str(exc))
