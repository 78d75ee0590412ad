"""The ledger schema at its base version (migrations.BASE_VERSION), written once for both
backends; each names its byte and key types. Later versions are forward migrations
(migrations.py): never edit a statement here that a deployed database already ran."""

from __future__ import annotations

_TEMPLATE = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS transactions (
        seq {serial_key},
        hash {bytes} NOT NULL UNIQUE,
        sender {bytes} NOT NULL, recipient {bytes} NOT NULL,
        amount BIGINT NOT NULL, nonce BIGINT NOT NULL, memo TEXT, signature {bytes} NOT NULL,
        status TEXT NOT NULL, accepted_ms BIGINT NOT NULL,
        block_height BIGINT, block_index INTEGER, reason TEXT, decided_ms BIGINT)""",
    "CREATE INDEX IF NOT EXISTS tx_pending ON transactions (seq) WHERE status = 'PENDING'",
    "CREATE INDEX IF NOT EXISTS tx_block ON transactions (block_height, block_index)"
    " WHERE block_height IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS blocks (
        height BIGINT PRIMARY KEY, hash {bytes} NOT NULL UNIQUE, previous_hash {bytes} NOT NULL,
        merkle_root {bytes} NOT NULL, tx_count INTEGER NOT NULL, timestamp_ms BIGINT NOT NULL,
        producer_id TEXT NOT NULL, producer_epoch BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS blocks_time ON blocks (timestamp_ms)",
    """CREATE TABLE IF NOT EXISTS accounts (
        address {bytes} PRIMARY KEY, balance BIGINT NOT NULL, nonce BIGINT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS genesis (address {bytes} PRIMARY KEY, balance BIGINT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS producer_lease (
        id INTEGER PRIMARY KEY CHECK (id = 1), holder TEXT, epoch BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS nodes (
        node_id TEXT PRIMARY KEY, role TEXT NOT NULL, version TEXT NOT NULL,
        last_seen_ms BIGINT NOT NULL)""",
]


def schema_ddl(bytes_type: str, serial_key: str) -> list[str]:
    """CREATE statements with the backend's byte type and auto-increment key filled in."""
    return [s.format(bytes=bytes_type, serial_key=serial_key) for s in _TEMPLATE]
