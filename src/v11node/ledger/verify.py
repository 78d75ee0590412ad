"""Full-chain verification: recompute every hash, merkle root, signature and balance."""

from __future__ import annotations

from dataclasses import dataclass

from v11node.ledger.block import ZERO_HASH, genesis_merkle_root, merkle_root
from v11node.ledger.state import apply_transactions
from v11node.storage.base import LedgerStorage


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    height: int
    tip_hash: str
    blocks: int
    transactions: int
    problem: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "height": self.height,
            "tipHash": self.tip_hash,
            "blocks": self.blocks,
            "transactions": self.transactions,
            "problem": self.problem,
        }


def verify_chain(storage: LedgerStorage, *, signatures: bool = True) -> VerifyReport:
    """Walk the chain from genesis; stop at the first inconsistency and say where it is.
    `signatures=False` skips the Ed25519 checks (most of the time): hashes, merkle roots and
    balances are still recomputed (a restore drill, whose bytes the backup authenticated)."""
    allocation = storage.genesis_allocation()
    balances: dict[bytes, tuple[int, int]] = {a: (b, 0) for a, b in allocation.items()}
    prev_hash = ZERO_HASH
    height = -1
    tip = ""
    blocks = txs = 0

    def bad(problem: str) -> VerifyReport:
        return VerifyReport(False, height, tip, blocks, txs, problem)

    for block in storage.iter_blocks():
        h = block.header
        if h.height != height + 1:
            return bad(f"block {height + 1} is missing (next stored block is {h.height})")
        height = h.height
        if h.previous_hash != prev_hash:
            return bad(f"block {height}: previous hash does not match block {height - 1}")
        if block.hash != h.compute_hash():
            return bad(f"block {height}: stored hash differs from the recomputed header hash")
        if height == 0:
            if h.merkle_root != genesis_merkle_root(allocation):
                return bad("block 0: merkle root does not match the genesis allocation")
        else:
            records = storage.block_transactions(height)
            if len(records) != h.tx_count:
                return bad(f"block {height}: {len(records)} transactions, header says {h.tx_count}")
            if merkle_root([r.hash for r in records]) != h.merkle_root:
                return bad(f"block {height}: merkle root does not match its transactions")
            for r in records:
                if r.tx.hash != r.hash or (signatures and not r.tx.verify()):
                    return bad(f"block {height}: transaction {r.hash.hex()} fails its signature")
            rows = [(r.tx.sender, r.tx.recipient, r.tx.amount, r.tx.nonce) for r in records]
            outcome = apply_transactions(rows, balances)
            if outcome.rejected:
                idx, reason = outcome.rejected[0]
                return bad(
                    f"block {height}: transaction {records[idx].hash.hex()} invalid: {reason}"
                )
            balances.update(outcome.accounts)
            txs += len(records)
        prev_hash = block.hash
        tip = block.hash.hex()
        blocks += 1
    if height < 0:
        return bad("no genesis block")
    stored = storage.all_accounts()
    for addr, expected in balances.items():
        if stored.get(addr, (0, 0)) != expected:
            return bad(
                f"account {addr.hex()}: stored (balance, nonce) {stored.get(addr)}"
                f" differs from the replayed {expected}"
            )
    extra = set(stored) - set(balances)
    if extra:
        return bad(f"account {next(iter(extra)).hex()} exists but no block funded it")
    return VerifyReport(True, height, tip, blocks, txs)
