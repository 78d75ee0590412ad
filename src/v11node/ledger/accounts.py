"""Deterministic development accounts and the genesis allocation.

A node started without a genesis file uses the development genesis: DEV_ACCOUNT_COUNT accounts
whose keys derive from their index, each funded with DEV_BALANCE. The load generator derives the
same keys, so it can sign for funded accounts without any shared file (like `geth --dev`).
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from nacl.signing import SigningKey

DEV_ACCOUNT_COUNT = 10_000
DEV_BALANCE = 10**15


@lru_cache(maxsize=DEV_ACCOUNT_COUNT)
def dev_signing_key(index: int) -> SigningKey:
    seed = hashlib.sha256(f"aurigraph-v11-dev-account-{index}".encode()).digest()
    return SigningKey(seed)


def dev_address(index: int) -> bytes:
    return bytes(dev_signing_key(index).verify_key)


def dev_genesis(count: int = DEV_ACCOUNT_COUNT, balance: int = DEV_BALANCE) -> dict[bytes, int]:
    return {dev_address(i): balance for i in range(count)}


class GenesisError(ValueError):
    """The genesis file is unreadable or malformed."""


def load_genesis(path: Path) -> dict[bytes, int]:
    """Read `{"accounts": {"<hex public key>": <balance>, ...}}`."""
    try:
        raw = json.loads(path.read_text())
        accounts = raw["accounts"]
        allocation = {bytes.fromhex(addr): int(bal) for addr, bal in accounts.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GenesisError(f"{path}: not a genesis file ({exc})") from exc
    for addr, bal in allocation.items():
        if len(addr) != 32 or bal < 0:
            raise GenesisError(f"{path}: account {addr.hex()} needs a 32-byte key, balance >= 0")
    return allocation


def write_genesis(path: Path, allocation: dict[bytes, int]) -> None:
    accounts = {addr.hex(): bal for addr, bal in allocation.items()}
    path.write_text(json.dumps({"accounts": accounts}, indent=1))
