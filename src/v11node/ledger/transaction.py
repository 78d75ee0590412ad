"""Signed transactions and their canonical byte encoding.

The canonical encoding is what gets signed and hashed. It is fixed-width where it can be, so that
two implementations cannot disagree about it:

    b"AURIGRAPH-V11-TX\\x01"      domain separator and encoding version (17 bytes)
    sender                        32 bytes, Ed25519 public key
    recipient                     32 bytes, Ed25519 public key of the receiving account
    amount                        8 bytes, unsigned big-endian, > 0
    nonce                         8 bytes, unsigned big-endian, > 0
    memo length                   2 bytes, unsigned big-endian
    memo                          UTF-8 bytes, at most MAX_MEMO_BYTES

The transaction hash is SHA-256 of the canonical encoding (the signature is not part of it, so a
resubmission is recognised whatever signature bytes it carries). The signature is Ed25519 over the
canonical encoding.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from nacl.bindings import crypto_sign
from nacl.signing import SigningKey

from v11node.crypto import verify_detached

DOMAIN = b"AURIGRAPH-V11-TX\x01"
MAX_MEMO_BYTES = 256
MAX_U64 = 2**64 - 1
_FIXED = struct.Struct(">QQH")


@dataclass(frozen=True, slots=True)
class Transaction:
    """A transaction as submitted: all fields are already validated for shape."""

    sender: bytes
    recipient: bytes
    amount: int
    nonce: int
    memo: str
    signature: bytes

    def signing_bytes(self) -> bytes:
        return canonical_bytes(self.sender, self.recipient, self.amount, self.nonce, self.memo)

    @property
    def hash(self) -> bytes:
        return tx_hash(self.signing_bytes())

    def verify(self) -> bool:
        """True when the signature is valid for the sender over the canonical encoding."""
        return verify_signature(self.sender, self.signing_bytes(), self.signature)


def canonical_bytes(sender: bytes, recipient: bytes, amount: int, nonce: int, memo: str) -> bytes:
    memo_bytes = memo.encode("utf-8")
    if len(memo_bytes) > MAX_MEMO_BYTES:
        raise ValueError(f"memo is {len(memo_bytes)} bytes, at most {MAX_MEMO_BYTES} allowed")
    return DOMAIN + sender + recipient + _FIXED.pack(amount, nonce, len(memo_bytes)) + memo_bytes


def tx_hash(signing_bytes: bytes) -> bytes:
    """A transaction's hash from its canonical encoding."""
    return hashlib.sha256(signing_bytes).digest()


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    # libsodium's detached verification (see v11node.crypto); it releases the GIL.
    return verify_detached(public_key, message, signature)


def sign(signing_key: SigningKey, message: bytes) -> bytes:
    """Detached Ed25519 signature (64 bytes)."""
    return crypto_sign(message, signing_key._signing_key)[:64]


def make_transaction(
    signing_key: SigningKey, recipient: bytes, amount: int, nonce: int, memo: str = ""
) -> Transaction:
    """Build and sign a transaction (used by the load generator, smoke checks and tests)."""
    sender = bytes(signing_key.verify_key)
    message = canonical_bytes(sender, recipient, amount, nonce, memo)
    return Transaction(sender, recipient, amount, nonce, memo, sign(signing_key, message))


def to_json(tx: Transaction) -> dict[str, object]:
    """The JSON form accepted by POST /api/v11/transactions."""
    body: dict[str, object] = {
        "sender": tx.sender.hex(),
        "recipient": tx.recipient.hex(),
        "amount": tx.amount,
        "nonce": tx.nonce,
        "signature": tx.signature.hex(),
    }
    if tx.memo:
        body["memo"] = tx.memo
    return body
