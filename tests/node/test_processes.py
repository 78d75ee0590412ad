"""The node as a real process: crash durability, producer lease takeover, graceful shutdown."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.nodeproc import V11OPS, NodeProcess
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.transaction import make_transaction, to_json
from v11node.storage import open_storage
from v11ops.runtime import free_port

pytestmark = pytest.mark.slow


class Submitter:
    """Signs and submits batches; each account's nonces go out in order, one request at a time."""

    def __init__(self, first_account: int = 0, accounts: int = 200, batch: int = 20) -> None:
        self.first, self.accounts, self.batch = first_account, accounts, batch
        self.nonce = dict.fromkeys(range(first_account, first_account + accounts), 0)
        self.acked: list[str] = []
        self.cursor = 0

    def next_batch(self) -> list[dict[str, object]]:
        out = []
        for _ in range(self.batch):
            i = self.first + self.cursor % self.accounts
            self.cursor += 1
            self.nonce[i] += 1
            out.append(
                to_json(make_transaction(dev_signing_key(i), dev_address(i + 1), 1, self.nonce[i]))
            )
        return out

    def run(self, url: str, batches: int) -> int:
        """Submit up to `batches` batches; stop at the first connection failure."""
        sent = 0
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(batches):
                body = self.next_batch()
                try:
                    r = client.post("/api/v11/transactions", json={"transactions": body})
                except httpx.HTTPError:
                    self._rewind(body)
                    return sent
                if r.status_code != 202:
                    self._rewind(body)
                    return sent
                self.acked.extend(r.json()["hashes"])
                sent += 1
        return sent

    def _rewind(self, body: list[dict[str, object]]) -> None:
        # Not acknowledged: the node may or may not have stored it. Nonces move on regardless
        # (strictly increasing, gaps allowed), so nothing needs undoing.
        pass


def _statuses(db: str, hashes: list[str]) -> dict[str, str]:
    storage = open_storage(db)
    try:
        out = {}
        for h in hashes:
            rec = storage.get_transaction(bytes.fromhex(h))
            out[h] = rec.status if rec else "MISSING"
        return out
    finally:
        storage.close()


def _verify(db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [V11OPS, "node", "verify", "--db", db], capture_output=True, text=True, timeout=120
    )


def test_every_acknowledged_transaction_survives_sigkill(tmp_path: Path, db_url: str) -> None:
    submitter = Submitter()
    port = free_port()
    for round_ in range(3):
        node = NodeProcess(port, db_url, "durable", tmp_path / "node.log").start()
        node.wait_ready()
        killer = threading.Timer(0.4 + 0.3 * round_, node.kill)
        killer.start()
        submitter.run(node.url, batches=400)  # ends when the node dies (or after 400 batches)
        killer.join()
        node.kill()
    assert len(submitter.acked) > 100, "the test must acknowledge a meaningful number of writes"
    statuses = _statuses(db_url, submitter.acked)
    missing = [h for h, s in statuses.items() if s == "MISSING"]
    assert missing == [], f"{len(missing)} acknowledged transactions were lost"
    assert set(statuses.values()) <= {"PENDING", "CONFIRMED"}
    result = _verify(db_url)
    assert result.returncode == 0, result.stdout + result.stderr


