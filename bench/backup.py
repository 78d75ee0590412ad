"""Backup and restore of a 1 GB ledger against the raw tools, the drill's RTO, and the RPO of
PostgreSQL WAL archiving.

Not a test: run it by hand and copy the figures into docs/benchmarks.md.

    .venv/bin/python bench/backup.py [--size-gb 1.0] [--work DIR] [--skip-postgres]
                                     [--skip-pitr] [--json FILE]

One run, loopback only:

(a) A SQLite ledger of at least --size-gb: signed transactions (memo of 180 characters) in blocks
    of 1,000 from 1,000 development accounts, written through the node's schema so that
    `v11ops node verify` passes on it. It is kept in --work and reused by later runs.
(b) SQLite, the same file, page cache warm for every run: `sqlite3 .backup` and `.restore` against
    `backup create` (online backup API snapshot, zstd, AES-256-GCM, SHA-256, manifest), `backup
    verify` (re-read, authenticate, decompress) and `backup restore` (checksums, decrypt,
    decompress, write, fsync; the chain verification after it is reported separately).
(c) PostgreSQL: the same ledger copied into a fresh database on the local server; `pg_dump -Fc`
    (its default compression) and `pg_restore` against `backup create` (pg_dump -Fc -Z0 in an
    exported snapshot, zstd, AES-256-GCM) and `backup restore` (pg_restore --single-transaction).
(d) `backup drill` on the SQLite backup: restore into a scratch file plus the full chain
    verification (every hash, merkle root, signature and balance): the measured RTO.
(e) A throwaway PostgreSQL 15 cluster with WAL archived by `v11ops backup wal-push` and
    archive_timeout 30 s, a block written every 0.2 s; after 75 s the cluster is stopped
    (immediate: a crash), the newest base backup is restored to the end of the archive and
    promoted. RPO: blocks committed before the crash that are missing, and the seconds between
    the last restored block and the crash.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.backup.pgcluster

from _common import machine
from v11node.ledger.accounts import dev_address, dev_signing_key
from v11node.ledger.block import BlockHeader, merkle_root
from v11node.ledger.transaction import make_transaction
from v11node.node import _genesis
from v11node.storage import open_storage
from v11ops.backup.create import BackupRequest, create_backup
from v11ops.backup.drill import run_drill
from v11ops.backup.keys import parse_key
from v11ops.backup.manifest import pick, scan
from v11ops.backup.restore import drop_database, restore_ledger, verify_entry

ACCOUNTS = 1000
PER_BLOCK = 1000
MEMO = 180
PG_ADMIN = "postgresql://127.0.0.1:5432/postgres"


def _sign(task: tuple[int, int]) -> list[tuple[Any, ...]]:
    """One block's transactions: block b, sender i pays 1 to i+1 with nonce b+1 (a worker)."""
    block, count = task
    out = []
    for k in range(count):
        sender = (block * count + k) % ACCOUNTS
        nonce = (block * count + k) // ACCOUNTS + 1
        memo = f"{block:08d}-{k:04d} " + "x" * (MEMO - 14)
        tx = make_transaction(dev_signing_key(sender), dev_address((sender + 1) % ACCOUNTS), 1,
                              nonce, memo)  # fmt: skip
        out.append((tx.hash, tx.sender, tx.recipient, tx.amount, tx.nonce, tx.memo, tx.signature))
    return out


