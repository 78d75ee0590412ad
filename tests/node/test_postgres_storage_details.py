"""PostgreSQL storage details: pool figures, empty inputs, driver errors, redacted URLs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import fresh_postgres_database
from v11node.storage import StorageError, open_storage
from v11node.storage.postgres import PostgresStorage, _redact


@pytest.fixture
def storage() -> Iterator[PostgresStorage]:
    with fresh_postgres_database() as url:
        st = open_storage(url)
        assert isinstance(st, PostgresStorage)
        try:
            yield st
        finally:
            st.close()


@pytest.mark.postgres
def test_the_pool_reports_its_connections_and_limit(storage: PostgresStorage) -> None:
    in_use, idle, maximum = storage.pool_stats()
    assert maximum == 8
    assert in_use == 0 and idle >= 1, "no statement is running between calls"


@pytest.mark.postgres
def test_empty_inputs_touch_nothing(storage: PostgresStorage) -> None:
    storage.insert_pending([])
    assert storage.get_accounts([]) == {}
    assert storage.pending_count() == 0


@pytest.mark.postgres
def test_a_driver_error_becomes_a_storage_error_naming_postgresql(
    storage: PostgresStorage,
) -> None:
    with (
        pytest.raises(StorageError, match=r"^postgresql: .*no_such_table"),
        storage._write() as cur,
    ):
        cur.execute("SELECT * FROM no_such_table")
    assert storage.pending_count() == 0, "the pool still works after the failed transaction"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/ledger", "postgresql://app:***@db:5432/ledger"),
        ("postgresql://app@db/ledger", "postgresql://app@db/ledger"),
        ("postgresql://db/ledger", "postgresql://db/ledger"),
        ("postgresql://a:p@ss@db/x", "postgresql://a:***@db/x"),
    ],
)
def test_a_password_never_appears_in_errors(url: str, shown: str) -> None:
    assert _redact(url) == shown
