"""`v11ops demo`: the whole story on embedded defaults, in a temporary folder.

Start the stack with node release 1.0.0, put signed-transaction load through the router for the
whole run, deploy 1.1.0 (good: zero failed requests), deploy 1.2.0 (bad: it fails half its
requests after the switch and is rolled back automatically), then prove that every acknowledged
transaction is in the chain and that the chain verifies. Exit 1 when a request failed during the
good deploy or an acknowledged transaction is missing.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v11node.ledger.verify import verify_chain
from v11node.storage import open_storage
from v11ops.config import DEFAULT_CONFIG_YAML, Config, load_config
from v11ops.deploy.client import ControllerClient, controller_socket
from v11ops.deploy.stack import ensure_controller, ensure_router, stop_controller, stop_router
from v11ops.deploy.state import TERMINAL
from v11ops.load import LoadReport, LoadSpec, run_load
from v11ops.router.client import RouterClient
from v11ops.router.stats import RouterStats
from v11ops.runtime import free_port

LOAD_TPS = 300
LOAD_BATCH = 5


@dataclass
class Phase:
    """One deployment as the demo saw it."""

    version: str
    expected: str  # succeeded | rolled_back
    status: str = ""
    reason: str | None = None
    took_s: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    failed: int = 0
    rollback_ms: float | None = None
    bad_to_good_s: float | None = None

    @property
    def good(self) -> bool:
        return self.expected == "succeeded"


@dataclass
class DemoResult:
    phases: list[Phase]
    load: LoadReport | None
    acknowledged: int
    missing: int
    pending: int
    chain_ok: bool
    chain_height: int
    chain_problem: str | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def write_demo_config(root: Path) -> Path:
    """The default config with free ports and short windows, so the demo runs anywhere fast."""
    text = DEFAULT_CONFIG_YAML
    for old, new in (
        ("listen: 127.0.0.1:8080", f"listen: 127.0.0.1:{free_port()}"),
        ("metrics_listen: 127.0.0.1:9180", f"metrics_listen: 127.0.0.1:{free_port()}"),
        ("port: 9003", "port: auto"),
        ("port: 9004", "port: auto"),
        ("post_switch_window_s: 10 ", "post_switch_window_s: 5 "),
        ("scale_down_delay_s: 30 ", "scale_down_delay_s: 5 "),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = root / "v11ops.yaml"
    path.write_text(text)
    return path


def run_demo(workdir: Path | None = None, say: Any = print) -> DemoResult:
    root = workdir or Path(tempfile.mkdtemp(prefix="v11ops-demo-"))
    config = load_config(write_demo_config(root))
    try:
        return _run(config, say)
    finally:
        say("cleaning up: stopping slots, controller and router")
        stop_controller(config, stop_slots=True)
        stop_router(config)
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def _run(config: Config, say: Any) -> DemoResult:
    say(f"starting the stack in {config.state_path}")
    ensure_router(config)
    ensure_controller(config)
    router = RouterClient(config.admin_socket_path)
    controller = ControllerClient(controller_socket(config))
    problems: list[str] = []
    first = _deploy(controller, router, Phase("1.0.0", "succeeded"), say)
    if first.status != "succeeded":
        return DemoResult([first], None, 0, 0, 0, False, 0, None, ["1.0.0 did not come up"])
    report: list[LoadReport] = []
    url = f"http://{config.router.listen}"
    spec = LoadSpec(target=url, rate=LOAD_TPS, duration_s=30, batch=LOAD_BATCH, read_ratio=0.2,
                    collect_hashes=True)  # fmt: skip
    loader = threading.Thread(target=lambda: report.append(run_load(spec)), daemon=True)
    say(f"load: {LOAD_TPS} signed transactions/s in batches of {LOAD_BATCH} through {url}")
    loader.start()
    time.sleep(3)
    phases = [first]
    for phase in (Phase("1.1.0", "succeeded"), Phase("1.2.0", "rolled_back")):
        phases.append(_deploy(controller, router, phase, say))
        time.sleep(2)
    loader.join(timeout=120)
    load = report[0] if report else None
    for p in phases[1:]:
        if p.status != p.expected:
            problems.append(f"{p.version}: expected {p.expected}, got {p.status}")
        if p.good and p.failed:
            problems.append(f"{p.version}: {p.failed} requests failed during a good deploy")
    if load is None:
        problems.append("the load generator did not finish")
    else:
        # 5xx and failed reads are judged per deployment from the router's counters above.
        judged_elsewhere = ("5xx", "read_failed", "client_saturated")
        transport = {k: v for k, v in load.errors.items() if k not in judged_elsewhere}
        if transport:
            problems.append(f"requests failed in transport: {transport}")
    acked = list(load.hashes) if load else []
    missing, pending = _wait_confirmed(config, acked)
    if missing:
        problems.append(f"{missing} acknowledged transactions are missing from the ledger")
    if pending:
        problems.append(f"{pending} acknowledged transactions are still not in a block")
    storage = open_storage(_ledger_url(config))
    try:
        chain = verify_chain(storage)
    finally:
        storage.close()
    if not chain.ok:
        problems.append(f"chain does not verify: {chain.problem}")
    router.close()
    controller.close()
    return DemoResult(phases, load, len(acked), missing, pending, chain.ok, chain.height,
                      chain.problem, problems)  # fmt: skip


def _deploy(controller: ControllerClient, router: RouterClient, phase: Phase, say: Any) -> Phase:
    say(f"deploying {phase.version} (expect: {phase.expected})")
    before = router.stats()
    dep = controller.deploy(phase.version)
    while True:
        detail = controller.deployment(dep)
        if detail["status"] in TERMINAL:
            break
        time.sleep(0.2)
    window = router.stats().since(before)
    phase.status, phase.reason = detail["status"], detail["reason"]
    phase.took_s = (detail["finished_at"] or time.time()) - detail["started_at"]
    phase.requests, phase.failed = _traffic(window)
    for step in detail["steps"]:
        if step["finishedAt"]:
            phase.steps[step["name"]] = step["finishedAt"] - step["startedAt"]
        if step["name"] == "switch_back" and step["detail"]:
            phase.rollback_ms = step["detail"].get("rollback_ms")
    switched = [e["at"] for e in detail["events"] if e["kind"] == "switched"]
    back = [e["at"] for e in detail["events"] if e["kind"] == "rolled_back"]
    if switched and back:
        phase.bad_to_good_s = back[0] - switched[0]
    say(f"  {phase.version}: {phase.status} in {phase.took_s:.1f}s, {phase.requests} requests,"
        f" {phase.failed} failed")  # fmt: skip
    return phase


def _traffic(window: RouterStats) -> tuple[int, int]:
    requests = sum(t.requests for t in window.targets) + window.unrouted
    failed = sum(t.responses_5xx for t in window.targets) + window.unrouted
    return requests, failed


def _ledger_url(config: Config) -> str:
    return f"sqlite:///{config.state_path / 'ledger.db'}"


def _wait_confirmed(config: Config, hashes: list[str], timeout_s: float = 20.0) -> tuple[int, int]:
    """(missing, still pending) among acknowledged hashes, once the producer caught up."""
    storage = open_storage(_ledger_url(config))
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            statuses = [storage.get_transaction(bytes.fromhex(h)) for h in hashes]
            missing = sum(1 for s in statuses if s is None)
            pending = sum(1 for s in statuses if s is not None and s.status == "PENDING")
            if pending == 0 or time.monotonic() > deadline:
                return missing, pending
            time.sleep(0.5)
    finally:
        storage.close()
