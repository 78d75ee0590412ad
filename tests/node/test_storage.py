"""The storage suite, run on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.ledger_refs import pending_refs
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.block import ZERO_HASH, Block, BlockHeader, merkle_root
from v11node.ledger.transaction import make_transaction
from v11node.ledger.verify import verify_chain
from v11node.node import _genesis
from v11node.storage import FencingError, LedgerStorage, StorageError, open_storage
from v11node.storage.base import BlockCommit

ALLOC = {dev_address(i): 1_000 for i in range(4)}


@pytest.fixture
def storage(db_url: str) -> Iterator[LedgerStorage]:
    st = open_storage(db_url)
    st.initialize_genesis(ALLOC, _genesis(ALLOC))
    yield st
    st.close()


def _tx(i: int, nonce: int, amount: int = 10):  # type: ignore[no-untyped-def]
    return make_transaction(dev_signing_key(i), dev_address((i + 1) % 4), amount, nonce)


def _block_on(storage: LedgerStorage, hashes: list[bytes], epoch: int, node: str) -> Block:
    tip = storage.latest_block()
    assert tip is not None
    header = BlockHeader(
        tip.header.height + 1, tip.hash, merkle_root(hashes), len(hashes), 1, node, epoch
    )
    return Block(header, header.compute_hash())


def test_schema_creation_and_genesis_are_idempotent(db_url: str) -> None:
    for _ in range(2):
        st = open_storage(db_url)
        genesis = st.initialize_genesis(ALLOC, _genesis(ALLOC))
        assert genesis.header.height == 0 and genesis.header.previous_hash == ZERO_HASH
        assert st.genesis_allocation() == ALLOC
        st.close()


def test_insert_pending_is_idempotent_and_keeps_arrival_order(storage: LedgerStorage) -> None:
    txs = [_tx(0, 1), _tx(1, 1), _tx(0, 2)]
    assert storage.insert_pending([(t.hash, t, 5) for t in txs]) == {t.hash for t in txs}
    assert storage.insert_pending([(txs[0].hash, txs[0], 9)]) == set(), "a replay stores nothing"
    again = [(t.hash, t, 9) for t in (txs[1], _tx(2, 1), _tx(2, 1))]
    assert storage.insert_pending(again) == {_tx(2, 1).hash}, "only the new one, once"
    assert storage.insert_pending([]) == set()
    pending = storage.pending_batch(10)
    assert [p.hash for p in pending] == [t.hash for t in (*txs, _tx(2, 1))]
    assert pending[0].accepted_ms == 5, "a resubmission does not overwrite the stored one"
    assert pending[0].tx == txs[0]
    assert storage.pending_count() == 4


def test_a_block_commit_changes_statuses_balances_and_the_tip_together(
    storage: LedgerStorage,
) -> None:
    ok, bad = _tx(0, 1, 100), _tx(1, 1, 5_000)
    storage.insert_pending([(t.hash, t, 1) for t in (ok, bad)])
    lease = storage.acquire_lease("n1", 5_000)
    block = _block_on(storage, [ok.hash], lease.epoch, "n1")
    storage.commit_block(
        BlockCommit(
            block,
            pending_refs(storage, [ok.hash]),
            [(bad.hash, "insufficient")],
            {ok.sender: (900, 1), ok.recipient: (1100, 0)},
            2,
        ),
        "n1",
        lease.epoch,
    )
    rec_ok, rec_bad = storage.get_transaction(ok.hash), storage.get_transaction(bad.hash)
    assert rec_ok is not None and rec_ok.status == "CONFIRMED" and rec_ok.block_height == 1
    assert rec_bad is not None and rec_bad.status == "REJECTED" and rec_bad.reason == "insufficient"
    assert storage.latest_block() == block
    assert storage.get_accounts([ok.sender]) == {ok.sender: (900, 1)}
    assert storage.pending_count() == 0
    assert storage.committed_total() == 1
    assert verify_chain(storage).ok


def test_a_stale_epoch_cannot_write_a_block(storage: LedgerStorage) -> None:
    first = storage.acquire_lease("n1", 1)
    assert first.holder == "n1"
    import time

    time.sleep(0.05)  # let the 1 ms lease expire on the database clock
    second = storage.acquire_lease("n2", 5_000)
    assert second.holder == "n2" and second.epoch == first.epoch + 1
    tx = _tx(0, 1)
    storage.insert_pending([(tx.hash, tx, 1)])
    block = _block_on(storage, [tx.hash], first.epoch, "n1")
    with pytest.raises(FencingError, match="n2"):
        refs = pending_refs(storage, [tx.hash])
        storage.commit_block(BlockCommit(block, refs, [], {}, 2), "n1", first.epoch)
    assert storage.latest_block() is not None
    assert storage.latest_block().header.height == 0  # type: ignore[union-attr]
    assert storage.pending_count() == 1, "the fenced write changed nothing"


def test_a_live_lease_is_renewed_by_its_holder_and_refused_to_others(
    storage: LedgerStorage,
) -> None:
    a = storage.acquire_lease("n1", 10_000)
    assert storage.acquire_lease("n2", 10_000).holder == "n1"
    renewed = storage.acquire_lease("n1", 10_000)
    assert renewed.epoch == a.epoch and renewed.expires_ms >= a.expires_ms
    assert storage.release_lease("n1", a.epoch)
    taken = storage.acquire_lease("n2", 10_000)
    assert taken.holder == "n2" and taken.epoch == a.epoch + 1


def test_a_duplicate_height_is_refused(storage: LedgerStorage) -> None:
    lease = storage.acquire_lease("n1", 10_000)
    block = _block_on(storage, [], lease.epoch, "n1")
    storage.commit_block(BlockCommit(block, [], [], {}, 1), "n1", lease.epoch)
    twin = Block(
        BlockHeader(
            1, block.header.previous_hash, block.header.merkle_root, 0, 99, "n1", lease.epoch
        ),
        b"\x07" * 32,
    )
    with pytest.raises(StorageError):
        storage.commit_block(BlockCommit(twin, [], [], {}, 1), "n1", lease.epoch)


def test_verify_finds_a_tampered_balance_and_a_tampered_block(storage: LedgerStorage) -> None:
    tx = _tx(0, 1, 100)
    storage.insert_pending([(tx.hash, tx, 1)])
    lease = storage.acquire_lease("n1", 10_000)
    block = _block_on(storage, [tx.hash], lease.epoch, "n1")
    storage.commit_block(
        BlockCommit(
            block,
            pending_refs(storage, [tx.hash]),
            [],
            {tx.sender: (900, 1), tx.recipient: (1100, 0)},
            2,
        ),
        "n1",
        lease.epoch,
    )
    assert verify_chain(storage).ok
    with storage._write() as cur:
        cur.execute(storage._sql("UPDATE accounts SET balance = 5 WHERE address = ?"), (tx.sender,))
    report = verify_chain(storage)
    assert not report.ok and tx.sender.hex() in (report.problem or "")
    with storage._write() as cur:
        cur.execute(
            storage._sql("UPDATE accounts SET balance = 900 WHERE address = ?"), (tx.sender,)
        )
        cur.execute("UPDATE blocks SET tx_count = 2 WHERE height = 1")
    report = verify_chain(storage)
    assert not report.ok and report.height == 1


def test_an_unsupported_url_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="unsupported database URL"):
        open_storage("mysql://x")
