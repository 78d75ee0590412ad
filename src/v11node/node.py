"""The node's lifecycle: open and recover storage, produce blocks, heartbeat, drain, stop."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import structlog

from v11node import __version__
from v11node.api.keys import KeyRing
from v11node.faults import Faults
from v11node.ledger.accounts import dev_genesis, load_genesis
from v11node.ledger.block import ZERO_HASH, Block, BlockHeader, genesis_merkle_root
from v11node.ledger.transaction import Transaction, tx_hash
from v11node.metrics import NodeMetrics
from v11node.producer import BlockProducer, ProducerSettings
from v11node.storage import LedgerStorage, StorageError, open_storage
from v11node.verifier import Verifier
from v11node.writer import WriteQueue

log = structlog.get_logger("v11node.node")


@dataclass(frozen=True)
class NodeSettings:
    db_url: str
    node_id: str = "node-1"
    release: str = __version__
    data_dir: Path = Path(".v11node")
    genesis_file: Path | None = None
    block_interval_s: float = 0.25
    max_block_txs: int = 5_000
    lease_ttl_s: float = 2.0
    max_batch: int = 1_000
    # Refuse new transactions (503, Retry-After) while this many are pending: overload shows as
    # a refusal the client can retry, not as confirmations that fall ever further behind.
    # 0: no bound. Checked against the count the heartbeat reads each second.
    max_pending: int = 200_000
    max_body_bytes: int = 4 * 1024 * 1024
    # Hashes only (see v11node.api.keys). API keys: required for writes when any is configured;
    # admin keys: required for /admin routes, which otherwise answer direct loopback calls only.
    api_keys: KeyRing = field(default_factory=KeyRing)
    admin_keys: KeyRing = field(default_factory=KeyRing)
    rate_limit_per_s: float = 0.0  # per client address; 0 disables
    key_rate_limit_per_s: float = 0.0  # per API key; 0 disables
    max_header_bytes: int = 16 * 1024  # request line and headers together
    max_headers: int = 100
    cors_origins: tuple[str, ...] = ()  # none: no CORS headers at all
    verify_threads: int = field(default_factory=lambda: os.cpu_count() or 2)
    # Worker processes that verify signatures off this process's GIL; 0: threads only.
    verify_processes: int = field(default_factory=lambda: os.cpu_count() or 2)
    faults: Faults = field(default_factory=Faults)


class Node:
    """Owns storage, the writer thread, the verifier pool and the block producer."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.metrics = NodeMetrics(settings.release, settings.node_id, _backend(settings.db_url))
        self.storage: LedgerStorage | None = None
        self.writer: WriteQueue | None = None
        self.producer: BlockProducer | None = None
        self.verifier = Verifier(settings.verify_processes, settings.verify_threads)
        self.started = False
        self.storage_ready = False
        self.draining = False
        self.ready_at: float | None = None
        self.pending = 0  # transactions waiting for a block, as the heartbeat last counted them
        self.start_error: str | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self.started = True
        await self.verifier.start()
        storage = await asyncio.to_thread(open_storage, self.settings.db_url)
        self.storage = storage
        self.metrics.attach_storage(storage)
        tip = await asyncio.to_thread(storage.get_block, 0)
        if tip is None:  # a new database: write the genesis block (skipped on restart: it is slow)
            allocation = (
                load_genesis(self.settings.genesis_file)
                if self.settings.genesis_file
                else await asyncio.to_thread(dev_genesis)
            )
            tip = await asyncio.to_thread(
                storage.initialize_genesis, allocation, _genesis(allocation)
            )
        self.writer = WriteQueue(storage)
        self.producer = BlockProducer(
            storage,
            self.writer,
            self.metrics,
            ProducerSettings(
                node_id=self.settings.node_id,
                block_interval_s=self.settings.block_interval_s,
                max_block_txs=self.settings.max_block_txs,
                lease_ttl_s=self.settings.lease_ttl_s,
            ),
        )
        latest = await asyncio.to_thread(storage.latest_block)
        self.metrics.block_height.set(latest.header.height if latest else tip.header.height)
        self.producer.start()
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
        self.storage_ready = True
        self.ready_at = time.monotonic()
        log.info(
            "storage open", backend=storage.backend, height=latest.header.height if latest else 0
        )
        if self.settings.faults.crash_after_s is not None:
            asyncio.get_running_loop().call_later(self.settings.faults.crash_after_s, _crash)

    def begin_drain(self) -> None:
        """Readiness goes down at once; requests already accepted still complete."""
        if not self.draining:
            self.draining = True
            self.metrics.ready.set(0)
            log.info("draining: readiness is now DOWN")

    async def stop(self) -> None:
        self.begin_drain()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self.producer is not None:
            await self.producer.stop()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        await self.verifier.close()
        if self.storage is not None:
            self.storage.close()
        self.metrics.detach()
        log.info("stopped")

    async def _heartbeat_loop(self) -> None:
        assert self.storage is not None and self.writer is not None
        storage, writer = self.storage, self.writer
        node_id, release = self.settings.node_id, self.settings.release
        while True:
            role = "LEADER" if self.producer and self.producer.is_leader else "FOLLOWER"
            try:
                await writer.call(partial(storage.heartbeat, node_id, role, release))
                nodes = await asyncio.to_thread(storage.active_nodes, 5_000)
                self.metrics.validators.set(len(nodes))
                self.pending = await asyncio.to_thread(storage.pending_count)
                self.metrics.queue_size.set(self.pending)
                if self.producer is not None and not self.producer.is_leader:
                    latest = await asyncio.to_thread(storage.latest_block)
                    if latest is not None:
                        self.metrics.block_height.set(latest.header.height)
            except StorageError as exc:
                log.warning("heartbeat failed", error=str(exc))
            await asyncio.sleep(1.0)

    def metrics_backend(self) -> str:
        return _backend(self.settings.db_url)

    # -- health --------------------------------------------------------------------------------
    @property
    def is_ready(self) -> bool:
        faults = self.settings.faults
        if not self.storage_ready or self.draining or faults.never_ready:
            return False
        assert self.ready_at is not None
        return time.monotonic() - self.ready_at >= faults.ready_delay_s

    @property
    def pool_full(self) -> bool:
        """True while the pending pool is at its bound (`max_pending`; 0: no bound)."""
        limit = self.settings.max_pending
        return bool(limit) and self.pending >= limit

    # -- transactions --------------------------------------------------------------------------
    async def verify_all(self, txs: list[Transaction], messages: list[bytes]) -> list[int]:
        """Indices of transactions whose signature fails, verified on all cores. `messages`:
        each transaction's signing bytes (computed once per request, also hashed by accept)."""
        return await self.verifier.verify(
            [(t.sender, m, t.signature) for t, m in zip(txs, messages, strict=True)]
        )

    async def accept(
        self, txs: list[Transaction], messages: list[bytes]
    ) -> tuple[list[bytes], list[bool]]:
        """Store verified transactions durably, once committed to disk: their hashes, and for each
        whether it is new (False: the same transaction was already stored, so it is not stored
        or applied again)."""
        assert self.writer is not None
        now_ms = int(time.time() * 1000)
        rows = [(tx_hash(m), tx, now_ms) for tx, m in zip(txs, messages, strict=True)]
        new = await self.writer.insert_pending(rows)
        stored = sum(new)
        self.metrics.transactions.labels("PENDING").inc(stored)
        if stored < len(new):
            self.metrics.transactions.labels("DUPLICATE").inc(len(new) - stored)
        return [h for h, _, _ in rows], new


def _genesis(allocation: dict[bytes, int]) -> Block:
    header = BlockHeader(
        height=0,
        previous_hash=ZERO_HASH,
        merkle_root=genesis_merkle_root(allocation),
        tx_count=0,
        timestamp_ms=0,
        producer_id="genesis",
        producer_epoch=0,
    )
    return Block(header=header, hash=header.compute_hash())


def _backend(url: str) -> str:
    return "postgresql" if url.startswith(("postgres://", "postgresql://")) else "sqlite"


def _crash() -> None:
    log.error("V11_FAULT_CRASH_AFTER_S: exiting abruptly")
    os._exit(70)
