"""What a node reads besides requests: V11_FAULT_* variables, genesis files, signatures."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from v11node.crypto import _pynacl_verify, verify_detached
from v11node.faults import FaultConfigError, Faults, faults_from_env
from v11node.ledger.accounts import (
    GenesisError,
    dev_address,
    dev_signing_key,
    load_genesis,
    write_genesis,
)


def test_no_fault_variables_means_no_faults() -> None:
    faults = faults_from_env({"V11_FAULT_LATENCY_MS": ""})
    assert faults == Faults() and not faults.active
    assert faults.describe() == {}
    assert not faults.should_fail(random.Random(1))


def test_fault_variables_are_read_and_described() -> None:
    faults = faults_from_env({
        "V11_FAULT_ERROR_RATE": "1",
        "V11_FAULT_LATENCY_MS": "250",
        "V11_FAULT_READY_DELAY_S": "2.5",
        "V11_FAULT_NEVER_READY": "yes",
        "V11_FAULT_CRASH_AFTER_S": "3",
    })  # fmt: skip
    assert faults.active
    assert faults.describe() == {
        "error_rate": 1.0,
        "latency_ms": 250.0,
        "ready_delay_s": 2.5,
        "never_ready": True,
        "crash_after_s": 3.0,
    }
    assert faults.should_fail(random.Random(1))


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("V11_FAULT_ERROR_RATE", "lots", "expected a number"),
        ("V11_FAULT_ERROR_RATE", "1.5", "expected a number from 0.0 to 1.0"),
        ("V11_FAULT_CRASH_AFTER_S", "-1", "expected a number from 0.0 to 86400.0"),
    ],
)
def test_a_bad_fault_variable_is_named_with_its_value(name: str, value: str, expected: str) -> None:
    with pytest.raises(FaultConfigError, match=f"^{name}='{value}': {expected}$"):
        faults_from_env({name: value})


def test_a_written_genesis_file_reads_back_the_same_allocation(tmp_path: Path) -> None:
    allocation = {dev_address(i): 10 * i for i in range(3)}
    path = tmp_path / "genesis.json"
    write_genesis(path, allocation)
    assert load_genesis(path) == allocation


@pytest.mark.parametrize(
    "content",
    ["not json", '{"no accounts": {}}', '{"accounts": {"zz": 1}}', '{"accounts": ["a"]}'],
)
def test_an_unreadable_genesis_file_is_named(tmp_path: Path, content: str) -> None:
    path = tmp_path / "genesis.json"
    path.write_text(content)
    with pytest.raises(GenesisError, match=r"genesis\.json: not a genesis file"):
        load_genesis(path)


def test_a_missing_genesis_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(GenesisError, match=r"absent\.json: not a genesis file"):
        load_genesis(tmp_path / "absent.json")


def test_a_negative_genesis_balance_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    write_genesis(path, {dev_address(1): -1})
    with pytest.raises(GenesisError, match="needs a 32-byte key, balance >= 0"):
        load_genesis(path)


@pytest.mark.parametrize("verify", [verify_detached, _pynacl_verify], ids=["libsodium", "pynacl"])
def test_both_verifiers_accept_only_the_signed_message(verify: object) -> None:
    assert callable(verify)
    key = dev_signing_key(3)
    public = bytes(key.verify_key)
    signature = key.sign(b"pay 5").signature
    assert verify(public, b"pay 5", signature) is True
    assert verify(public, b"pay 6", signature) is False
    assert verify(dev_address(4), b"pay 5", signature) is False
    assert verify(public, b"pay 5", signature[:10]) is False, "a short signature"
    assert verify(public[:5], b"pay 5", signature) is False, "a short key"