def build_ledger(path: Path, size_bytes: int) -> dict[str, Any]:
    """A verifiable ledger of at least `size_bytes`, written in bulk (generation, not measured)."""
    url = f"sqlite:///{path}"
    allocation = {dev_address(i): 10**15 for i in range(ACCOUNTS)}
    storage = open_storage(url)
    genesis = storage.initialize_genesis(allocation, _genesis(allocation))
    storage.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    balances = {a: [b, 0] for a, b in allocation.items()}
    tip_hash, height, now = genesis.hash, 0, int(time.time() * 1000)
    started = time.perf_counter()
    with multiprocessing.Pool(os.cpu_count()) as pool:
        for block in pool.imap(_sign, ((b, PER_BLOCK) for b in range(10**6)), chunksize=2):
            height += 1
            hashes = [t[0] for t in block]
            header = BlockHeader(height, tip_hash, merkle_root(hashes), len(block), now + height,
                                 "bench", 1)  # fmt: skip
            tip_hash = header.compute_hash()
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO transactions (hash, sender, recipient, amount, nonce, memo, signature,"
                " status, accepted_ms, block_height, block_index, decided_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'CONFIRMED', ?, ?, ?, ?)",
                [(*t, now, height, i, now + height) for i, t in enumerate(block)],
            )
            conn.execute(
                "INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (height, tip_hash, header.previous_hash, header.merkle_root, header.tx_count,
                 header.timestamp_ms, "bench", 1),
            )  # fmt: skip
            conn.execute("COMMIT")
            for t in block:
                balances[t[1]][0] -= 1
                balances[t[1]][1] = t[4]
                balances[t[2]][0] += 1
            if height % 50 == 0 and path.stat().st_size >= size_bytes:
                pool.terminate()
                break
    conn.execute("BEGIN")
    conn.executemany("UPDATE accounts SET balance = ?, nonce = ? WHERE address = ?",
                     [(b, n, a) for a, (b, n) in balances.items()])  # fmt: skip
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"height": height, "transactions": height * PER_BLOCK,
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def warm(path: Path) -> None:
    """Read the file once so that every contender starts from a warm page cache."""
    with path.open("rb") as f:
        while f.read(8 << 20):
            pass


def mbps(size: int, seconds: float) -> float:
    return round(size / 1e6 / seconds, 1)


def raw_tool_pipeline(ledger: Path, scratch: Path) -> None:
    """The same job done with the raw tools: `sqlite3 .backup`, then `zstd -1 -T0` (zstd level 1
    on all cores, as ours), AES-256-CTR with `openssl enc` (no authentication: openssl's CLI has
    no streaming GCM, so this side does a little less), `sha256sum`, and an fsync of the result."""
    copy, sealed = scratch / "pipeline.db", scratch / "pipeline.db.zst.enc"
    key, iv = os.urandom(32).hex(), os.urandom(16).hex()
    script = (
        f"set -eo pipefail; sqlite3 {ledger} '.backup {copy}'; "
        f"zstd -q -1 -T0 -c {copy} | openssl enc -aes-256-ctr -K {key} -iv {iv} > {sealed}; "
        f"sha256sum {sealed} > /dev/null; sync -d {sealed}; rm -f {copy}"
    )
    run(["bash", "-c", script])


