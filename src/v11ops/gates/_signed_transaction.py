"""The `signed_transaction` smoke check: the node accepts one correctly signed transaction."""

from __future__ import annotations

import time

import httpx

from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction, to_json
from v11ops.config import SignedTransactionCheck
from v11ops.gates._http import describe_failure, excerpt
from v11ops.gates._result import Evidence

_last_nonce = 0


def next_nonce() -> int:
    """Nanoseconds since the epoch, strictly increasing within this process.

    Nonces only need to increase per sender; the smoke sender is reserved for smoke checks, and
    time keeps two controllers' checks (or two runs of one) from ever reusing a nonce.
    """
    global _last_nonce
    _last_nonce = max(time.time_ns(), _last_nonce + 1)
    return _last_nonce


async def signed_transaction_check(
    http: httpx.AsyncClient,
    base_url: str,
    check: SignedTransactionCheck,
    version: str,
    headers: dict[str, str],
) -> list[Evidence]:
    """POST one transaction from the reserved development account; expect `expect_status`."""
    tx = make_transaction(
        dev_signing_key(check.sender_index),
        dev_address(check.recipient_index),
        check.amount,
        next_nonce(),
        memo=f"v11ops smoke check, release {version}",
    )
    label = (
        f"{check.name}: POST {check.path} transaction {tx.hash.hex()[:16]} "
        f"from dev account {check.sender_index}"
    )
    try:
        response = await http.post(
            f"{base_url}{check.path}", json=to_json(tx), headers=headers, timeout=check.timeout_s
        )
    except httpx.HTTPError as exc:
        return [Evidence(f"{label} status", describe_failure(exc), check.expect_status, False)]
    passed = response.status_code == check.expect_status
    return [
        Evidence(
            f"{label} status",
            response.status_code,
            check.expect_status,
            passed,
            note="" if passed else excerpt(response.text),
        )
    ]
