"""Small real ledgers for the backup tests: signed transactions in blocks, through the storage
interface the node uses, so `verify_chain` passes on them."""

from __future__ import annotations

import time

from tests.support.ledger_refs import pending_refs
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.block import Block, BlockHeader, merkle_root
from v11node.ledger.state import apply_transactions
from v11node.ledger.transaction import Transaction, make_transaction
from v11node.node import _genesis
from v11node.storage import LedgerStorage, open_storage
from v11node.storage.base import BlockCommit

ACCOUNTS = 6
ALLOCATION = {dev_address(i): 1_000_000 for i in range(ACCOUNTS)}
HOLDER = "test-producer"


def build_ledger(url: str, blocks: int = 4, per_block: int = 5) -> LedgerStorage:
    """A ledger with `blocks` blocks of `per_block` transactions; returns the open storage."""
    storage = open_storage(url)
    storage.initialize_genesis(ALLOCATION, _genesis(ALLOCATION))
    add_blocks(storage, blocks, per_block)
    return storage


def add_blocks(storage: LedgerStorage, blocks: int, per_block: int) -> None:
    lease = storage.acquire_lease(HOLDER, 60_000)
    for _ in range(blocks):
        tip = storage.latest_block()
        assert tip is not None
        accounts = storage.all_accounts()
        txs: list[Transaction] = []
        for i in range(per_block):
            sender = (tip.header.height + i) % ACCOUNTS
            addr = dev_address(sender)
            nonce = accounts[addr][1] + 1 + sum(1 for t in txs if t.sender == addr)
            txs.append(
                make_transaction(
                    dev_signing_key(sender),
                    dev_address((sender + 1) % ACCOUNTS),
                    1 + i,
                    nonce,
                    f"memo {tip.header.height}-{i}",
                )
            )
        now = int(time.time() * 1000)
        storage.insert_pending([(t.hash, t, now) for t in txs])
        outcome = apply_transactions(
            [(t.sender, t.recipient, t.amount, t.nonce) for t in txs], accounts
        )
        confirmed = [txs[i].hash for i in outcome.confirmed]
        header = BlockHeader(
            tip.header.height + 1,
            tip.hash,
            merkle_root(confirmed),
            len(confirmed),
            now,
            HOLDER,
            lease.epoch,
        )
        block = Block(header, header.compute_hash())
        storage.commit_block(
            BlockCommit(block, pending_refs(storage, confirmed), [], outcome.accounts, now),
            HOLDER,
            lease.epoch,
        )


def add_pending(storage: LedgerStorage, count: int, first_nonce: int = 10_000) -> list[bytes]:
    """Acknowledged but not yet in a block (what a node holds between blocks)."""
    txs = [
        make_transaction(dev_signing_key(0), dev_address(1), 1, first_nonce + i)
        for i in range(count)
    ]
    storage.insert_pending([(t.hash, t, int(time.time() * 1000)) for t in txs])
    return [t.hash for t in txs]
