"""Ledger rules: encoding, signatures, merkle roots, block hashes, the state transition."""

from __future__ import annotations

import hashlib

import pytest

from v11node.ledger.accounts import GenesisError, dev_address, dev_signing_key, load_genesis
from v11node.ledger.block import BlockHeader, merkle_root
from v11node.ledger.state import MAX_BALANCE, apply_transactions
from v11node.ledger.transaction import (
    MAX_MEMO_BYTES,
    Transaction,
    canonical_bytes,
    make_transaction,
)

A, B = dev_address(0), dev_address(1)


def test_a_signed_transaction_verifies_and_any_changed_field_does_not() -> None:
    tx = make_transaction(dev_signing_key(0), B, 10, 1, "memo")
    assert tx.verify()
    for change in ({"amount": 11}, {"nonce": 2}, {"recipient": A}, {"memo": "other"}):
        forged = Transaction(**_replace(tx, **change))  # type: ignore[arg-type]
        assert not forged.verify()


def _replace(tx: Transaction, **change: object) -> dict[str, object]:
    fields = {
        k: getattr(tx, k) for k in ("sender", "recipient", "amount", "nonce", "memo", "signature")
    }
    fields.update(change)
    return fields


def test_hash_is_sha256_of_the_canonical_encoding_without_the_signature() -> None:
    tx = make_transaction(dev_signing_key(0), B, 7, 3)
    assert tx.hash == hashlib.sha256(canonical_bytes(A, B, 7, 3, "")).digest()
    other_sig = Transaction(tx.sender, tx.recipient, tx.amount, tx.nonce, tx.memo, bytes(64))
    assert other_sig.hash == tx.hash


def test_canonical_encoding_is_fixed_width_and_refuses_a_long_memo() -> None:
    assert len(canonical_bytes(A, B, 1, 1, "")) == 17 + 32 + 32 + 8 + 8 + 2
    with pytest.raises(ValueError, match="memo"):
        canonical_bytes(A, B, 1, 1, "x" * (MAX_MEMO_BYTES + 1))


def test_merkle_root_pairs_an_odd_leaf_with_itself() -> None:
    a, b, c = (hashlib.sha256(bytes([i])).digest() for i in range(3))
    ab = hashlib.sha256(a + b).digest()
    cc = hashlib.sha256(c + c).digest()
    assert merkle_root([a, b, c]) == hashlib.sha256(ab + cc).digest()
    assert merkle_root([a]) == a
    assert merkle_root([]) == hashlib.sha256(b"").digest()


def test_block_hash_covers_every_header_field() -> None:
    base = BlockHeader(1, bytes(32), bytes(32), 1, 1000, "n1", 1)
    variants = [
        BlockHeader(2, bytes(32), bytes(32), 1, 1000, "n1", 1),
        BlockHeader(1, b"\x01" * 32, bytes(32), 1, 1000, "n1", 1),
        BlockHeader(1, bytes(32), b"\x01" * 32, 1, 1000, "n1", 1),
        BlockHeader(1, bytes(32), bytes(32), 2, 1000, "n1", 1),
        BlockHeader(1, bytes(32), bytes(32), 1, 1001, "n1", 1),
        BlockHeader(1, bytes(32), bytes(32), 1, 1000, "n2", 1),
        BlockHeader(1, bytes(32), bytes(32), 1, 1000, "n1", 2),
    ]
    assert len({base.compute_hash(), *(v.compute_hash() for v in variants)}) == 8


def test_state_transition_confirms_in_order_and_rejects_with_a_reason() -> None:
    accounts = {A: (100, 0)}
    txs = [(A, B, 60, 1), (A, B, 60, 2), (A, B, 10, 2), (A, B, 10, 2), (A, B, 10, 3)]
    out = apply_transactions(txs, accounts)
    assert out.confirmed == [0, 2, 4]
    assert out.rejected == [
        (1, "insufficient balance: 40 < 60"),
        (3, "nonce 2 is not greater than account nonce 2"),
    ]
    assert out.accounts == {A: (20, 3), B: (80, 0)}
    assert accounts == {A: (100, 0)}, "the input state is not modified"


def test_nonces_may_skip_but_never_go_back() -> None:
    out = apply_transactions([(A, B, 1, 5), (A, B, 1, 4)], {A: (10, 0)})
    assert out.confirmed == [0]
    assert out.rejected[0][0] == 1


def test_recipient_overflow_is_rejected_and_leaves_the_sender_untouched() -> None:
    out = apply_transactions([(A, B, 5, 1)], {A: (10, 0), B: (MAX_BALANCE - 1, 0)})
    assert out.confirmed == []
    assert out.rejected == [(0, "recipient balance would overflow")]
    assert out.accounts == {}


def test_a_bad_genesis_file_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "genesis.json"
    path.write_text('{"accounts": {"abcd": 5}}')
    with pytest.raises(GenesisError, match=r"genesis\.json"):
        load_genesis(path)
