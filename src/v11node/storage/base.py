"""The storage interface, written once in SQL for both backends.

SQLite and PostgreSQL share every query; a backend only supplies connections, DDL and a few
dialect expressions. Writes are always in one explicit transaction that is durable when it
returns (SQLite: WAL with synchronous=FULL; PostgreSQL: synchronous_commit on), which is what
"acknowledged means durable" rests on.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from v11node.ledger.block import Block, BlockHeader
from v11node.ledger.transaction import Transaction


class StorageError(RuntimeError):
    """The database failed or holds data this node cannot use."""


class FencingError(StorageError):
    """A block write was refused: this node no longer holds the producer lease at its epoch."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def execute(self, query: Any, params: Any = ..., /) -> Any: ...
    def executemany(self, query: Any, params: Any, /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str | None
    epoch: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class PendingTx:
    seq: int
    hash: bytes
    tx: Transaction
    accepted_ms: int


# (hash, sender, recipient, amount, nonce, accepted_ms, seq)
PendingRow = tuple[bytes, bytes, bytes, int, int, int, int]


@dataclass(frozen=True, slots=True)
class TxRecord:
    hash: bytes
    tx: Transaction
    status: str
    accepted_ms: int
    block_height: int | None
    block_index: int | None
    reason: str | None
    decided_ms: int | None


@dataclass(frozen=True, slots=True)
class BlockCommit:
    """Everything one block changes, written in one transaction fenced on the producer epoch."""

    block: Block
    # (seq, tx hash) in block order: rows are found by seq (the table's key, in arrival order,
    # so recent rows share hot pages) rather than through the hash index, whose random pages
    # cost a cache miss each on a large ledger; the hash is checked too.
    confirmed: Sequence[tuple[int, bytes]]
    rejected: Sequence[tuple[bytes, str]]  # (tx hash, reason)
    accounts: dict[bytes, tuple[int, int]]  # address -> (balance, nonce) after the block
    decided_ms: int


_TX_COLUMNS = "hash, sender, recipient, amount, nonce, memo, signature"


def _tx_from_row(row: Sequence[Any]) -> Transaction:
    return Transaction(
        sender=bytes(row[1]),
        recipient=bytes(row[2]),
        amount=int(row[3]),
        nonce=int(row[4]),
        memo=row[5] or "",
        signature=bytes(row[6]),
    )


def _block_from_row(row: Sequence[Any]) -> Block:
    header = BlockHeader(
        height=int(row[0]),
        previous_hash=bytes(row[2]),
        merkle_root=bytes(row[3]),
        tx_count=int(row[4]),
        timestamp_ms=int(row[5]),
        producer_id=str(row[6]),
        producer_epoch=int(row[7]),
    )
    return Block(header=header, hash=bytes(row[1]))


class LedgerStorage(ABC):
    """Ledger tables and the producer lease. Thread-safe: each thread uses its own connection."""

    backend: str
    url: str

    # -- backend hooks -------------------------------------------------------------------------
    @abstractmethod
    def _read(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor for reads (autocommit or a read transaction)."""

    @abstractmethod
    def _write(self) -> contextlib.AbstractContextManager[Cursor]:
        """A cursor inside one write transaction; durable once the context exits."""

    @abstractmethod
    def _ddl(self) -> list[str]: ...

    @abstractmethod
    def _now_ms_sql(self) -> str:
        """SQL for the database clock in epoch milliseconds (the one clock all nodes share)."""

    @abstractmethod
    def _lock_lease_sql(self) -> str:
        """SELECT of the lease row that also locks it until the transaction ends."""

    @abstractmethod
    def _sql(self, query: str) -> str:
        """Adapt `?` placeholders to the driver's style."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def pool_stats(self) -> tuple[int, int, int]:
        """(connections in use, idle connections, maximum)."""

    # -- schema --------------------------------------------------------------------------------
    def create_schema(self) -> None:
        """Create a new database at the base schema version; accept any version this node knows
        (migrations.py moves a database forward)."""
        from v11node.storage.migrations import BASE_VERSION, parse_version

        with self._write() as cur:
            for statement in self._ddl():
                cur.execute(statement)
            cur.execute(
                self._sql(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
                ),
                ("schema_version", str(BASE_VERSION)),
            )
            cur.execute(
                self._sql(
                    "INSERT INTO producer_lease (id, holder, epoch, expires_ms)"
                    " VALUES (1, NULL, 0, 0)"
                    " ON CONFLICT (id) DO NOTHING"
                )
            )
            cur.execute(self._sql("SELECT value FROM meta WHERE key = ?"), ("schema_version",))
            found = cur.fetchone()[0]
        parse_version(found)

    def initialize_genesis(self, allocation: dict[bytes, int], genesis: Block) -> Block:
        """Write the genesis block and balances once; return the block that is stored."""
        with self._write() as cur:
            cur.execute(self._sql("SELECT COUNT(*) FROM blocks WHERE height = 0"))
            if cur.fetchone()[0] == 0:
                rows = [(addr, bal) for addr, bal in sorted(allocation.items())]
                cur.executemany(
                    self._sql("INSERT INTO genesis (address, balance) VALUES (?, ?)"), rows
                )
                cur.executemany(
                    self._sql("INSERT INTO accounts (address, balance, nonce) VALUES (?, ?, 0)"),
                    rows,
                )
                self._insert_block(cur, genesis)
        stored = self.get_block(0)
        assert stored is not None
        return stored

    # -- transactions --------------------------------------------------------------------------
    def insert_pending(self, rows: Iterable[tuple[bytes, Transaction, int]]) -> set[bytes]:
        """Store transactions as PENDING; a hash already stored is left as it is. Returns the
        hashes this call stored (a replayed transaction is not among them)."""
        params = [
            (h, t.sender, t.recipient, t.amount, t.nonce, t.memo, t.signature, ms)
            for h, t, ms in rows
        ]
        with self._write() as cur:
            return self._insert_pending_rows(cur, params)

    def _insert_pending_rows(self, cur: Cursor, params: list[tuple[Any, ...]]) -> set[bytes]:
        """Insert in list order (the arrival order the producer follows).

        SQLite's write transaction holds the database's only write lock, so the rows numbered
        after the largest seq seen at its start are exactly the ones this statement inserted;
        they are read back only in the rare case that some row was a duplicate."""
        cur.execute("SELECT COALESCE(MAX(seq), 0) FROM transactions")
        last_seq = int(cur.fetchone()[0])
        cur.executemany(
            self._sql(
                f"INSERT INTO transactions ({_TX_COLUMNS}, status, accepted_ms)"  # nosec B608: constant column list, values bound
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'PENDING', ?) ON CONFLICT (hash) DO NOTHING"
            ),
            params,
        )
        if cur.rowcount == len(params):
            return {p[0] for p in params}
        cur.execute(self._sql("SELECT hash FROM transactions WHERE seq > ?"), (last_seq,))
        return {bytes(r[0]) for r in cur.fetchall()}

    def pending_batch(self, limit: int) -> list[PendingTx]:
        with self._read() as cur:
            cur.execute(
                self._sql(
                    f"SELECT seq, {_TX_COLUMNS}, accepted_ms FROM transactions"  # nosec B608: constant column list, values bound
                    " WHERE status = 'PENDING' ORDER BY seq LIMIT ?"
                ),
                (limit,),
            )
            rows = cur.fetchall()
        return [
            PendingTx(
                seq=int(r[0]), hash=bytes(r[1]), tx=_tx_from_row(r[1:]), accepted_ms=int(r[8])
            )
            for r in rows
        ]

    def pending_for_block(self, limit: int) -> list[PendingRow]:
        """What the block producer needs of the oldest pending transactions, in arrival order:
        (hash, sender, recipient, amount, nonce, accepted_ms, seq); no signatures, no objects."""
        with self._read() as cur:
            cur.execute(
                self._sql(
                    "SELECT hash, sender, recipient, amount, nonce, accepted_ms, seq"
                    " FROM transactions WHERE status = 'PENDING' ORDER BY seq LIMIT ?"
                ),
                (limit,),
            )
            rows = cur.fetchall()
        return [
            (bytes(r[0]), bytes(r[1]), bytes(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]))
            for r in rows
        ]

    def pending_count(self) -> int:
        with self._read() as cur:
            cur.execute("SELECT COUNT(*) FROM transactions WHERE status = 'PENDING'")
            return int(cur.fetchone()[0])

    def get_transaction(self, tx_hash: bytes) -> TxRecord | None:
        with self._read() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {_TX_COLUMNS}, status, accepted_ms, block_height, block_index,"  # nosec B608: constant column list, values bound
                    " reason, decided_ms FROM transactions WHERE hash = ?"
                ),
                (tx_hash,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return TxRecord(
            hash=bytes(row[0]),
            tx=_tx_from_row([None, *row[1:7]]),
            status=str(row[7]),
            accepted_ms=int(row[8]),
            block_height=row[9],
            block_index=row[10],
            reason=row[11],
            decided_ms=row[12],
        )

    def block_transactions(self, height: int) -> list[TxRecord]:
        """Confirmed transactions of one block, in block order."""
        with self._read() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {_TX_COLUMNS}, accepted_ms, block_index, decided_ms FROM transactions"  # nosec B608: constant column list, values bound
                    " WHERE block_height = ? ORDER BY block_index"
                ),
                (height,),
            )
            rows = cur.fetchall()
        return [
            TxRecord(
                hash=bytes(r[0]),
                tx=_tx_from_row([None, *r[1:7]]),
                status="CONFIRMED",
                accepted_ms=int(r[7]),
                block_height=height,
                block_index=int(r[8]),
                reason=None,
                decided_ms=r[9],
            )
            for r in rows
        ]

    def recent_commit_latencies_ms(self, limit: int) -> list[int]:
        """Accept-to-commit latency of the most recently confirmed transactions."""
        with self._read() as cur:
            cur.execute(
                self._sql(
                    "SELECT decided_ms - accepted_ms FROM transactions"
                    " WHERE block_height IS NOT NULL"
                    " ORDER BY block_height DESC LIMIT ?"
                ),
                (limit,),
            )
            return [int(r[0]) for r in cur.fetchall()]

    def status_counts(self) -> dict[str, int]:
        with self._read() as cur:
            cur.execute("SELECT status, COUNT(*) FROM transactions GROUP BY status")
            return {str(s): int(n) for s, n in cur.fetchall()}

    # -- blocks and accounts -------------------------------------------------------------------
    def get_block(self, height: int) -> Block | None:
        with self._read() as cur:
            query = f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE height = ?"  # nosec B608: constant
            cur.execute(self._sql(query), (height,))
            row = cur.fetchone()
        return None if row is None else _block_from_row(row)

    def latest_block(self) -> Block | None:
        with self._read() as cur:
            latest = f"SELECT {_BLOCK_COLUMNS} FROM blocks ORDER BY height DESC LIMIT 1"  # nosec B608: constant column list, values bound
            cur.execute(latest)
            row = cur.fetchone()
        return None if row is None else _block_from_row(row)

    def iter_blocks(self, batch: int = 1000) -> Iterator[Block]:
        start = 0
        while True:
            with self._read() as cur:
                cur.execute(
                    self._sql(
                        f"SELECT {_BLOCK_COLUMNS} FROM blocks WHERE height >= ?"  # nosec B608: constant column list, values bound
                        " ORDER BY height LIMIT ?"
                    ),
                    (start, batch),
                )
                rows = cur.fetchall()
            if not rows:
                return
            for row in rows:
                yield _block_from_row(row)
            start = int(rows[-1][0]) + 1

    def committed_since(self, since_ms: int) -> int:
        """Transactions in blocks with a timestamp at or after `since_ms`."""
        with self._read() as cur:
            cur.execute(
                self._sql(
                    "SELECT COALESCE(SUM(tx_count), 0) FROM blocks WHERE timestamp_ms >= ?"
                    " AND height > 0"
                ),
                (since_ms,),
            )
            return int(cur.fetchone()[0])

    def transactions_after(self, seq: int) -> int:
        """Transactions stored (acknowledged) after arrival number `seq`."""
        with self._read() as cur:
            cur.execute(self._sql("SELECT COUNT(*) FROM transactions WHERE seq > ?"), (seq,))
            return int(cur.fetchone()[0])

    def committed_total(self) -> int:
        with self._read() as cur:
            cur.execute("SELECT COALESCE(SUM(tx_count), 0) FROM blocks WHERE height > 0")
            return int(cur.fetchone()[0])

    def get_accounts(self, addresses: Iterable[bytes]) -> dict[bytes, tuple[int, int]]:
        wanted = list(set(addresses))
        found: dict[bytes, tuple[int, int]] = {}
        with self._read() as cur:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                marks = ",".join("?" * len(chunk))
                cur.execute(
                    self._sql(
                        f"SELECT address, balance, nonce FROM accounts WHERE address IN ({marks})"  # nosec B608: marks are only '?'
                    ),
                    chunk,
                )
                for addr, bal, nonce in cur.fetchall():
                    found[bytes(addr)] = (int(bal), int(nonce))
        return found

    def all_accounts(self) -> dict[bytes, tuple[int, int]]:
        with self._read() as cur:
            cur.execute("SELECT address, balance, nonce FROM accounts")
            return {bytes(a): (int(b), int(n)) for a, b, n in cur.fetchall()}

    def genesis_allocation(self) -> dict[bytes, int]:
        with self._read() as cur:
            cur.execute("SELECT address, balance FROM genesis")
            return {bytes(a): int(b) for a, b in cur.fetchall()}

    def commit_block(
        self, commit: BlockCommit, holder: str, epoch: int, write_block: bool = True
    ) -> None:
        """Write a block and its effects atomically, only while `holder` holds the lease at `epoch`.

        With `write_block=False` only the rejections are written (a round where nothing passed).
        """
        with self._write() as cur:
            cur.execute(self._lock_lease_sql())
            lease_holder, lease_epoch = cur.fetchone()
            if lease_holder != holder or int(lease_epoch) != epoch:
                raise FencingError(
                    f"lease is held by {lease_holder!r} at epoch {lease_epoch}, not by {holder!r}"
                    f" at epoch {epoch}"
                )
            if write_block:
                self._insert_block(cur, commit.block)
            self._write_effects(cur, commit)

    def _write_effects(self, cur: Cursor, commit: BlockCommit) -> None:
        """Statuses and balances of one block (inside the fenced block transaction)."""
        height = commit.block.header.height
        if commit.confirmed:
            cur.executemany(
                self._sql(
                    "UPDATE transactions SET status = 'CONFIRMED', block_height = ?,"
                    " block_index = ?, decided_ms = ? WHERE seq = ? AND hash = ?"
                    " AND status = 'PENDING'"
                ),
                [(height, i, commit.decided_ms, s, h) for i, (s, h) in enumerate(commit.confirmed)],
            )
        if commit.rejected:
            cur.executemany(
                self._sql(
                    "UPDATE transactions SET status = 'REJECTED', reason = ?, decided_ms = ?"
                    " WHERE hash = ? AND status = 'PENDING'"
                ),
                [(reason, commit.decided_ms, h) for h, reason in commit.rejected],
            )
        if commit.accounts:
            cur.executemany(
                self._sql(
                    "INSERT INTO accounts (address, balance, nonce) VALUES (?, ?, ?)"
                    " ON CONFLICT (address) DO UPDATE SET balance = excluded.balance,"
                    " nonce = excluded.nonce"
                ),
                [(addr, bal, nonce) for addr, (bal, nonce) in commit.accounts.items()],
            )

    def _insert_block(self, cur: Cursor, block: Block) -> None:
        h = block.header
        cur.execute(
            self._sql(f"INSERT INTO blocks ({_BLOCK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),  # nosec B608: constant column list, values bound
            (
                h.height,
                block.hash,
                h.previous_hash,
                h.merkle_root,
                h.tx_count,
                h.timestamp_ms,
                h.producer_id,
                h.producer_epoch,
            ),
        )

    # -- producer lease and node registry ------------------------------------------------------
    def acquire_lease(self, holder: str, ttl_ms: int) -> Lease:
        """Renew the lease if `holder` has it, or take it (epoch + 1) once it expired."""
        now = self._now_ms_sql()
        with self._write() as cur:
            cur.execute(
                self._sql(
                    f"UPDATE producer_lease SET expires_ms = {now} + ? WHERE id = 1 AND holder = ?"  # nosec B608: now is a constant SQL clock
                ),
                (ttl_ms, holder),
            )
            cur.execute(
                self._sql(
                    f"UPDATE producer_lease SET holder = ?, epoch = epoch + 1,"  # nosec B608: now is a constant SQL clock
                    f" expires_ms = {now} + ? WHERE id = 1 AND (holder IS NULL OR holder <> ?)"
                    f" AND expires_ms < {now}"
                ),
                (holder, ttl_ms, holder),
            )
            cur.execute("SELECT holder, epoch, expires_ms FROM producer_lease WHERE id = 1")
            row = cur.fetchone()
        return Lease(holder=row[0], epoch=int(row[1]), expires_ms=int(row[2]))

    def release_lease(self, holder: str, epoch: int) -> bool:
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "UPDATE producer_lease SET holder = NULL, expires_ms = 0"
                    " WHERE id = 1 AND holder = ? AND epoch = ?"
                ),
                (holder, epoch),
            )
            cur.execute("SELECT holder FROM producer_lease WHERE id = 1")
            return bool(cur.fetchone()[0] is None)

    def read_lease(self) -> Lease:
        with self._read() as cur:
            cur.execute("SELECT holder, epoch, expires_ms FROM producer_lease WHERE id = 1")
            row = cur.fetchone()
        return Lease(holder=row[0], epoch=int(row[1]), expires_ms=int(row[2]))

    def heartbeat(self, node_id: str, role: str, version: str) -> None:
        now = self._now_ms_sql()
        with self._write() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO nodes (node_id, role, version, last_seen_ms)"  # nosec B608: now is a constant SQL clock
                    f" VALUES (?, ?, ?, {now})"
                    " ON CONFLICT (node_id) DO UPDATE SET role = excluded.role,"
                    " version = excluded.version, last_seen_ms = excluded.last_seen_ms"
                ),
                (node_id, role, version),
            )

    def active_nodes(self, window_ms: int) -> list[dict[str, object]]:
        with self._read() as cur:
            cur.execute(
                self._sql(
                    "SELECT node_id, role, version, last_seen_ms FROM nodes"  # nosec B608: a constant SQL clock
                    f" WHERE last_seen_ms >= {self._now_ms_sql()} - ? ORDER BY node_id"
                ),
                (window_ms,),
            )
            rows = cur.fetchall()
        return [
            {"nodeId": r[0], "role": r[1], "version": r[2], "lastSeen": int(r[3])} for r in rows
        ]

    def db_now_ms(self) -> int:
        with self._read() as cur:
            cur.execute(f"SELECT {self._now_ms_sql()}")
            return int(cur.fetchone()[0])


_BLOCK_COLUMNS = (
    "height, hash, previous_hash, merkle_root, tx_count, timestamp_ms, producer_id, producer_epoch"
)
