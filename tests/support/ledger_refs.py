"""Block commits name their transactions by (seq, hash): look the seqs up for tests that build
blocks by hand."""

from __future__ import annotations

from collections.abc import Sequence

from v11node.storage import LedgerStorage


def pending_refs(storage: LedgerStorage, hashes: Sequence[bytes]) -> list[tuple[int, bytes]]:
    """(seq, hash) of pending transactions, in the order of `hashes`."""
    seqs = {row[0]: row[6] for row in storage.pending_for_block(1_000_000)}
    return [(seqs[h], h) for h in hashes]