def bench_sqlite(work: Path, ledger: Path, key: Any, out: dict[str, Any]) -> Path:
    size = ledger.stat().st_size
    url = f"sqlite:///{ledger}"
    scratch = work / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    warm(ledger)
    raw_backup, _ = timed(lambda: run(["sqlite3", str(ledger), f".backup {scratch / 'raw.db'}"]))
    raw_restore, _ = timed(lambda: run(["sqlite3", str(scratch / "restored-raw.db"),
                                        f".restore {scratch / 'raw.db'}"]))  # fmt: skip
    raw_pipeline, _ = timed(lambda: raw_tool_pipeline(ledger, scratch))
    repo = scratch / "repo"
    ours_backup, manifest = timed(lambda: create_backup(BackupRequest(db=url, repo=repo, key=key)))
    entry = pick(scan(repo, key), manifest.id)
    ours_verify, _ = timed(lambda: verify_entry(entry, key))
    target = f"sqlite:///{scratch / 'restored.db'}"
    # Signatures are re-verified once, in the drill below; here the chain check is the drill's.
    _, report = timed(lambda: restore_ledger(entry, key, target, False, signatures=False))
    out["sqlite"] = {
        "ledger_bytes": size,
        "backup_bytes": manifest.size_bytes,
        "raw_backup_s": round(raw_backup, 2),
        "raw_restore_s": round(raw_restore, 2),
        "raw_pipeline_s": round(raw_pipeline, 2),
        "ours_backup_s": round(ours_backup, 2),
        "ours_verify_s": round(ours_verify, 2),
        "ours_restore_s": round(report.restore_s, 2),
        "chain_verify_s": round(report.verify_s, 2),
        "restore_ok": report.ok,
        "raw_backup_MBps": mbps(size, raw_backup),
        "ours_backup_MBps": mbps(size, ours_backup),
        "ours_backup_and_verify_MBps": mbps(size, ours_backup + ours_verify),
        "raw_restore_MBps": mbps(size, raw_restore),
        "ours_restore_MBps": mbps(size, report.restore_s),
        "backup_ratio": round(ours_backup / raw_backup, 2),
        "backup_vs_raw_pipeline_ratio": round(ours_backup / raw_pipeline, 2),
        "backup_and_verify_ratio": round((ours_backup + ours_verify) / raw_backup, 2),
        "restore_ratio": round(report.restore_s / raw_restore, 2),
    }
    print(json.dumps(out["sqlite"], indent=1), flush=True)
    for signatures in (False, True):
        drill = run_drill(repo, key, scratch_dir=scratch, signatures=signatures)
        assert drill.ok and drill.restore is not None, drill.problem
        out["drill_with_signatures" if signatures else "drill"] = {
            "rto_s": round(drill.duration_s, 2),
            "restore_s": round(drill.restore.restore_s, 2),
            "verify_s": round(drill.restore.verify_s, 2),
        }
    print(json.dumps({k: out[k] for k in ("drill", "drill_with_signatures")}), flush=True)
    return repo


def copy_to_postgres(ledger: Path, url: str) -> None:
    """The SQLite ledger into a fresh PostgreSQL database (COPY), sequences set after."""
    import psycopg

    open_storage(url).close()  # the schema
    src = sqlite3.connect(ledger)
    columns = {
        "meta": "key, value", "genesis": "address, balance", "accounts": "address, balance, nonce",
        "blocks": "height, hash, previous_hash, merkle_root, tx_count, timestamp_ms, producer_id,"
                  " producer_epoch",
        "transactions": "seq, hash, sender, recipient, amount, nonce, memo, signature, status,"
                        " accepted_ms, block_height, block_index, reason, decided_ms",
    }  # fmt: skip
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE meta, genesis, accounts, blocks, transactions")
        for table, cols in columns.items():
            with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in src.execute(f"SELECT {cols} FROM {table}"):
                    copy.write_row(row)
        conn.execute("SELECT setval('transactions_seq_seq', (SELECT max(seq) FROM transactions))")
    src.close()


def bench_postgres(work: Path, ledger: Path, key: Any, out: dict[str, Any]) -> None:
    from v11ops.backup.restore import create_database, with_database

    source = with_database(PG_ADMIN, f"v11bench_src_{os.getpid()}")
    targets = [with_database(PG_ADMIN, f"v11bench_{n}_{os.getpid()}") for n in ("raw", "ours")]
    scratch = work / "pg"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        create_database(source)
        copy_s, _ = timed(lambda: copy_to_postgres(ledger, source))
        print(f"copied into PostgreSQL in {copy_s:.0f}s", flush=True)
        dump = scratch / "ledger.dump"
        raw_dump, _ = timed(lambda: run(["pg_dump", "-Fc", f"--dbname={source}", "-f", str(dump)]))
        create_database(targets[0])
        raw_restore, _ = timed(lambda: run(["pg_restore", "--no-owner", "--single-transaction",
                                            f"--dbname={targets[0]}", str(dump)]))  # fmt: skip
        repo = scratch / "repo"
        ours_dump, manifest = timed(
            lambda: create_backup(BackupRequest(db=source, repo=repo, key=key))
        )
        entry = pick(scan(repo, key), manifest.id)
        _, report = timed(lambda: restore_ledger(entry, key, targets[1], False, signatures=False))
        plain = manifest.files[0].plain_bytes
        out["postgres"] = {
            "dump_plain_bytes": plain,
            "raw_dump_bytes": dump.stat().st_size,
            "backup_bytes": manifest.size_bytes,
            "raw_dump_s": round(raw_dump, 2),
            "raw_restore_s": round(raw_restore, 2),
            "ours_backup_s": round(ours_dump, 2),
            "ours_restore_s": round(report.restore_s, 2),
            "chain_verify_s": round(report.verify_s, 2),
            "restore_ok": report.ok,
            "backup_ratio": round(ours_dump / raw_dump, 2),
            "restore_ratio": round(report.restore_s / raw_restore, 2),
        }
        print(json.dumps(out["postgres"], indent=1), flush=True)
    finally:
        for url in (source, *targets):
            drop_database(url)


