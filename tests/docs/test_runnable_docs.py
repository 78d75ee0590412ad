"""The docs run: every block fenced as ```sh runnable in docs/*.md is executed, in page order.

Each page gets one empty folder; its blocks run there one after the other, each in a fresh
`bash` with `set -euo pipefail`, `.venv/bin` first on PATH and a time limit. Variables assigned
in a block and the working folder carry over to the next block, as they would in the reader's
terminal. The first block that fails fails the test, naming the page, the block and its line.
Whatever stack a page started is stopped with `v11ops monitor down` and `v11ops down`
afterwards, pass or fail.

The test hands each page free ports (ROUTER_PORT, METRICS_PORT, BLUE_PORT, GREEN_PORT, PROM_PORT,
AM_PORT, EXPORTER_PORT); the pages write them into v11ops.yaml, defaulting to the ports
`v11ops init` writes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.markdown import fenced_blocks
from tests.support.services import require_binary
from v11ops.runtime import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
VENV_BIN = Path(sys.executable).parent

MARKER = "sh runnable"
BLOCK_TIMEOUT_S = 120.0
PORT_VARIABLES = (
    "ROUTER_PORT",
    "METRICS_PORT",
    "BLUE_PORT",
    "GREEN_PORT",
    "PROM_PORT",
    "AM_PORT",
    "EXPORTER_PORT",
)

# Runs before each block: restore the previous block's variables and folder, then the block with
# `set -a`, so that a plain `NAME=value` is exported and reaches the next block like in one shell.
PROLOGUE = """set -a
if [ -f "$DOCS_SHELL_STATE" ]; then . "$DOCS_SHELL_STATE"; fi
set -euo pipefail
"""
EPILOGUE = '\n{ export -p; printf "cd -- %q\\n" "$PWD"; } > "$DOCS_SHELL_STATE"\n'


@dataclass(frozen=True)
class Block:
    doc: Path
    index: int  # 1-based among the page's runnable blocks
    line: int  # line of the opening fence
    code: str

    def describe(self) -> str:
        return f"{self.doc.relative_to(ROOT)}: runnable block {self.index} (line {self.line})"


def runnable_blocks(doc: Path) -> list[Block]:
    found = [(line, code) for line, info, code in fenced_blocks(doc.read_text()) if info == MARKER]
    return [Block(doc, n, line, code) for n, (line, code) in enumerate(found, start=1)]


RUNNABLE_DOCS = [doc for doc in DOCS if runnable_blocks(doc)]


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now, distinct from each other."""
    return [free_port() for _ in range(count)]


