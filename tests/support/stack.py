"""A whole v11ops stack (router, controller, node slots) in a temporary folder, for tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from v11ops.runtime import free_port

V11OPS = str(Path(sys.executable).with_name("v11ops"))

NODE_COMMAND = [
    "{python}", "-m", "v11ops.cli.main", "node", "run", "--port", "{port}",
    "--db", "sqlite:///{state_dir}/ledger.db", "--node-id", "{slot}", "--release", "{version}",
    "--data-dir", "{state_dir}/node-{slot}", "--block-interval", "0.1", "--lease-ttl", "1",
]  # fmt: skip


def stack_yaml(
    router_port: int,
    window_s: float = 2.0,
    scale_down_s: float = 10.0,
    router_kind: str = "builtin",
    strategy: str = "",
    top: str = "",
) -> str:
    """`strategy` is YAML added under `strategy:` (indented two spaces), `top` at the top level."""
    # Fast settings; releases include one bad release of each kind the controller must catch.
    command = "\n".join(f'    - "{arg}"' for arg in NODE_COMMAND)
    bad_version = "\n".join(
        f'      - "{"9.9.9" if arg == "{version}" else arg}"' for arg in NODE_COMMAND
    )
    return f"""\
service:
  name: aurigraph-v11-node
  command:
{command}
  start_timeout_s: 30
  drain_timeout_s: 10
releases:
  "1.0.0": {{}}
  "1.1.0": {{}}
  "never-ready":
    env: {{V11_FAULT_NEVER_READY: "1"}}
  "crashes":
    env: {{V11_FAULT_CRASH_AFTER_S: "1.5"}}
  "errors":
    env: {{V11_FAULT_ERROR_RATE: "0.5"}}
  "slow":
    env: {{V11_FAULT_LATENCY_MS: "40"}}
  "wrong-version":
    command:
{bad_version}
slots:
  blue: {{port: auto}}
  green: {{port: auto}}
router:
  kind: {router_kind}
  listen: 127.0.0.1:{router_port}
  metrics_listen: null
strategy:
  blue_green:
    readiness: {{consecutive_passes: 2, interval_s: 0.1, deadline_s: 20}}
    post_switch_window_s: {window_s}
    scale_down_delay_s: {scale_down_s}
    min_requests: 5
{strategy}gates:
  smoke:
    - name: version
      path: /api/v11/info
      expect_status: 200
      expect_json: {{version: "{{version}}"}}
hooks:
  pre_switch:
    - name: producer-yield
      kind: http
      method: POST
      url: "{{old}}/admin/v11/producer/yield"
      timeout_s: 5
      required: false
state_dir: state
{top}"""


@dataclass
class Stack:
    root: Path
    router_port: int

    @property
    def config(self) -> Path:
        return self.root / "v11ops.yaml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.router_port}"

    def cli(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        import os

        return subprocess.run(
            [V11OPS, *args, "--file", str(self.config)],
            capture_output=True, text=True, timeout=timeout, cwd=self.root,
            env={**os.environ, **(env or {})},
        )  # fmt: skip

    def status(self) -> dict[str, Any]:
        import json

        r = self.cli("status", "--json")
        assert r.returncode == 0, r.stderr
        return dict(json.loads(r.stdout))

    def live(self) -> tuple[str, str]:
        """(slot, version) of the live slot, from the controller."""
        st = self.status()
        live = [(n, s["version"]) for n, s in st["slots"].items() if s["role"] == "live"]
        assert len(live) == 1, st
        return live[0]

    def served_version(self) -> str:
        return str(httpx.get(f"{self.url}/api/v11/info", timeout=5).json()["version"])

    def wait(self, predicate: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except (httpx.HTTPError, AssertionError):
                pass
            time.sleep(0.1)
        raise AssertionError("condition not met in time")


def make_stack(root: Path, **settings: Any) -> Stack:
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    (root / "v11ops.yaml").write_text(stack_yaml(port, **settings))
    return Stack(root, port)


def running_stack(root: Path, version: str = "1.0.0", **settings: Any) -> Iterator[Stack]:
    """A stack with `version` live (`v11ops up`) for a fixture to yield; always `v11ops down`."""
    s = make_stack(root, **settings)
    try:
        up = s.cli("up", "--version", version)
        assert up.returncode == 0, up.stdout + up.stderr
        yield s
    finally:
        s.cli("down", timeout=120)
