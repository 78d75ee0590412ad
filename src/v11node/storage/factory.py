"""Choose a storage backend from a database URL."""

from __future__ import annotations

from pathlib import Path

from v11node.storage.base import LedgerStorage, StorageError


def open_storage(url: str) -> LedgerStorage:
    """`sqlite:///path/to/file.db` or `postgresql://user@host:port/db`; creates the schema."""
    storage: LedgerStorage
    if url.startswith("sqlite:///"):
        from v11node.storage.sqlite import SqliteStorage

        storage = SqliteStorage(Path(url.removeprefix("sqlite:///")))
    elif url.startswith(("postgresql://", "postgres://")):
        from v11node.storage.postgres import PostgresStorage

        storage = PostgresStorage(url)
    else:
        raise StorageError(
            f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://HOST/DB"
        )
    try:
        storage.create_schema()
    except BaseException:
        storage.close()
        raise
    return storage
