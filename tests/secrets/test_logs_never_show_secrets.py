"""Configure a secret, drive the code that logs, capture every log line and error message, and
search them for the secret. Each test also checks that the lines it searched were written (a
search of an empty log would pass whatever the code did)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from tests.gates.servers import running
from tests.notify.conftest import Receiver
from tests.support.nodeproc import NodeProcess
from v11node.redact import REDACTED
from v11ops.cli.main import app
from v11ops.runtime import free_port

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cret-Value-7f1c2a9e"
pytestmark = pytest.mark.timeout(90)


def child(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.secrets.drive", *args],
        cwd=REPO, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def log_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_logging_pipeline_redacts_every_field_traceback_and_stdlib_record() -> None:
    result = child("pipeline", SECRET, env={"V11_ADMIN_KEY": SECRET})
    assert result.returncode == 0, result.stderr
    lines = log_lines(result.stdout)
    assert len(lines) == 8, result.stdout  # every call in drive.pipeline was logged
    assert "ValueError: postgresql://v11:[REDACTED]@db/v11" in str(lines[5]["event.exception"])
    assert SECRET not in result.stdout + result.stderr
    for unregistered in ("unregistered-key-1", "unregistered-key-2", "unregisteredTokenValue"):
        assert unregistered not in result.stdout
    assert result.stdout.count(REDACTED) >= 9
    assert "v11_0123456789ab_[REDACTED]" in result.stdout  # the token id stays for the audit
    assert "X-Request-Id" in result.stdout and "r-1" in result.stdout  # the rest stays


def test_console_logs_of_other_cli_processes_are_redacted_too() -> None:
    result = child("console", SECRET)
    assert result.returncode == 0, result.stderr
    assert "retrying with [REDACTED]" in result.stdout and "token=[REDACTED]" in result.stdout
    assert result.stderr == "giving up: [REDACTED]\n"
    assert SECRET not in result.stdout + result.stderr


def _config(tmp_path: Path, webhooks: list[dict[str, object]]) -> Path:
    doc = {
        "service": {"name": "svc", "command": ["true"]},
        "releases": {"1.0.0": {}},
        "notifications": {"webhooks": webhooks},
    }
    path = tmp_path / "v11ops.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_failed_webhook_deliveries_never_log_the_url_or_its_header(tmp_path: Path) -> None:
    receiver = Receiver(status=500)
    with running(receiver.app()) as url:
        (tmp_path / "hook-url").write_text(f"{url}/services/T0/B0/{SECRET}\n")
        (tmp_path / "hook-auth").write_text(f"Bearer {SECRET}-auth\n")
        webhooks = [
            # A 500: httpx logs each request's URL at INFO; the retries log again.
            {"name": "ref", "format": "slack", "url": "file:hook-url", "retries": 1,
             "backoff_s": 0.01, "headers": {"Authorization": "file:hook-auth"}},
            # Written in plain text (config validate warns): still never logged.
            {"name": "plain", "url": f"{url}/generic?token={SECRET}-q", "retries": 0},
            # Nothing listens: a connection error.
            {"name": "down", "url": f"http://127.0.0.1:{free_port()}/h?key={SECRET}-k",
             "retries": 0},
        ]  # fmt: skip
        result = child("webhooks", str(_config(tmp_path, webhooks)))
    assert result.returncode == 0, result.stderr
    messages = [line["message"] for line in log_lines(result.stdout)]
    assert messages.count("notification not delivered") == 3, result.stdout
    assert sum(m.startswith("HTTP Request: POST") for m in messages) == 3  # 2 + 1 attempts
    assert len(receiver.received) == 3  # the requests did carry the secrets
    assert SECRET not in result.stdout + result.stderr


def test_a_config_error_names_the_reference_and_the_field_never_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("V11_TEST_ABSENT_SECRET", raising=False)
    path = _config(tmp_path, [{"name": "w", "url": "env:V11_TEST_ABSENT_SECRET"}])
    result = CliRunner().invoke(app, ["config", "validate", "--file", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: notifications.webhooks[0].url: env:V11_TEST_ABSENT_SECRET: "
        "environment variable V11_TEST_ABSENT_SECRET is not set\n"
    )


def test_a_secret_of_the_wrong_type_is_not_echoed_in_the_error(tmp_path: Path) -> None:
    text = "service: {name: s, command: [x], env: {API_TOKEN: 918273645546372819}}\n"
    path = tmp_path / "v11ops.yaml"
    path.write_text(text + "releases: {1.0.0: {}}\n")
    result = CliRunner().invoke(app, ["config", "validate", "--file", str(path)])
    assert result.exit_code == 2
    assert "918273645546372819" not in result.stderr
    assert result.stderr == f"error: {path}: service.env.API_TOKEN: expected a string\n"


def test_a_cli_error_message_is_redacted_too(tmp_path: Path) -> None:
    # `fail` redacts: a URL with a password passed on the command line is not printed back.
    result = CliRunner().invoke(
        app, ["node", "run", "--db", f"mysql://u:{SECRET}@h/db", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert SECRET not in result.stderr and f"u:{REDACTED}@h" in result.stderr


def test_the_node_never_logs_its_keys_or_database_password(tmp_path: Path) -> None:
    # Nothing listens on port 1: storage fails to open and the node logs why, with the URL.
    db = f"postgresql://v11@127.0.0.1:1/v11?password={SECRET}-db&connect_timeout=1"
    node = NodeProcess(
        free_port(), db, "n1", tmp_path / "node.log",
        extra_args=["--data-dir", str(tmp_path / "data")],
        env={"V11_API_KEYS": f"{SECRET}-api", "PGPASSWORD": f"{SECRET}-pg"},
    ).start()  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "node failed to start" not in node.tail(50) and time.monotonic() < deadline:
            time.sleep(0.1)
        headers = {"X-API-Key": f"{SECRET}-api", "Authorization": f"Bearer {SECRET}-bearer"}
        answer = httpx.post(f"{node.url}/api/v11/transactions?token={SECRET}-q", headers=headers)
        assert answer.status_code == 503  # the request was served (storage is not open)
    finally:
        node.terminate()
    text = node.log_path.read_text()
    assert "node failed to start" in text, text  # the line that carries the database URL
    assert SECRET not in text
