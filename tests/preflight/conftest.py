from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from v11ops.config import DEFAULT_CONFIG_YAML, Config, load_config
from v11ops.preflight import (
    BackupManifest,
    GateCheck,
    GateReport,
    backups_folder,
    write_backup_manifest,
    write_gate_report,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """`v11ops init`'s config in a fresh folder (its state dir: .v11ops beside it)."""
    path = tmp_path / "v11ops.yaml"
    path.write_text(DEFAULT_CONFIG_YAML)
    return path


@pytest.fixture
def config(config_file: Path) -> Config:
    return load_config(config_file)


def gate_report(version: str = "1.1.0", *, failed: str | None = None) -> GateReport:
    names = ("tests", "coverage_lines", "coverage_branches", "ruff", "mypy")
    checks = tuple(GateCheck(name=n, passed=n != failed) for n in names)
    return GateReport(
        version=version,
        commit="3f2a9c1",
        passed=failed is None,
        finished_at=NOW - timedelta(hours=2),
        checks=checks,
    )


def write_gate(path: Path, version: str = "1.1.0", *, failed: str | None = None) -> Path:
    write_gate_report(path, gate_report(version, failed=failed))
    return path


def write_backup(
    config: Config, backup_id: str, created_at: datetime, *, verified: bool = True
) -> Path:
    folder = backups_folder(config.state_path) / backup_id
    folder.mkdir(parents=True)
    manifest = BackupManifest(
        id=backup_id,
        created_at=created_at,
        verified=verified,
        verified_at=created_at + timedelta(minutes=3) if verified else None,
        size_bytes=1024,
    )
    write_backup_manifest(folder, manifest)
    return folder


StartPrometheus = Callable[[int], str]


@pytest.fixture
def prometheus() -> Iterator[StartPrometheus]:
    """A stand-in Prometheus whose /-/healthy answers the given status; returns its URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = status if self.path == "/-/healthy" else 404
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
