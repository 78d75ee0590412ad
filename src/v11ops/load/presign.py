"""Signing ahead: each account's request bodies, signed and serialised before the clock starts.

An account signs its transactions with strictly increasing nonces, starting from the wall clock
in microseconds. Signing costs far more than a microsecond, so a later run against the same
database always starts above every nonce an earlier run used.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import orjson

from v11node.ledger.accounts import DEV_ACCOUNT_COUNT, dev_address, dev_signing_key
from v11node.ledger.transaction import canonical_bytes, sign

AMOUNT = 1


def nonce_base() -> int:
    """The first nonce of a run: microseconds since the epoch, above any earlier run's nonces."""
    return time.time_ns() // 1000


class Account:
    """A funded development account that signs batches of transfers to its neighbour.

    `take()` hands out the pre-signed bodies in nonce order and signs more on the spot (counted
    as late) when the run asks this account for more requests than it was planned for.
    """

    __slots__ = ("_key", "_recipient", "_recipient_hex", "_sender", "_sender_hex", "batch",
                 "bodies", "index", "next_nonce")  # fmt: skip

    def __init__(self, index: int, batch: int, first_nonce: int) -> None:
        self.index = index
        self.batch = batch
        self.next_nonce = first_nonce
        self.bodies: deque[bytes] = deque()
        self._key = dev_signing_key(index)
        self._sender = dev_address(index)
        self._sender_hex = self._sender.hex()
        self._recipient = dev_address((index + 1) % DEV_ACCOUNT_COUNT)
        self._recipient_hex = self._recipient.hex()

    def sign_batch(self) -> bytes:
        """Sign the next `batch` transactions and return the request body."""
        txs = []
        for _ in range(self.batch):
            nonce = self.next_nonce
            self.next_nonce += 1
            message = canonical_bytes(self._sender, self._recipient, AMOUNT, nonce, "")
            txs.append(
                {
                    "sender": self._sender_hex,
                    "recipient": self._recipient_hex,
                    "amount": AMOUNT,
                    "nonce": nonce,
                    "signature": sign(self._key, message).hex(),
                }
            )
        return orjson.dumps(txs[0] if self.batch == 1 else {"transactions": txs})

    def presign(self, count: int) -> None:
        for _ in range(count):
            self.bodies.append(self.sign_batch())

    def take(self) -> tuple[bytes, bool]:
        """The next request body, and whether it had to be signed late (inside the run)."""
        if self.bodies:
            return self.bodies.popleft(), False
        return self.sign_batch(), True


def plan_accounts(indexes: Sequence[int], batch: int, requests: int) -> list[tuple[Account, int]]:
    """Accounts in queue order, each with how many requests it is expected to send.

    The free-account queue is first-in first-out, so in steady state requests go round-robin:
    spreading them evenly means exactly as many bodies are signed as will be sent.
    """
    first_nonce = nonce_base()
    share, extra = divmod(requests, len(indexes))
    return [
        (Account(index, batch, first_nonce), share + (1 if pos < extra else 0))
        for pos, index in enumerate(indexes)
    ]


def presign(planned: Sequence[tuple[Account, int]], threads: int) -> list[Account]:
    """Sign every planned body; libsodium releases the GIL, so threads sign in parallel."""
    if threads <= 1 or len(planned) == 1:
        for account, count in planned:
            account.presign(count)
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="presign") as pool:
            list(pool.map(lambda item: item[0].presign(item[1]), planned))
    return [account for account, _ in planned]
