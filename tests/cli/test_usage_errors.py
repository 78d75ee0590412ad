"""A user mistake on the command line is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.nodeproc import V11OPS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["load", "--target", "http://127.0.0.1:1", "--rate", "abc", "--duration", "1"],
         "Invalid value for '--rate'"),
        (["deploy"], "Missing argument 'version'"),
        (["no-such-command"], "No such command"),
        (["node", "verify", "--db", "oracle://x"], "unsupported database URL"),
        (["config", "validate", "--file", "/nonexistent/v11ops.yaml"], "v11ops.yaml"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], message: str) -> None:
    r = subprocess.run([V11OPS, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_version_answers() -> None:
    r = subprocess.run([V11OPS, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("v11ops ")