def bench_pitr(out: dict[str, Any], run_s: float = 75.0) -> None:
    from tests.backup.ledger import add_blocks
    from tests.backup.ledger import build_ledger as small_ledger
    from tests.backup.pgcluster import (
        Cluster,
        available,
        chown_tree,
        remove,
        scratch_root,
        v11ops_command,
    )
    from v11ops.backup.pitr import archive_command, create_base_backup, restore_pitr

    available()
    root = scratch_root()
    key_file = root / "backup.key"
    key_file.write_text(os.urandom(32).hex())
    repo = root / "repo"
    repo.mkdir()
    chown_tree(root)
    primary, restored = Cluster(root / "primary", root), Cluster(root / "restored", root)
    try:
        primary.init(
            {
                "archive_mode": "on",
                "wal_level": "replica",
                "archive_timeout": "30s",
                "archive_command": archive_command(repo, key_file, v11ops_command()),
            }
        )
        primary.start()  # fmt: skip
        ledger = small_ledger(primary.url, blocks=1)
        key = parse_key(key_file.read_text(), "bench")
        base = create_base_backup(primary.url, repo, key, encrypt=True)
        committed: list[tuple[int, float]] = []  # (height, commit time)
        end = time.monotonic() + run_s
        while time.monotonic() < end:
            add_blocks(ledger, 1, 5)
            tip = ledger.latest_block()
            assert tip is not None
            committed.append((tip.header.height, time.time()))
            time.sleep(0.2)
        loss_at = time.time()
        ledger.close()
        primary.stop()  # immediate: a crash
        recovery = time.perf_counter()
        entry = pick(scan(repo, key), base.id)
        restore_pitr(entry, key, repo, restored.datadir, None, key_file, v11ops_command())
        restored.start().wait_promoted(timeout_s=300)
        storage = open_storage(restored.url)
        tip = storage.latest_block()
        storage.close()
        recovered = time.perf_counter() - recovery
        height = tip.header.height if tip else 0
        last_kept = max((t for h, t in committed if h <= height), default=0.0)
        out["pitr"] = {
            "archive_timeout_s": 30,
            "blocks_committed": len(committed),
            "blocks_lost": sum(1 for h, _ in committed if h > height),
            "seconds_lost": round(loss_at - last_kept, 1),
            "recovery_s": round(recovered, 1),
        }
        print(json.dumps(out["pitr"], indent=1), flush=True)
    finally:
        primary.stop()
        restored.stop()
        remove(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "v11bench-backup"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-pitr", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"machine": machine(), "load_average": os.getloadavg()}
    ledger = args.work / f"ledger-{args.size_gb:g}gb.db"
    if not ledger.exists():
        print(
            f"building a {args.size_gb:g} GB ledger in {ledger} (kept for later runs)", flush=True
        )
        partial = ledger.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        out["generated"] = build_ledger(partial, int(args.size_gb * 1e9))
        partial.rename(ledger)
    key = parse_key(os.urandom(32).hex(), "bench")
    bench_sqlite(args.work, ledger, key, out)
    if not args.skip_postgres:
        bench_postgres(args.work, ledger, key, out)
    if not args.skip_pitr:
        bench_pitr(out)
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
