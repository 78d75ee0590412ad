"""Durable storage for the ledger: one interface, SQLite (embedded default) and PostgreSQL."""

from v11node.storage.base import (
    FencingError,
    Lease,
    LedgerStorage,
    PendingTx,
    StorageError,
    TxRecord,
)
from v11node.storage.factory import open_storage

__all__ = [
    "FencingError",
    "Lease",
    "LedgerStorage",
    "PendingTx",
    "StorageError",
    "TxRecord",
    "open_storage",
]
