"""Request and response shapes of the node API (they also make the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from v11node.ledger.transaction import MAX_MEMO_BYTES

HexKey = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
HexSignature = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{128}$")]
# Amounts and nonces are stored as signed 64-bit integers.
Positive64 = Annotated[int, Field(strict=True, gt=0, le=2**63 - 1)]


class TransactionIn(BaseModel):
    """A signed transfer. The signature is Ed25519 over the canonical encoding documented in
    `v11node.ledger.transaction`."""

    model_config = ConfigDict(extra="forbid")
    sender: HexKey = Field(description="Ed25519 public key of the sender, 64 hex characters")
    recipient: HexKey = Field(description="Public key of the receiving account, 64 hex characters")
    amount: Positive64
    nonce: Positive64 = Field(description="Strictly increasing per sender")
    memo: Annotated[str, Field(max_length=MAX_MEMO_BYTES)] = ""
    signature: HexSignature


class TransactionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transactions: list[TransactionIn] = Field(min_length=1)


class Duplicate(BaseModel):
    index: int = Field(description="Position in the request's batch")
    hash: str


class Accepted(BaseModel):
    count: int = Field(description="Transactions stored by this request")
    hashes: list[str] = Field(description="Their hashes, in request order")
    duplicates: list[Duplicate] | None = Field(
        default=None,
        description="Transactions of the batch that were already submitted, not stored again",
    )


class TransactionStatus(BaseModel):
    hash: str
    status: str = Field(description="PENDING, CONFIRMED or REJECTED")
    sender: str
    recipient: str
    amount: int
    nonce: int
    acceptedAt: int
    blockHeight: int | None = None
    blockIndex: int | None = None
    reason: str | None = None


class BlockOut(BaseModel):
    height: int
    hash: str
    previousHash: str
    merkleRoot: str
    transactionCount: int
    timestamp: int
    producerId: str
    producerEpoch: int


class AccountOut(BaseModel):
    address: str
    balance: int
    nonce: int


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None
