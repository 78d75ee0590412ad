"""API and admin keys: made by `v11ops node key`, stored by the node as hashes only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.nodeproc import NodeProcess
from v11node.api.keys import KeyFileError, KeyRing, hash_line, load_key_file, new_key
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction, to_json
from v11ops.cli.main import app
from v11ops.runtime import free_port

runner = CliRunner()


def test_new_keys_are_random_and_say_what_they_are() -> None:
    keys = {new_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(k.startswith("v11k_") and len(k) == 5 + 43 for k in keys)  # 32 bytes, base64url
    assert new_key(admin=True).startswith("v11a_")


def test_a_key_file_matches_its_keys_by_name_and_nothing_else(tmp_path: Path) -> None:
    alice, bob = new_key(), new_key()
    path = tmp_path / "api.keys"
    path.write_text(f"# comment\n\n{hash_line('alice', alice)}\n  {hash_line('bob', bob)}  \n")
    ring = load_key_file(path)
    assert ring.names == ("alice", "bob")
    assert ring.match(alice) == "alice" and ring.match(bob) == "bob"
    for wrong in (None, "", alice[:-1], alice + "x", alice.upper(), "v11k_"):
        assert ring.match(wrong) is None, wrong
    assert alice not in path.read_text() + repr(ring)
    assert not KeyRing() and ring


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{key}", "this is a key, not a key hash"),
        ("alice:md5:" + "0" * 32, "key 'alice': unknown hash scheme; expected sha256"),
        ("alice:sha256:" + "g" * 64, "key 'alice': expected 64 lowercase hex digits"),
        ("alice:sha256:" + "A" * 64, "key 'alice': expected 64 lowercase hex digits"),
        ("al ice:sha256:" + "0" * 64, "expected name:sha256:<64 hex>; the name is missing or bad"),
        (":sha256:" + "0" * 64, "the name is missing or bad"),
    ],
)
def test_a_bad_key_file_line_is_named_without_echoing_it(
    tmp_path: Path, line: str, message: str
) -> None:
    key = new_key()
    path = tmp_path / "api.keys"
    path.write_text("# first line\n" + line.format(key=key) + "\n")
    with pytest.raises(KeyFileError) as caught:
        load_key_file(path)
    assert str(caught.value).startswith(f"{path}:2: "), "the file and line are named"
    assert message in str(caught.value) and key not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no keys (expected lines name:sha256:<64 hex>)"),
        ("# only a comment\n", "no keys"),
        (hash_line("a", "k1" * 10) + "\n" + hash_line("a", "k2" * 10), "repeated: a"),
    ],
)
def test_an_unusable_key_file_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "api.keys"
    path.write_text(content)
    with pytest.raises(KeyFileError, match=re.escape(message)):
        load_key_file(path)
    with pytest.raises(KeyFileError, match="cannot read the key file"):
        load_key_file(tmp_path / "absent.keys")


# -- the CLI ---------------------------------------------------------------------------------------
def test_key_create_prints_the_key_once_and_the_line_that_matches_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["node", "key", "create", "--name", "wallet-1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    key = lines[0].rsplit(" ", 1)[1]
    assert key.startswith("v11k_") and "--api-keys-file" in lines[1]
    (tmp_path / "api.keys").write_text(lines[2] + "\n")
    assert load_key_file(tmp_path / "api.keys").match(key) == "wallet-1"


def test_key_create_admin_json_and_key_hash() -> None:
    made = runner.invoke(app, ["node", "key", "create", "--admin", "--json", "--name", "ops"])
    doc = json.loads(made.output)
    assert doc["admin"] is True and doc["key"].startswith("v11a_")
    assert doc["line"] == hash_line("ops", doc["key"])
    hashed = runner.invoke(app, ["node", "key", "hash", "--name", "ops"], input=doc["key"] + "\n")
    assert hashed.exit_code == 0 and hashed.output.strip() == doc["line"]
    assert doc["key"] not in hashed.output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["node", "key", "create", "--name", "a b"], "", "error: --name 'a b': use 1 to 64"),
        (["node", "key", "hash"], "short\n", "error: expected a key of at least 16 characters"),
        (["node", "run", "--cors-origin", "*"], "", "error: --cors-origin '*': expected"),
        (["node", "run", "--api-keys-file", "/nonexistent/k"], "", "cannot read the key file"),
    ],
)
def test_key_and_run_mistakes_exit_2_with_one_line(
    args: list[str], stdin: str, message: str
) -> None:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_a_plain_key_in_a_key_file_is_refused_by_node_run(tmp_path: Path) -> None:
    key = new_key()
    path = tmp_path / "api.keys"
    path.write_text(key + "\n")
    result = runner.invoke(app, ["node", "run", "--api-keys-file", str(path)])
    assert result.exit_code == 2
    assert f"{path}:1: this is a key, not a key hash" in result.output
    assert key not in result.output


# -- a real node -----------------------------------------------------------------------------------
def test_a_running_node_knows_its_keys_by_hash_only(tmp_path: Path) -> None:
    """Key file plus a deprecated plain key in V11_API_KEYS: both work; neither is in the log,
    in /api/v11/info, or in the environment the node's worker processes inherit."""
    filed, legacy = new_key(), "legacy-plain-key-" + new_key()[5:]
    keys = tmp_path / "api.keys"
    keys.write_text(hash_line("filed", filed) + "\n")
    log = tmp_path / "node.log"
    node = NodeProcess(
        port=free_port(),
        db=f"sqlite:///{tmp_path / 'ledger.db'}",
        node_id="keys",
        log_path=log,
        extra_args=["--api-keys-file", str(keys), "--data-dir", str(tmp_path)],
        env={"V11_API_KEYS": legacy},
    )
    try:
        node.start().wait_ready(timeout=60)
        submit = f"{node.url}/api/v11/transactions"
        for nonce, key in enumerate((filed, legacy), start=1):
            tx = to_json(make_transaction(dev_signing_key(50), dev_address(51), 1, nonce))
            assert httpx.post(submit, json=tx, headers={"X-API-Key": key}).status_code == 202
        assert httpx.post(submit, json=tx, headers={"X-API-Key": "nope"}).status_code == 401
        info = httpx.get(f"{node.url}/api/v11/info").text
        assert node.proc is not None
        workers = _children(node.proc.pid)
        assert workers, "the verifier worker processes"
        inherited = b"".join(Path(f"/proc/{pid}/environ").read_bytes() for pid in workers)
    finally:
        node.terminate()
    text = log.read_text()
    assert "V11_API_KEYS holds plain keys (deprecated)" in text
    for key in (filed, legacy):
        assert key not in text and key not in info
        assert key.encode() not in inherited


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out
