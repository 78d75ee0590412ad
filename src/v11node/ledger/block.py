"""Blocks, the hash chain and merkle roots."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

ZERO_HASH = bytes(32)
_HEADER = struct.Struct(">Q32s32sIQ")


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Binary SHA-256 merkle tree; an odd node pairs with itself; no leaves: sha256(b"")."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


@dataclass(frozen=True, slots=True)
class BlockHeader:
    height: int
    previous_hash: bytes
    merkle_root: bytes
    tx_count: int
    timestamp_ms: int
    producer_id: str
    producer_epoch: int

    def compute_hash(self) -> bytes:
        fixed = _HEADER.pack(
            self.height, self.previous_hash, self.merkle_root, self.tx_count, self.timestamp_ms
        )
        producer = self.producer_id.encode()
        tail = struct.pack(">QH", self.producer_epoch, len(producer)) + producer
        return hashlib.sha256(b"AURIGRAPH-V11-BLOCK\x01" + fixed + tail).digest()


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    hash: bytes

    def to_json(self) -> dict[str, object]:
        h = self.header
        return {
            "height": h.height,
            "hash": self.hash.hex(),
            "previousHash": h.previous_hash.hex(),
            "merkleRoot": h.merkle_root.hex(),
            "transactionCount": h.tx_count,
            "timestamp": h.timestamp_ms,
            "producerId": h.producer_id,
            "producerEpoch": h.producer_epoch,
        }


def genesis_merkle_root(allocation: dict[bytes, int]) -> bytes:
    """The genesis block commits to the allocation: leaves are sha256(address || balance)."""
    leaves = [
        hashlib.sha256(addr + bal.to_bytes(16, "big")).digest()
        for addr, bal in sorted(allocation.items())
    ]
    return merkle_root(leaves)
