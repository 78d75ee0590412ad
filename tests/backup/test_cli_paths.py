"""`v11ops backup ...` as an operator reads it: listings with drills and damage, verify and
prune reports, drills that fail, the schedule's failures, and one-line errors for mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.backup.basebackup import SEGMENT, base_backup
from tests.backup.conftest import claim_height, cli
from v11ops.backup.dr import DrReport
from v11ops.backup.keys import BackupKey
from v11ops.backup.manifest import WAL_DIR
from v11ops.cli import backup as backup_cli
from v11ops.config import DEFAULT_CONFIG_YAML


def _create(url: str, repo: Path, *extra: str) -> str:
    result = cli("backup", "create", "--db", url, "--repo", str(repo), "--json", *extra)
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["id"])


def _flip_a_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(raw)


def _one_line_error(output: str, text: str) -> None:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], output


def test_list_shows_drills_damage_and_unauthenticated_manifests(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    drilled = _create(sqlite_url, repo, "--key-file", str(key_file))
    failed = _create(sqlite_url, repo, "--key-file", str(key_file))
    damaged = _create(sqlite_url, repo, "--key-file", str(key_file))
    drill = cli(
        "backup", "drill", "--repo", str(repo), "--key-file", str(key_file), "--id", drilled
    )
    assert drill.exit_code == 0 and "drill passed" in drill.stdout, drill.output
    assert f"backup {drilled} restored and verified" in drill.stdout
    _flip_a_byte(repo / failed / "ledger.sqlite.zst.enc")
    bad = cli("backup", "drill", "--repo", str(repo), "--key-file", str(key_file), "--id", failed)
    assert bad.exit_code == 1 and f"drill FAILED for backup {failed}" in bad.stdout, bad.output
    (repo / damaged / "ledger.sqlite.zst.enc").write_bytes(b"short")
    (repo / "20990101T000000000Z").mkdir()  # a backup still being written (no manifest)

    listed = cli("backup", "list", "--repo", str(repo), "--key-file", str(key_file))
    assert listed.exit_code == 0, listed.output
    text = listed.stdout
    assert "pass" in next(line for line in text.splitlines() if drilled in line)
    assert "FAIL" in next(line for line in text.splitlines() if failed in line)
    assert f"{damaged} is corrupt: ledger.sqlite.zst.enc: 5 bytes" in text
    assert "20990101T000000000Z is incomplete: no manifest" in text
    without_key = cli("backup", "list", "--repo", str(repo))
    assert f"{drilled}: manifest not authenticated (give the key" in without_key.stdout


def test_verify_reports_skips_and_refuses_unknown_ids(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    empty = cli("backup", "verify", "--repo", str(repo))
    assert empty.exit_code == 0 and f"no backups in {repo}" in empty.stdout
    good = _create(sqlite_url, repo, "--key-file", str(key_file))
    (repo / "20990101T000000000Z").mkdir()
    unknown = cli("backup", "verify", "--repo", str(repo), "--id", "nope")
    assert unknown.exit_code == 2
    _one_line_error(unknown.output, f"no backup 'nope' in {repo}")

    result = cli("backup", "verify", "--repo", str(repo), "--key-file", str(key_file), "--json")
    assert result.exit_code == 0, result.output
    by_id = {r["id"]: r for r in json.loads(result.stdout)}
    assert by_id["20990101T000000000Z"]["ok"] is None, "an unfinished backup is skipped"
    assert by_id[good]["ok"] is True and by_id[good]["files"][0]["name"].startswith("ledger")
    human = cli("backup", "verify", "--repo", str(repo), "--key-file", str(key_file))
    assert "skipped 20990101T000000000Z: no manifest: unfinished" in human.stdout


def test_restore_reports_a_ledger_that_differs_from_its_manifest(
    sqlite_url: str, tmp_path: Path, key_file: Path, key: BackupKey
) -> None:
    """A manifest that promises another height than the backup holds: the restore is written
    and verified, and the mismatch fails the command (exit 1) with the report."""
    repo = tmp_path / "repo"
    backup_id = _create(sqlite_url, repo, "--key-file", str(key_file))

    claim_height(repo, backup_id, key, 99)
    target = f"sqlite:///{tmp_path / 'restored.db'}"
    common = ["--repo", str(repo), "--key-file", str(key_file), "--to", target]
    result = cli("backup", "restore", *common, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)["ledger"]
    assert report["ok"] is False and "manifest's height 99" in report["problem"]
    human = cli("backup", "restore", *common, "--force")
    assert human.exit_code == 1 and "differs from the manifest's height 99" in human.stdout


def test_restore_refuses_the_wrong_backend_an_unknown_id_and_missing_app_files(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    _create(sqlite_url, repo, "--key-file", str(key_file))
    common = ["--repo", str(repo), "--key-file", str(key_file)]
    to_pg = cli("backup", "restore", *common, "--to", "postgresql://127.0.0.1:1/x")
    assert to_pg.exit_code == 2
    _one_line_error(to_pg.output, "is a sqlite ledger: restore it to a sqlite:///PATH URL")
    unknown = cli("backup", "restore", *common, "--to", "sqlite:///x.db", "--id", "nope")
    assert unknown.exit_code == 2
    _one_line_error(unknown.output, "no backup 'nope' in the repository")
    app = cli("backup", "restore", *common, "--app-to", str(tmp_path / "site"))
    assert app.exit_code == 2 and "has no application files" in app.output
    assert not (tmp_path / "site").exists() or not any((tmp_path / "site").iterdir())


def test_restore_app_files_with_json_and_a_config_without_state_dir(
    sqlite_url: str, tmp_path: Path, key_file: Path
) -> None:
    site = tmp_path / "site"
    (site / ".v11ops").mkdir(parents=True)
    config = site / "v11ops.yaml"
    config.write_text(DEFAULT_CONFIG_YAML.replace("state_dir: .v11ops\n", ""))
    (site / ".v11ops" / "routes.json").write_text('{"live": "blue"}')
    created = cli("backup", "create", "--file", str(config), "--db", sqlite_url,
                  "--key-file", str(key_file), "--json")  # fmt: skip
    assert created.exit_code == 0, created.output
    rebuilt = tmp_path / "rebuilt"
    result = cli("backup", "restore", "--repo", str(site / ".v11ops" / "backups"),
                 "--key-file", str(key_file), "--app-to", str(rebuilt), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["app"]
    assert sorted(written) == [
        str(rebuilt / ".v11ops" / "routes.json"),
        str(rebuilt / "v11ops.yaml"),
    ]
    assert (rebuilt / ".v11ops" / "routes.json").read_text() == '{"live": "blue"}'


def test_prune_lists_what_it_keeps_deletes_and_leaves_alone(
    sqlite_url: str, tmp_path: Path, key_file: Path, key: BackupKey
) -> None:
    repo = tmp_path / "repo"
    ids = [_create(sqlite_url, repo, "--key-file", str(key_file)) for _ in range(3)]
    (repo / ids[0] / "ledger.sqlite.zst.enc").write_bytes(b"")  # corrupt: evidence, kept
    (repo / "20990101T000000000Z").mkdir()  # unfinished
    base_backup(repo, key, "20240101T000000000Z", wal_start=SEGMENT)
    (repo / WAL_DIR).mkdir()
    for name in ("000000010000000000000001.zst.enc", "000000010000000000000002.zst.enc"):
        (repo / WAL_DIR / name).write_bytes(b"old")
    (repo / WAL_DIR / f"{SEGMENT}.zst.enc").write_bytes(b"needed")
    args = ["backup", "prune", "--repo", str(repo), "--key-file", str(key_file)]
    policy = ["--keep-last", "1", "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0"]

    dry = cli(*args, *policy, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would delete {ids[1]}" in dry.stdout
    assert "would delete 20990101T000000000Z (unfinished)" in dry.stdout
    assert f"corrupt {ids[0]}: kept, inspect and delete it by hand" in dry.stdout
    assert f"keep   {ids[2]}: last" in dry.stdout
    assert "would delete 2 archived WAL files older than every base" in dry.stdout
    assert len(list((repo / WAL_DIR).iterdir())) == 3, "a dry run deletes nothing"

    done = cli(*args, *policy)
    assert f"deleted {ids[1]}" in done.stdout and "deleted 2 archived WAL files" in done.stdout
    assert [p.name for p in (repo / WAL_DIR).iterdir()] == [f"{SEGMENT}.zst.enc"]
    assert sorted(p.name for p in repo.iterdir() if not p.name.startswith(".")) == sorted(
        [ids[0], ids[2], "20240101T000000000Z", WAL_DIR]
    )


def test_a_postgresql_drill_needs_a_scratch_server(
    pg_url: str, tmp_path: Path, key_file: Path
) -> None:
    repo = tmp_path / "repo"
    _create(pg_url, repo, "--key-file", str(key_file))
    result = cli("backup", "drill", "--repo", str(repo), "--key-file", str(key_file))
    assert result.exit_code == 2
    _one_line_error(result.output, "a PostgreSQL drill needs a server for its scratch database")


def test_a_failing_scheduled_cycle_is_reported_and_fails_the_command(
    tmp_path: Path, sqlite_url: str
) -> None:
    config = tmp_path / "v11ops.yaml"
    config.write_text(DEFAULT_CONFIG_YAML + "backup:\n  encrypt: false\n")
    missing = f"sqlite:///{tmp_path / 'gone.db'}"
    result = cli("backup", "schedule", "--file", str(config), "--db", missing, "--once")
    assert result.exit_code == 1, result.output
    assert "backup failed" in result.stdout and "no such database file" in result.stdout
    ok = cli("backup", "schedule", "--file", str(config), "--db", sqlite_url, "--once")
    assert ok.exit_code == 0 and " backup " in ok.stdout, "no key needed when encryption is off"


def test_systemd_units_need_the_config_file_they_will_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no v11ops.yaml here
    result = cli("backup", "schedule", "--repo", "r", "--systemd", "units")
    assert result.exit_code == 2
    _one_line_error(result.output, "--systemd needs the config file the service will use")
    assert not (tmp_path / "units").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backup", "list"], "--repo DIR is required when there is no config file"),
        (["backup", "create", "--repo", "r"], "no database: pass --db URL"),
        (["backup", "create", "--repo", "r", "--db", "mysql://x"], "unsupported database URL"),
        (
            ["backup", "list", "--repo", "r", "--key-file", "missing.key"],
            "file:missing.key: cannot read",
        ),
        (["backup", "schedule", "--repo", "r", "--every", "5x"], "interval '5x'"),
    ],
)
def test_usage_mistakes_are_one_line_errors_and_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(*args)
    assert result.exit_code == 2
    _one_line_error(result.output, message)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_ledger_file_leaves_no_backup_folder(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = cli("backup", "create", "--db", f"sqlite:///{tmp_path / 'no.db'}", "--repo",
                 str(repo), "--no-encrypt")  # fmt: skip
    assert result.exit_code == 2
    _one_line_error(result.output, "no such database file")
    assert [p.name for p in repo.iterdir()] == [".lock"]


def test_the_metrics_dir_of_the_config_can_be_overridden(
    tmp_path: Path, sqlite_url: str, key_file: Path
) -> None:
    config = tmp_path / "v11ops.yaml"
    config.write_text(DEFAULT_CONFIG_YAML)
    elsewhere = tmp_path / "prom"
    result = cli("backup", "create", "--file", str(config), "--db", sqlite_url,
                 "--key-file", str(key_file), "--metrics-dir", str(elsewhere))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [p.suffix for p in elsewhere.iterdir()] == [".prom"]


def test_sizes_read_as_people_read_them() -> None:
    assert [backup_cli._size(n) for n in (0, 1023, 1024, 5 << 20, 3 << 30, 5 << 40)] == [
        "0 B", "1023 B", "1.0 KiB", "5.0 MiB", "3.0 GiB", "5120.0 GiB",
    ]  # fmt: skip


def test_the_dr_report_names_every_measure_and_problem(capsys: pytest.CaptureFixture[str]) -> None:
    report = DrReport(backup_id="20250101T000000000Z", backup_s=1.5, restore_s=0.25,
                      rpo_s=4.0, acknowledged=40, lost_transactions=7,
                      problems=["the stack did not serve"])  # fmt: skip
    backup_cli._print_dr_report(report)
    out = " ".join(capsys.readouterr().out.split())
    assert "20250101T000000000Z, 1.50s" in out and "RTO: loss to serving again │ -" in out
    assert "7 of 40" in out and "problem: the stack did not serve" in out
