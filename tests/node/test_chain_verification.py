"""`verify_chain` names the first inconsistency of a tampered ledger (SQLite, in process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ledger_refs import pending_refs
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.block import Block, BlockHeader, merkle_root
from v11node.ledger.transaction import Transaction, make_transaction
from v11node.ledger.verify import verify_chain
from v11node.node import _genesis
from v11node.storage import LedgerStorage, open_storage
from v11node.storage.base import BlockCommit

ALLOC = {dev_address(i): 1_000 for i in range(3)}


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[LedgerStorage]:
    st = open_storage(f"sqlite:///{tmp_path / 'ledger.db'}")
    st.initialize_genesis(ALLOC, _genesis(ALLOC))
    yield st
    st.close()


def _tx(sender: int, amount: int, nonce: int = 1) -> Transaction:
    return make_transaction(dev_signing_key(sender), dev_address(sender + 1), amount, nonce)


def _commit(
    storage: LedgerStorage,
    txs: list[Transaction],
    accounts: dict[bytes, tuple[int, int]],
    **header: object,
) -> Block:
    """Store a block of `txs` as a producer would; `header` overrides fields to forge one."""
    tip = storage.latest_block()
    assert tip is not None
    hashes = [t.hash for t in txs]
    fields: dict[str, object] = {
        "height": tip.header.height + 1,
        "previous_hash": tip.hash,
        "merkle_root": merkle_root(hashes),
        "tx_count": len(txs),
        "timestamp_ms": 1,
        "producer_id": "n1",
        "producer_epoch": 1,
    }
    fields.update(header)
    block_hash = fields.pop("hash", None)
    head = BlockHeader(**fields)  # type: ignore[arg-type]
    block = Block(head, block_hash if isinstance(block_hash, bytes) else head.compute_hash())
    storage.insert_pending([(t.hash, t, 1) for t in txs])
    lease = storage.acquire_lease("n1", 60_000)
    refs = pending_refs(storage, hashes)
    storage.commit_block(BlockCommit(block, refs, [], accounts, 2), "n1", lease.epoch)
    return block


def _problem(storage: LedgerStorage) -> str:
    report = verify_chain(storage)
    assert not report.ok
    assert report.problem is not None
    assert report.to_json()["problem"] == report.problem
    return report.problem


def test_a_consistent_chain_reports_its_tip_and_counts(storage: LedgerStorage) -> None:
    tx = _tx(0, 100)
    block = _commit(storage, [tx], {tx.sender: (900, 1), tx.recipient: (1_100, 0)})
    report = verify_chain(storage)
    assert report.ok and report.problem is None
    assert (report.height, report.blocks, report.transactions) == (1, 2, 1)
    assert report.to_json()["tipHash"] == block.hash.hex()


def test_an_empty_database_has_no_genesis_block(tmp_path: Path) -> None:
    st = open_storage(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert _problem(st) == "no genesis block"
    finally:
        st.close()


def test_a_genesis_that_does_not_commit_to_the_allocation_is_found(tmp_path: Path) -> None:
    st = open_storage(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        st.initialize_genesis(ALLOC, _genesis({dev_address(9): 5}))
        assert "block 0: merkle root does not match the genesis allocation" in _problem(st)
    finally:
        st.close()


def test_a_gap_in_the_heights_names_the_missing_block(storage: LedgerStorage) -> None:
    _commit(storage, [], {}, height=2)
    assert _problem(storage) == "block 1 is missing (next stored block is 2)"


def test_a_block_that_does_not_link_to_its_parent_is_found(storage: LedgerStorage) -> None:
    _commit(storage, [], {}, previous_hash=b"\x01" * 32)
    assert _problem(storage) == "block 1: previous hash does not match block 0"


def test_a_stored_hash_that_is_not_the_header_hash_is_found(storage: LedgerStorage) -> None:
    _commit(storage, [], {}, hash=b"\x02" * 32)
    assert "block 1: stored hash differs" in _problem(storage)


def test_a_merkle_root_over_other_transactions_is_found(storage: LedgerStorage) -> None:
    tx = _tx(0, 100)
    accounts = {tx.sender: (900, 1), tx.recipient: (1_100, 0)}
    _commit(storage, [tx], accounts, merkle_root=merkle_root([b"\x03" * 32]))
    assert _problem(storage) == "block 1: merkle root does not match its transactions"


def test_a_transaction_altered_after_signing_is_found(storage: LedgerStorage) -> None:
    tx = _tx(0, 100)
    _commit(storage, [tx], {tx.sender: (900, 1), tx.recipient: (1_100, 0)})
    with storage._write() as cur:
        cur.execute(storage._sql("UPDATE transactions SET amount = 1 WHERE hash = ?"), (tx.hash,))
    assert _problem(storage) == f"block 1: transaction {tx.hash.hex()} fails its signature"


def test_a_confirmed_overdraft_is_found_with_its_reason(storage: LedgerStorage) -> None:
    tx = _tx(0, 5_000)
    _commit(storage, [tx], {tx.sender: (0, 1), tx.recipient: (6_000, 0)})
    problem = _problem(storage)
    assert problem.startswith(f"block 1: transaction {tx.hash.hex()} invalid: ")


def test_an_account_no_block_funded_is_found(storage: LedgerStorage) -> None:
    stranger = dev_address(7)
    with storage._write() as cur:
        cur.execute(
            storage._sql("INSERT INTO accounts (address, balance, nonce) VALUES (?, ?, ?)"),
            (stranger, 5, 0),
        )
    assert _problem(storage) == f"account {stranger.hex()} exists but no block funded it"
