"""A block is due every block interval, or as soon as a batch is full: a backlog larger than
one block is committed in consecutive rounds, not one block per interval."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.testclient import TestClient

from v11node.ledger.accounts import dev_address, dev_genesis, dev_signing_key
from v11node.ledger.transaction import make_transaction
from v11node.node import NodeSettings, _genesis
from v11node.server import build_app
from v11node.storage import open_storage


def test_a_backlog_is_committed_in_back_to_back_blocks_when_batches_are_full(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    storage = open_storage(url)
    allocation = dev_genesis()
    storage.initialize_genesis(allocation, _genesis(allocation))
    txs = [make_transaction(dev_signing_key(0), dev_address(1), 1, n) for n in range(1, 8)]
    storage.insert_pending([(t.hash, t, 1) for t in txs])
    storage.close()
    settings = NodeSettings(
        db_url=url,
        node_id="cadence",
        block_interval_s=3600,  # one interval is longer than the test: only full batches go on
        max_block_txs=3,
        verify_processes=0,
    )
    with TestClient(build_app(settings), client=("127.0.0.1", 50000)) as client:
        deadline = time.monotonic() + 20
        while (stats := client.get("/api/v11/stats")).status_code != 200 or stats.json()["pending"]:
            assert time.monotonic() < deadline, stats.text
            time.sleep(0.05)
        heights = [client.get(f"/api/v11/blocks/{h}").json() for h in (1, 2, 3)]
    assert [b["transactionCount"] for b in heights] == [3, 3, 1]
