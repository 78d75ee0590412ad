from __future__ import annotations

import orjson

from v11node.ledger.accounts import dev_address
from v11node.ledger.transaction import Transaction
from v11ops.load.presign import Account, plan_accounts, presign


def _transactions(body: bytes) -> list[Transaction]:
    raw = orjson.loads(body)
    items = raw.get("transactions", [raw])
    return [
        Transaction(
            sender=bytes.fromhex(item["sender"]),
            recipient=bytes.fromhex(item["recipient"]),
            amount=item["amount"],
            nonce=item["nonce"],
            memo=item.get("memo", ""),
            signature=bytes.fromhex(item["signature"]),
        )
        for item in items
    ]


def test_a_single_transaction_is_sent_as_one_object_and_verifies() -> None:
    body = Account(7, batch=1, first_nonce=100).sign_batch()
    assert "transactions" not in orjson.loads(body)
    (tx,) = _transactions(body)
    assert tx.verify()
    assert tx.sender == dev_address(7)
    assert tx.recipient == dev_address(8)
    assert tx.amount > 0
    assert tx.nonce == 100


def test_a_batch_comes_from_one_sender_with_consecutive_nonces_all_signed() -> None:
    account = Account(3, batch=5, first_nonce=10)
    first, second = account.sign_batch(), account.sign_batch()
    txs = _transactions(first) + _transactions(second)
    assert all(tx.verify() for tx in txs)
    assert {tx.sender for tx in txs} == {dev_address(3)}
    assert [tx.nonce for tx in txs] == list(range(10, 20))


def test_the_last_account_pays_the_first_so_every_recipient_is_a_dev_account() -> None:
    (tx,) = _transactions(Account(9999, batch=1, first_nonce=1).sign_batch())
    assert tx.verify()
    assert tx.recipient == dev_address(0)


def test_presigning_spreads_the_requests_evenly_in_queue_order() -> None:
    planned = plan_accounts(range(10, 14), batch=2, requests=10)
    assert [(account.index, count) for account, count in planned] == [
        (10, 3),
        (11, 3),
        (12, 2),
        (13, 2),
    ]
    accounts = presign(planned, threads=2)
    assert [len(account.bodies) for account in accounts] == [3, 3, 2, 2]
    for account in accounts:
        nonces = [tx.nonce for body in account.bodies for tx in _transactions(body)]
        assert nonces == sorted(set(nonces))


def test_an_account_signs_late_once_its_presigned_bodies_are_used_up() -> None:
    account = Account(1, batch=1, first_nonce=50)
    account.presign(1)
    body, late = account.take()
    assert not late
    assert _transactions(body)[0].nonce == 50
    body, late = account.take()
    assert late
    assert _transactions(body)[0].nonce == 51


def test_a_later_run_starts_above_every_nonce_an_earlier_run_signed() -> None:
    ((earlier, _),) = plan_accounts(range(5, 6), batch=10, requests=1)
    earlier.presign(20)
    last_used = earlier.next_nonce - 1
    ((later, _),) = plan_accounts(range(5, 6), batch=10, requests=1)
    assert later.next_nonce > last_used