def block_env(state_file: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("V11OPS_", "V11_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(zip(PORT_VARIABLES, map(str, free_ports(len(PORT_VARIABLES))), strict=True))
    env.update(DOCS_SHELL_STATE=str(state_file), NO_COLOR="1", TERM="dumb", COLUMNS="120")
    return env


def run_block(
    block: Block, cwd: Path, env: dict[str, str], log: Path, timeout_s: float = BLOCK_TIMEOUT_S
) -> float:
    """Run one block; its output goes to `log`. The seconds it took; a failure fails the test."""
    began = time.monotonic()
    script = PROLOGUE + block.code + EPILOGUE
    proc = subprocess.Popen(
        ["bash", "-c", script, "docs-block"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: leftovers are killed with it
    )
    timed_out = False
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        output, _ = proc.communicate()
    finally:
        _kill_group(proc.pid)  # a background job the block did not wait for
    log.write_text(output)
    if timed_out or proc.returncode != 0:
        why = f"timed out after {timeout_s:g}s" if timed_out else f"exited {proc.returncode}"
        pytest.fail(
            f"{block.describe()} {why}\n--- block ---\n{block.code}--- output (last 60 lines) ---\n"
            + "\n".join(output.splitlines()[-60:]),
            pytrace=False,
        )
    return time.monotonic() - began


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def tear_down(work: Path, env: dict[str, str]) -> list[str]:
    """`v11ops down` for every config the page wrote; the problems, if any."""
    problems = []
    for config in sorted(work.rglob("v11ops.yaml")):
        for command in (("monitor", "down"), ("down",)):
            down = subprocess.run(
                [str(VENV_BIN / "v11ops"), *command, "--file", str(config)],
                cwd=config.parent,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if down.returncode != 0:
                problems.append(f"v11ops {' '.join(command)}: {down.stdout}{down.stderr}")
    return problems


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("doc", RUNNABLE_DOCS, ids=lambda d: d.name)
def test_every_runnable_block_of_the_page_runs(doc: Path, tmp_path: Path) -> None:
    require_binary("curl")  # the docs use both
    require_binary("jq")
    work = tmp_path / "work"
    work.mkdir()
    env = block_env(tmp_path / "shell-state.sh")
    took = []
    try:
        for block in runnable_blocks(doc):
            log = tmp_path / f"block-{block.index:02d}.txt"
            took.append(f"{block.index}:{run_block(block, work, env, log):.1f}s")
    finally:
        problems = tear_down(work, env)
        print(f"{doc.name}: blocks took {' '.join(took)}; outputs in {tmp_path}")
    assert not problems, "\n".join(problems)


def test_the_docs_have_runnable_blocks() -> None:
    names = {doc.name for doc in RUNNABLE_DOCS}
    assert {"quickstart.md", "runbook.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_a_block_meant_to_run_uses_the_exact_marker(doc: Path) -> None:
    """```bash runnable or ```sh  run would be skipped silently: only one spelling counts."""
    for line, info, _ in fenced_blocks(doc.read_text()):
        if "runnabl" in info or "runable" in info:
            assert info == MARKER, f"{doc.name}:{line}: fence '{info}', expected '{MARKER}'"


@pytest.mark.parametrize("doc", RUNNABLE_DOCS, ids=lambda d: d.name)
def test_a_page_with_runnable_blocks_says_how_they_run(doc: Path) -> None:
    head = "\n".join(doc.read_text().splitlines()[:20])
    assert MARKER in head and "tests/docs/test_runnable_docs.py" in head


def _blocks(*codes: str) -> list[Block]:
    doc = ROOT / "docs" / "example.md"  # never written: the blocks are built directly
    return [Block(doc, n, n * 10, code) for n, code in enumerate(codes, start=1)]


def test_variables_and_the_folder_carry_over_from_block_to_block(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = block_env(tmp_path / "state.sh")
    first, second = _blocks("mkdir sub && cd sub\nGREETING=hello\n", "echo $GREETING > out\n")
    run_block(first, work, env, tmp_path / "1.txt")
    run_block(second, work, env, tmp_path / "2.txt")
    assert (work / "sub" / "out").read_text() == "hello\n"


def test_a_failing_command_fails_the_test_and_names_the_block(tmp_path: Path) -> None:
    (block,) = _blocks("echo before\nfalse\necho after\n")
    with pytest.raises(pytest.fail.Exception) as failed:
        run_block(block, tmp_path, block_env(tmp_path / "state.sh"), tmp_path / "1.txt")
    message = str(failed.value)
    assert "docs/example.md: runnable block 1 (line 10) exited 1" in message
    assert "before" in message and "after" not in message.split("--- output")[1]


def test_an_unset_variable_or_a_failed_pipe_fails_the_block(tmp_path: Path) -> None:
    for code in ("echo $NO_SUCH_VARIABLE\n", "false | cat\n"):
        (block,) = _blocks(code)
        with pytest.raises(pytest.fail.Exception):
            run_block(block, tmp_path, block_env(tmp_path / "state.sh"), tmp_path / "1.txt")


def test_a_block_that_hangs_is_stopped_at_its_time_limit(tmp_path: Path) -> None:
    (block,) = _blocks("sleep 30 &\nsleep 30\n")
    began = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"timed out after 0\.5s"):
        env = block_env(tmp_path / "state.sh")
        run_block(block, tmp_path, env, tmp_path / "1.txt", timeout_s=0.5)
    assert time.monotonic() - began < 5
