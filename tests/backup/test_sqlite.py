"""Backups of a SQLite ledger through the CLI: create, list, verify, restore, fail closed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.backup.conftest import cli, rows
from tests.backup.ledger import add_blocks, add_pending
from v11node.storage import open_storage
from v11ops.backup.keys import BackupKey
from v11ops.backup.manifest import MANIFEST_NAME, Status, scan
from v11ops.preflight import judge_backups, read_backup_catalog


def _create(url: str, repo: Path, key_file: Path, *extra: str) -> dict[str, object]:
    result = cli(
        "backup",
        "create",
        "--db",
        url,
        "--repo",
        str(repo),
        "--key-file",
        str(key_file),
        "--json",
        *extra,
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_restore_equals_the_original_row_by_row_and_verifies(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    storage = open_storage(sqlite_url)
    pending = add_pending(storage, 3)  # acknowledged, not yet in a block: must come back too
    storage.close()
    repo = tmp_path / "repo"
    manifest = _create(sqlite_url, repo, key_file)
    ledger = manifest["ledger"]
    assert isinstance(ledger, dict) and ledger["height"] == 4 and ledger["confirmed"] == 20
    assert manifest["encryption"] and manifest["verified"] is False
    assert {f["role"] for f in manifest["files"]} == {"ledger"}  # type: ignore[union-attr]

    target = f"sqlite:///{tmp_path / 'restored' / 'ledger.db'}"
    result = cli(
        "backup",
        "restore",
        "--repo",
        str(repo),
        "--key-file",
        str(key_file),
        "--to",
        target,
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["ledger"]
    assert report["ok"] and report["chain"]["height"] == 4
    assert report["chain"]["tipHash"] == ledger["tip_hash"]
    assert rows(target) == rows(sqlite_url)
    restored = open_storage(target)
    assert all(restored.get_transaction(h) is not None for h in pending)
    restored.close()


def test_list_and_verify_see_a_complete_backup_and_verify_records_it(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    backup_id = _create(sqlite_url, repo, key_file)["id"]
    listed = json.loads(cli("backup", "list", "--repo", str(repo), "--json").stdout)
    assert [(e["id"], e["status"], e["authenticated"]) for e in listed] == [
        (backup_id, "complete", False)  # no key: the MAC of an encrypted backup is unchecked
    ]
    result = cli("backup", "verify", "--repo", str(repo), "--key-file", str(key_file))
    assert result.exit_code == 0, result.output
    assert f"ok {backup_id}" in result.stdout
    listed = json.loads(
        cli("backup", "list", "--repo", str(repo), "--key-file", str(key_file), "--json").stdout
    )
    assert listed[0]["authenticated"] and listed[0]["manifest"]["checked_at"]


@pytest.mark.parametrize("target", ["ledger", "manifest", "manifest-mac"])
@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_a_flipped_byte_in_any_backup_file_is_detected(
    sqlite_url: str, tmp_path: Path, key_file: Path, target: str, where: float
) -> None:
    repo = tmp_path / "repo"
    manifest = _create(sqlite_url, repo, key_file)
    folder = repo / str(manifest["id"])
    name = {"ledger": "ledger.sqlite.zst.enc"}.get(target, MANIFEST_NAME)
    path = folder / name
    raw = bytearray(path.read_bytes())
    offset = int(where * (len(raw) - 1))
    if target == "manifest-mac":
        offset = raw.index(b'"mac"') + 30  # inside the MAC's hex digits
    raw[offset] ^= 0x01
    path.write_bytes(raw)

    verify = cli("backup", "verify", "--repo", str(repo), "--key-file", str(key_file))
    assert verify.exit_code == 1, verify.output
    assert "FAILED" in verify.stdout
    into = f"sqlite:///{tmp_path / 'r.db'}"
    restore = cli(
        "backup",
        "restore",
        "--repo",
        str(repo),
        "--key-file",
        str(key_file),
        "--to",
        into,
        "--id",
        str(manifest["id"]),
    )
    assert restore.exit_code == 1, restore.output
    assert not (tmp_path / "r.db").exists(), "nothing is written from a damaged backup"


def test_a_truncated_archive_is_refused(sqlite_url: str, tmp_path: Path, key_file: Path) -> None:
    repo = tmp_path / "repo"
    backup_id = str(_create(sqlite_url, repo, key_file)["id"])
    path = repo / backup_id / "ledger.sqlite.zst.enc"
    path.write_bytes(path.read_bytes()[:-1000])
    listed = json.loads(cli("backup", "list", "--repo", str(repo), "--json").stdout)
    assert listed[0]["status"] == "corrupt" and "ledger.sqlite.zst.enc" in listed[0]["problem"]
    restore = cli(
        "backup",
        "restore",
        "--repo",
        str(repo),
        "--key-file",
        str(key_file),
        "--to",
        f"sqlite:///{tmp_path / 'r.db'}",
        "--id",
        backup_id,
    )
    assert restore.exit_code == 1 and "corrupt" in restore.output


def test_encryption_fails_closed_and_a_wrong_key_is_refused(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    refused = cli("backup", "create", "--db", sqlite_url, "--repo", str(repo))
    assert refused.exit_code == 2
    assert "encryption is on" in refused.output and "no key" in refused.output
    assert not repo.exists(), "nothing is written, not even an empty folder"
    bad = tmp_path / "bad.key"
    bad.write_text("not-hex")
    assert (
        cli(
            "backup", "create", "--db", sqlite_url, "--repo", str(repo), "--key-file", str(bad)
        ).exit_code
        == 2
    )

    backup_id = str(_create(sqlite_url, repo, key_file)["id"])
    other = tmp_path / "other.key"
    other.write_text(os.urandom(32).hex())
    into = tmp_path / "r.db"
    for args in (["verify"], ["restore", "--to", f"sqlite:///{into}"], ["drill"]):
        result = cli("backup", *args, "--repo", str(repo), "--key-file", str(other))
        assert result.exit_code == 2, (args, result.output)
        assert "wrong key" in result.output
        no_key = cli("backup", *args, "--repo", str(repo))
        assert no_key.exit_code == 2 and "no key" in no_key.output, (args, no_key.output)
    assert not into.exists()
    env_key = {"V11OPS_BACKUP_KEY": key_file.read_text().strip()}
    ok = cli("backup", "verify", "--repo", str(repo), "--id", backup_id, env=env_key)
    assert ok.exit_code == 0, ok.output


def test_plaintext_only_when_asked_and_the_listing_says_so(sqlite_url: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = cli("backup", "create", "--db", sqlite_url, "--repo", str(repo), "--no-encrypt")
    assert result.exit_code == 0, result.output
    assert "NOT encrypted" in result.stdout
    listed = json.loads(cli("backup", "list", "--repo", str(repo), "--json").stdout)
    assert listed[0]["authenticated"] and listed[0]["manifest"]["encryption"] is None
    assert cli("backup", "verify", "--repo", str(repo)).exit_code == 0


def test_restore_refuses_a_non_empty_target_without_force(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    _create(sqlite_url, repo, key_file)
    target = tmp_path / "busy.db"
    target.write_bytes(b"something already here")
    args = [
        "backup",
        "restore",
        "--repo",
        str(repo),
        "--key-file",
        str(key_file),
        "--to",
        f"sqlite:///{target}",
    ]
    refused = cli(*args)
    assert refused.exit_code == 2 and "--force" in refused.output
    assert target.read_bytes() == b"something already here"
    Path(f"{target}-wal").write_bytes(b"a stale WAL of the old database")
    assert cli(*args, "--force").exit_code == 0
    assert not Path(f"{target}-wal").exists() or Path(f"{target}-wal").stat().st_size == 0
    assert rows(f"sqlite:///{target}") == rows(sqlite_url)


def test_a_backup_killed_midway_is_never_listed_as_valid(
    sqlite_url: str, tmp_path: Path, key: BackupKey, key_file: Path
) -> None:
    """SIGKILL (the process kills itself at a chosen point: deterministic) after the ledger file
    is written, and again right before the manifest: neither leaves a usable backup."""
    repo = tmp_path / "state" / "backups"
    script = (
        "import sys; from pathlib import Path; from v11ops.backup.keys import load_key;"
        "from v11ops.backup.create import BackupRequest, create_backup;"
        "create_backup(BackupRequest(db=sys.argv[1], repo=Path(sys.argv[2]),"
        " key=load_key(Path(sys.argv[3]))))"
    )
    for point in ("backup_ledger:after", "backup_manifest:before"):
        proc = subprocess.run(
            [sys.executable, "-c", script, sqlite_url, str(repo), str(key_file)],
            env={**os.environ, "V11OPS_TEST_CRASH_AT": point},
            capture_output=True,
            timeout=60,
        )
        assert proc.returncode == -9, proc.stderr
    entries = scan(repo, key)
    assert len(entries) == 2 and all(e.status == Status.INCOMPLETE for e in entries)
    listed = cli("backup", "list", "--repo", str(repo))
    assert all(f"{e.id} is incomplete: no manifest" in listed.output for e in entries)
    assert (
        cli(
            "backup",
            "restore",
            "--repo",
            str(repo),
            "--key-file",
            str(key_file),
            "--to",
            f"sqlite:///{tmp_path / 'r.db'}",
        ).exit_code
        == 1
    )
    assert read_backup_catalog(tmp_path / "state").manifests == ()  # preflight: none counts
    pruned = cli("backup", "prune", "--repo", str(repo), "--json")
    assert sorted(json.loads(pruned.stdout)["unfinished"]) == sorted(e.id for e in entries)
    assert scan(repo, key) == []


def test_a_drill_marks_the_backup_verified_and_preflight_accepts_it(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    state = tmp_path / "state"
    repo = state / "backups"  # the default repository: {state_dir}/backups
    backup_id = str(_create(sqlite_url, repo, key_file)["id"])
    now = datetime.now(UTC)
    assert judge_backups(read_backup_catalog(state), now, timedelta(hours=24)).status == "fail"
    result = cli("backup", "drill", "--repo", str(repo), "--key-file", str(key_file), "--json")
    assert result.exit_code == 0, result.output
    drill = json.loads(result.stdout)
    assert drill["ok"] and drill["backup"] == backup_id and drill["rtoSeconds"] > 0
    assert drill["restore"]["chain"]["height"] == 4
    verdict = judge_backups(read_backup_catalog(state), now, timedelta(hours=24))
    assert verdict.status == "pass", verdict.reason
    assert backup_id in verdict.reason


def test_app_files_are_backed_up_and_restored(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    from v11ops.config import DEFAULT_CONFIG_YAML

    site = tmp_path / "site"
    site.mkdir()
    config = site / "v11ops.yaml"
    config.write_text(DEFAULT_CONFIG_YAML.replace("state_dir: .v11ops", "state_dir: st"))
    state = site / "st"
    state.mkdir()
    from v11ops.deploy.state import StateDB

    db = StateDB(state / "state.db")
    db.register_release("1.0.0", "f" * 64)
    db.close()
    result = cli(
        "backup",
        "create",
        "--file",
        str(config),
        "--db",
        sqlite_url,
        "--key-file",
        str(key_file),
        "--json",
    )
    assert result.exit_code == 0, result.output
    roles = {f["role"] for f in json.loads(result.stdout)["files"]}
    assert roles == {"ledger", "app"}

    rebuilt = tmp_path / "rebuilt"
    restore = cli(
        "backup",
        "restore",
        "--repo",
        str(state / "backups"),
        "--key-file",
        str(key_file),
        "--app-to",
        str(rebuilt),
    )
    assert restore.exit_code == 0, restore.output
    assert (rebuilt / "v11ops.yaml").read_text() == config.read_text()
    restored = StateDB(rebuilt / "st" / "state.db")
    assert restored.last_good_release() is None
    assert restored._query("SELECT version FROM releases") == [("1.0.0",)]
    restored.close()
    again = cli(
        "backup",
        "restore",
        "--repo",
        str(state / "backups"),
        "--key-file",
        str(key_file),
        "--app-to",
        str(rebuilt),
    )
    assert again.exit_code == 2 and "--force" in again.output


def test_a_backup_taken_while_blocks_are_written_is_consistent(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    """The online backup copies one snapshot: height, tip and rows agree with each other."""
    import threading

    storage = open_storage(sqlite_url)
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            add_blocks(storage, 1, 3)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        manifests = [_create(sqlite_url, tmp_path / "repo", key_file) for _ in range(3)]
    finally:
        stop.set()
        writer.join()
        storage.close()
    key = ["--key-file", str(key_file)]
    for m in manifests:
        result = cli(
            "backup",
            "restore",
            "--repo",
            str(tmp_path / "repo"),
            "--id",
            str(m["id"]),
            "--to",
            f"sqlite:///{tmp_path / str(m['id'])}.db",
            "--json",
            *key,
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["ledger"]["ok"]
