"""The state-transition rule: apply a block's transactions to account balances and nonces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_BALANCE = 2**63 - 1  # balances are stored as signed 64-bit integers in both databases


@dataclass
class Outcome:
    confirmed: list[int] = field(default_factory=list)  # indices into the input, in order
    rejected: list[tuple[int, str]] = field(default_factory=list)
    accounts: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # touched accounts


def apply_transactions(
    txs: Sequence[tuple[bytes, bytes, int, int]],
    accounts: dict[bytes, tuple[int, int]],
) -> Outcome:
    """Apply (sender, recipient, amount, nonce) in order against `accounts` (balance, nonce).

    A transaction is confirmed when its nonce is greater than the sender's last nonce and the
    sender can pay; otherwise it is rejected with the reason. Unknown accounts start at (0, 0).
    """
    state = dict(accounts)
    out = Outcome()
    for i, (sender, recipient, amount, nonce) in enumerate(txs):
        bal, last_nonce = state.get(sender, (0, 0))
        if nonce <= last_nonce:
            out.rejected.append(
                (i, f"nonce {nonce} is not greater than account nonce {last_nonce}")
            )
            continue
        if amount > bal:
            out.rejected.append((i, f"insufficient balance: {bal} < {amount}"))
            continue
        state[sender] = (bal - amount, nonce)
        rbal, rnonce = state.get(recipient, (0, 0))
        if rbal + amount > MAX_BALANCE:
            state[sender] = (bal, last_nonce)
            out.rejected.append((i, "recipient balance would overflow"))
            continue
        state[recipient] = (rbal + amount, rnonce)
        out.confirmed.append(i)
    out.accounts = {a: v for a, v in state.items() if accounts.get(a) != v}
    return out
