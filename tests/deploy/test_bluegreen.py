"""Blue-green deploys through a real router, controller and node processes."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.support.stack import Stack

pytestmark = pytest.mark.slow


class Traffic:
    """A client loop through the router for as long as the `with` block runs (bounded by
    `max_seconds` and a request count), counting every failed request."""

    def __init__(self, url: str, max_seconds: float = 90.0) -> None:
        self.url, self.max_seconds = url, max_seconds
        self.ok = 0
        self.failed: list[str] = []
        self.versions: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        with httpx.Client(timeout=10) as client:
            for _ in range(200_000):
                if self._stop.is_set() or time.monotonic() > end:
                    return
                try:
                    r = client.get(f"{self.url}/api/v11/info")
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))
                    continue
                if r.status_code == 200:
                    self.ok += 1
                    self.versions.add(r.json()["version"])
                else:
                    self.failed.append(str(r.status_code))


def test_a_good_release_is_switched_without_a_failed_request(stack: Stack) -> None:
    with Traffic(stack.url) as traffic:
        r = stack.cli("deploy", "1.1.0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert traffic.failed == []
    assert traffic.ok > 50 and traffic.versions == {"1.0.0", "1.1.0"}
    assert stack.live()[1] == "1.1.0" and stack.served_version() == "1.1.0"


def test_a_release_that_never_becomes_ready_never_gets_traffic(stack: Stack) -> None:
    before = stack.live()
    r = stack.cli("deploy", "never-ready")
    assert r.returncode == 1
    assert stack.live() == before and stack.served_version() == "1.0.0"
    detail = json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0]
    assert detail["status"] == "failed" and "readiness" in detail["reason"]
    assert [s["name"] for s in detail["steps"]][-1] == "stop_candidate"
    candidate = detail["candidate_slot"]
    assert stack.status()["slots"][candidate]["alive"] is False


def test_a_wrong_version_fails_the_smoke_gate_with_evidence(stack: Stack) -> None:
    r = stack.cli("deploy", "wrong-version")
    assert r.returncode == 1
    detail = json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0]
    smoke = next(v for v in detail["verdicts"] if v["gate"] == "smoke")
    assert smoke["passed"] is False
    bad = next(e for e in smoke["evidence"] if not e["passed"])
    assert bad["observed"] == "9.9.9" and bad["expected"] == "wrong-version"
    assert stack.served_version() == "1.0.0"


@pytest.mark.parametrize("release", ["errors", "crashes"])
def test_a_release_failing_after_the_switch_is_rolled_back_to_the_warm_slot(
    stack: Stack, release: str
) -> None:
    before = stack.live()
    with Traffic(stack.url):
        r = stack.cli("deploy", release)
    assert r.returncode == 1, r.stdout
    assert stack.live() == before
    assert stack.served_version() == "1.0.0"
    detail = json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0]
    assert detail["status"] == "rolled_back"
    names = [s["name"] for s in detail["steps"]]
    assert names.index("switch") < names.index("switch_back")
    window = next(v for v in detail["verdicts"] if v["gate"] == "post_switch_window")
    assert window["passed"] is False


def test_rollback_flips_back_to_the_warm_previous_release(stack: Stack) -> None:
    assert stack.cli("deploy", "1.1.0").returncode == 0
    with Traffic(stack.url) as traffic:
        r = stack.cli("rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert traffic.failed == []
    assert stack.served_version() == "1.0.0"
    detail = json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0]
    assert detail["kind"] == "rollback" and detail["strategy"] == "fast-rollback"
    switch_back = next(s for s in detail["steps"] if s["name"] == "switch_back")
    assert switch_back["detail"]["rollback_ms"] >= 0


def test_a_second_deploy_is_refused_while_one_runs(stack: Stack) -> None:
    # never-ready keeps the first deploy in its readiness gate until the 20 s deadline, so it
    # is still running when the second command arrives, however slowly the CLI starts.
    first = stack.cli("deploy", "never-ready", "--no-wait")
    assert first.returncode == 0
    second = stack.cli("deploy", "1.1.0", "--no-wait")
    assert second.returncode == 1
    assert "another deploy is in progress" in second.stderr and "controller pid=" in second.stderr
    stack.wait(lambda: stack.status()["deploying"] is False, timeout=60)


def test_deploying_an_unknown_release_is_a_usage_error(stack: Stack) -> None:
    r = stack.cli("deploy", "7.7.7")
    assert r.returncode == 2 and "unknown release '7.7.7'" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_live_instance_that_dies_is_restarted_and_counted(stack: Stack) -> None:
    import os
    import signal

    slot, _ = stack.live()
    pid = stack.status()["slots"][slot]["pid"]
    os.kill(pid, signal.SIGKILL)
    stack.wait(lambda: stack.status()["slots"][slot]["restarts"] == 1, timeout=30)
    stack.wait(lambda: stack.status()["slots"][slot]["alive"], timeout=30)
    assert stack.status()["slots"][slot]["pid"] != pid
    from v11ops.config import load_config
    from v11ops.deploy.client import ControllerClient, controller_socket

    with ControllerClient(controller_socket(load_config(stack.config))) as client:
        assert f'v11ops_instance_restarts_total{{slot="{slot}"}} 1.0' in client.metrics()
    stack.wait(lambda: httpx.get(f"{stack.url}/q/health/ready", timeout=2).status_code == 200)
    assert stack.served_version() == "1.0.0"


def test_abort_stops_a_running_gate_and_traffic_never_moves(stack: Stack) -> None:
    assert stack.cli("deploy", "never-ready", "--no-wait").returncode == 0
    stack.wait(lambda: any(
        s["name"] == "readiness"
        for s in json.loads(stack.cli("history", "1", "--explain", "--json").stdout)[0]["steps"]
    ))  # fmt: skip
    assert stack.cli("abort").returncode == 0
    stack.wait(lambda: stack.status()["deploying"] is False, timeout=30)
    detail = json.loads(stack.cli("history", "1", "--json").stdout)[0]
    assert detail["status"] == "aborted" and detail["reason"] == "aborted by the operator"
    assert stack.served_version() == "1.0.0"


def test_a_release_added_to_the_file_is_deployable_without_a_restart(stack: Stack) -> None:
    text = stack.config.read_text().replace('  "1.1.0": {}\n', '  "1.1.0": {}\n  "1.3.0": {}\n')
    stack.config.write_text(text)
    r = stack.cli("deploy", "1.3.0")
    assert r.returncode == 0, r.stdout + r.stderr
    assert stack.served_version() == "1.3.0"