def _wait_all_confirmed(db: str, hashes: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(_statuses(db, hashes).values()) == {"CONFIRMED"}:
            return
        time.sleep(0.2)
    raise AssertionError(f"not all confirmed: {set(_statuses(db, hashes).values())}")


def _role(url: str) -> str | None:
    try:
        return str(httpx.get(f"{url}/api/v11/consensus/status", timeout=2).json()["role"])
    except (httpx.HTTPError, KeyError, ValueError):
        return None


def test_a_follower_takes_over_when_the_producer_dies_without_a_fork(
    tmp_path: Path, db_url: str
) -> None:
    a = NodeProcess(free_port(), db_url, "node-a", tmp_path / "a.log").start()
    a.wait_ready()
    b = NodeProcess(free_port(), db_url, "node-b", tmp_path / "b.log").start()
    b.wait_ready()
    try:
        assert _role(a.url) == "LEADER" and _role(b.url) == "FOLLOWER"
        submitter = Submitter(batch=10)
        assert submitter.run(b.url, batches=20) == 20, "a follower accepts transactions too"
        _wait_all_confirmed(db_url, submitter.acked)  # node-a (the producer) chains them
        a.kill()
        deadline = time.monotonic() + 20
        while _role(b.url) != "LEADER" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _role(b.url) == "LEADER", b.tail()
        assert submitter.run(b.url, batches=20) == 20
        _wait_all_confirmed(db_url, submitter.acked)
    finally:
        a.kill()
        b.kill()
    storage = open_storage(db_url)
    try:
        blocks = list(storage.iter_blocks())
    finally:
        storage.close()
    heights = [blk.header.height for blk in blocks]
    assert heights == list(range(len(blocks))), "no gap, no repeated height"
    producers = [(blk.header.producer_id, blk.header.producer_epoch) for blk in blocks[1:]]
    assert {"node-a", "node-b"} <= {p for p, _ in producers}
    epochs = [e for _, e in producers]
    assert epochs == sorted(epochs), "a block never comes from an older epoch than its parent"
    assert _verify(db_url).returncode == 0


def test_sigterm_drains_in_flight_requests_and_hands_over_the_lease(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    node = NodeProcess(
        free_port(), db, "drainer", tmp_path / "node.log",
        extra_args=["--shutdown-delay", "1.0", "--drain-timeout", "10"],
        env={"V11_FAULT_LATENCY_MS": "1500"},
    ).start()  # fmt: skip
    node.wait_ready()
    slow: dict[str, object] = {}

    def slow_request() -> None:
        tx = to_json(make_transaction(dev_signing_key(1), dev_address(2), 1, 1))
        slow["response"] = httpx.post(f"{node.url}/api/v11/transactions", json=tx, timeout=10)

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.3)  # the request is now in flight (it takes 1.5 s)
    assert node.proc is not None
    node.proc.terminate()
    time.sleep(0.2)
    ready = httpx.get(f"{node.url}/q/health/ready", timeout=2)
    assert ready.status_code == 503, "readiness goes down as soon as the drain begins"
    worker.join(timeout=15)
    response = slow["response"]
    assert isinstance(response, httpx.Response) and response.status_code == 202
    assert node.proc.wait(timeout=15) == 0
    storage = open_storage(db)
    try:
        assert storage.read_lease().holder is None, "the lease was released, not left to expire"
        assert storage.get_transaction(bytes.fromhex(response.json()["hashes"][0])) is not None
    finally:
        storage.close()


def test_node_cli_rejects_bad_input_without_a_traceback(tmp_path: Path) -> None:
    cases = [
        (["node", "verify", "--db", f"sqlite:///{tmp_path / 'none.db'}"], "no such database file"),
        (["node", "verify", "--db", "mysql://x"], "unsupported database URL"),
        (["node", "run", "--db", "redis://x"], "--db"),
    ]
    for args, message in cases:
        r = subprocess.run([V11OPS, *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run(
        [V11OPS, "node", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"V11_FAULT_ERROR_RATE": "lots", "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == 2 and "V11_FAULT_ERROR_RATE" in r.stderr


def test_logs_are_ecs_json_lines(tmp_path: Path) -> None:
    node = NodeProcess(free_port(), f"sqlite:///{tmp_path / 'l.db'}", "logger", tmp_path / "n.log")
    node.start().wait_ready()
    node.terminate()
    import json

    lines = [json.loads(line) for line in node.log_path.read_text().splitlines() if line.strip()]
    assert len(lines) >= 3
    for doc in lines:
        assert {"@timestamp", "log.level", "message", "service.name", "service.version"} <= set(doc)
        assert doc["service.name"] == "aurigraph-v11-node"
    messages = [d["message"] for d in lines]
    assert "storage open" in messages and "stopped" in messages
    assert any(k.startswith("event.") for d in lines for k in d), "context goes under event.*"
