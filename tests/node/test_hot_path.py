"""The request hot path's shortcuts agree with the reference code they stand in for."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from pydantic import ValidationError

from v11node.api.app import _BODY, _parse_fast
from v11node.api.schemas import TransactionBatch
from v11node.crypto import verify_detached
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import Transaction, make_transaction, to_json
from v11node.verifier import Verifier

GOOD = to_json(make_transaction(dev_signing_key(0), dev_address(1), 7, 3, memo="héllo"))


def _reference(doc: object) -> list[Transaction] | None:
    """What the pydantic path makes of `doc` (None: a validation error)."""
    try:
        parsed = _BODY.validate_python(doc)
    except ValidationError:
        return None
    items = parsed.transactions if isinstance(parsed, TransactionBatch) else [parsed]
    if any(len(i.memo.encode()) > 256 for i in items):
        return None
    return [
        Transaction(
            bytes.fromhex(i.sender),
            bytes.fromhex(i.recipient),
            i.amount,
            i.nonce,
            i.memo,
            bytes.fromhex(i.signature),
        )
        for i in items
    ]


@pytest.mark.parametrize(
    "doc",
    [
        GOOD,
        {"transactions": [GOOD, {**GOOD, "nonce": 4}]},
        {k: v for k, v in GOOD.items() if k != "memo"},
        {**GOOD, "memo": "x" * 256},
        {**GOOD, "sender": str(GOOD["sender"]).upper()},
    ],
)
def test_the_fast_parser_accepts_what_pydantic_accepts(doc: object) -> None:
    assert _parse_fast(doc) == _reference(doc) is not None


@pytest.mark.parametrize(
    "doc",
    [
        {"transactions": []},
        {"transactions": GOOD},
        {"transactions": [GOOD], "extra": 1},
        {**GOOD, "extra": 1},
        {**GOOD, "amount": True},
        {**GOOD, "amount": 1.0},
        {**GOOD, "amount": 0},
        {**GOOD, "nonce": 2**63},
        {**GOOD, "memo": None},
        {**GOOD, "memo": "é" * 200},  # 200 characters, 400 UTF-8 bytes
        {**GOOD, "sender": " " + str(GOOD["sender"])[1:]},
        {**GOOD, "sender": str(GOOD["sender"])[:62] + " a"},
        {**GOOD, "recipient": "zz" * 32},
        {**GOOD, "signature": str(GOOD["signature"])[:-2]},
        {k: v for k, v in GOOD.items() if k != "signature"},
        [GOOD],
        "text",
    ],
)
def test_the_fast_parser_leaves_every_invalid_body_to_pydantic(doc: object) -> None:
    assert _parse_fast(doc) is None
    assert _reference(doc) is None


def test_detached_verification_matches_the_signature_rules() -> None:
    tx = make_transaction(dev_signing_key(2), dev_address(3), 1, 1)
    assert verify_detached(tx.sender, tx.signing_bytes(), tx.signature)
    assert not verify_detached(tx.sender, tx.signing_bytes() + b"x", tx.signature)
    assert not verify_detached(tx.sender, tx.signing_bytes(), tx.signature[:63])
    assert not verify_detached(tx.sender[:31], tx.signing_bytes(), tx.signature)


@pytest.mark.parametrize("processes", [0, 2])
def test_the_verifier_finds_exactly_the_bad_signatures(processes: int) -> None:
    txs = [make_transaction(dev_signing_key(i % 7), dev_address(9), 1, i + 1) for i in range(300)]
    txs[5] = replace(txs[5], amount=2)
    txs[299] = replace(txs[299], signature=bytes(64))

    async def run() -> tuple[list[int], list[int]]:
        verifier = Verifier(processes, 2)
        await verifier.start()
        try:
            items = [(t.sender, t.signing_bytes(), t.signature) for t in txs]
            first = await verifier.verify(items)
            if processes:  # a worker that dies is replaced by the threads, not by an error
                verifier._workers[0].proc.kill()
                await asyncio.sleep(0.3)
            return first, await verifier.verify(items)
        finally:
            await verifier.close()

    started = time.monotonic()
    first, after_failure = asyncio.run(run())
    assert first == after_failure == [5, 299]
    assert time.monotonic() - started < 4, "closing does not wait for the kill timeout"
