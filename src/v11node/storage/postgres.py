"""PostgreSQL backend (psycopg 3 with a connection pool). The database clock is the one clock all
nodes share for the producer lease; the lease row is locked FOR UPDATE inside each block write."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from v11node.storage.base import BlockCommit, Cursor, LedgerStorage, StorageError
from v11node.storage.schema import schema_ddl

_DDL = schema_ddl(bytes_type="BYTEA", serial_key="BIGSERIAL PRIMARY KEY")

# Serialises schema creation when several nodes start at once on an empty database.
_SCHEMA_LOCK_KEY = 0x5611_0001


class PostgresStorage(LedgerStorage):
    backend = "postgresql"

    def __init__(self, url: str, max_connections: int = 8) -> None:
        self.url = url
        self._max = max_connections
        try:
            self._pool = ConnectionPool(
                url, min_size=1, max_size=max_connections, open=True, timeout=10.0
            )
            self._pool.wait(timeout=10.0)
        except (psycopg.Error, Exception) as exc:
            raise StorageError(f"cannot connect to {_redact(url)}: {exc}") from exc

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Cursor]:
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise StorageError(f"postgresql: {exc}") from exc

    def _read(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._tx()

    def _write(self) -> contextlib.AbstractContextManager[Cursor]:
        return self._tx()

    def _ddl(self) -> list[str]:
        return [f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_KEY})", *_DDL]

    def _now_ms_sql(self) -> str:
        return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"

    def _lock_lease_sql(self) -> str:
        return "SELECT holder, epoch FROM producer_lease WHERE id = 1 FOR UPDATE"

    def _sql(self, query: str) -> str:
        return query.replace("?", "%s")

    # -- bulk statements: one statement over arrays instead of one per row ---------------------
    def _insert_pending_rows(self, cur: Cursor, params: list[tuple[Any, ...]]) -> set[bytes]:
        if not params:
            return set()
        cols = list(zip(*params, strict=True))
        # WITH ORDINALITY ... ORDER BY: rows take their seq in list (arrival) order.
        cur.execute(
            "INSERT INTO transactions (hash, sender, recipient, amount, nonce, memo, signature,"
            " status, accepted_ms)"
            " SELECT h, s, r, a, n, m, g, 'PENDING', t FROM unnest("
            "%s::bytea[], %s::bytea[], %s::bytea[], %s::bigint[], %s::bigint[], %s::text[],"
            " %s::bytea[], %s::bigint[]) WITH ORDINALITY AS v(h, s, r, a, n, m, g, t, i)"
            " ORDER BY i ON CONFLICT (hash) DO NOTHING RETURNING hash",
            [list(c) for c in cols],
        )
        return {bytes(r[0]) for r in cur.fetchall()}

    def _write_effects(self, cur: Cursor, commit: BlockCommit) -> None:
        if commit.confirmed:
            cur.execute(
                "UPDATE transactions SET status = 'CONFIRMED', block_height = %s,"
                " block_index = v.i - 1, decided_ms = %s"
                " FROM unnest(%s::bigint[], %s::bytea[]) WITH ORDINALITY AS v(s, h, i)"
                " WHERE transactions.seq = v.s AND transactions.hash = v.h"
                " AND transactions.status = 'PENDING'",
                (
                    commit.block.header.height,
                    commit.decided_ms,
                    [s for s, _ in commit.confirmed],
                    [h for _, h in commit.confirmed],
                ),
            )
        if commit.rejected:
            cur.execute(
                "UPDATE transactions SET status = 'REJECTED', reason = v.reason, decided_ms = %s"
                " FROM unnest(%s::bytea[], %s::text[]) AS v(h, reason)"
                " WHERE transactions.hash = v.h AND transactions.status = 'PENDING'",
                (
                    commit.decided_ms,
                    [h for h, _ in commit.rejected],
                    [r for _, r in commit.rejected],
                ),
            )
        if commit.accounts:
            items = sorted(commit.accounts.items())  # a fixed order: no deadlock between writers
            cur.execute(
                "INSERT INTO accounts (address, balance, nonce)"
                " SELECT * FROM unnest(%s::bytea[], %s::bigint[], %s::bigint[])"
                " ON CONFLICT (address) DO UPDATE SET balance = excluded.balance,"
                " nonce = excluded.nonce",
                ([a for a, _ in items], [b for _, (b, _) in items], [n for _, (_, n) in items]),
            )

    def get_accounts(self, addresses: Iterable[bytes]) -> dict[bytes, tuple[int, int]]:
        wanted = list(set(addresses))
        if not wanted:
            return {}
        with self._read() as cur:
            cur.execute(
                "SELECT address, balance, nonce FROM accounts WHERE address = ANY(%s::bytea[])",
                (wanted,),
            )
            return {bytes(a): (int(b), int(n)) for a, b, n in cur.fetchall()}

    def pool_stats(self) -> tuple[int, int, int]:
        stats = self._pool.get_stats()
        size = int(stats.get("pool_size", 0))
        idle = int(stats.get("pool_available", 0))
        return max(size - idle, 0), idle, self._max

    def close(self) -> None:
        self._pool.close()


def _redact(url: str) -> str:
    """Hide a password in a connection URL before it reaches a log line or an error."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url
