"""The deploy, config, monitor and logs commands as a user sees them, in-process (CliRunner).

`FakeController` stands in for the controller daemon behind `v11ops.cli.deploy._client` (its
answers are what the CLI formats; the daemon and its socket have their own tests)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.deploy.inprocess import stack_yaml
from v11ops.cli import deploy as deploy_cli
from v11ops.cli import monitor as monitor_cli
from v11ops.cli.main import app
from v11ops.deploy.client import ControllerRefused
from v11ops.monitoring.stack import ComponentStatus, MonitoringConfigError, MonitoringError

runner = CliRunner()


def one_error_line(result: Any, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "v11ops.yaml"
    path.write_text(stack_yaml())
    return path


def _deployment(status: str, steps: int = 0, **extra: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "id": 7, "kind": "deploy", "version": "1.1.0", "previous_version": "1.0.0",
        "status": status, "reason": extra.pop("reason", None), "started_at": now - 2,
        "finished_at": now if status in ("succeeded", "failed", "rolled_back", "aborted") else None,
        "steps": [{"name": f"step{i}"} for i in range(steps)], "events": [], "verdicts": [],
        **extra,
    }  # fmt: skip


class FakeController:
    """Answers like the controller's client; `details` is replayed one per poll."""

    def __init__(self, details: list[dict[str, Any]] | None = None) -> None:
        self.details = details or [_deployment("succeeded", 2)]
        self.calls: list[tuple[str, Any]] = []
        self.refuse: ControllerRefused | None = None
        self.routes: dict[str, Any] = {"targets": [{"name": "blue"}]}

    def __enter__(self) -> FakeController:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _check(self, call: str, arg: Any = None) -> None:
        self.calls.append((call, arg))
        if self.refuse is not None:
            raise self.refuse

    def deploy(self, version: str, strategy: str | None = None) -> int:
        self._check("deploy", (version, strategy))
        return 7

    def rollback(self, to: str | None, restore_db: bool) -> int:
        self._check("rollback", (to, restore_db))
        return 7

    def deployment(self, dep: int) -> dict[str, Any]:
        self._check("deployment", dep)
        return self.details.pop(0) if len(self.details) > 1 else self.details[0]

    def history(self, count: int) -> list[dict[str, Any]]:
        self._check("history", count)
        return [self.details[-1]]

    def status(self) -> dict[str, Any]:
        self._check("status")
        return {
            "service": "fake-node", "router": {"listen": "127.0.0.1:1", "routes": self.routes},
            "slots": {"blue": {"version": "1.0.0", "role": "live", "port": 5, "pid": 9,
                               "alive": True, "restarts": 1},
                      "green": {"version": None, "role": "idle", "port": None, "pid": None,
                                "alive": False, "restarts": 0}},
            "deploying": False, "lock": {}, "last_deployment": self.details[-1],
        }  # fmt: skip

    def promote(self) -> None:
        self._check("promote")

    def abort(self) -> None:
        self._check("abort")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeController]:
    controller = FakeController()
    monkeypatch.setattr(deploy_cli, "_client", lambda config: controller)
    monkeypatch.setattr(deploy_cli.time, "sleep", lambda s: None)
    yield controller


# -- deploy, rollback, status, history ------------------------------------------------------------


def test_deploy_of_an_unknown_release_or_strategy_is_a_usage_error_and_asks_nothing(
    cfg: Path, fake: FakeController
) -> None:
    one_error_line(
        runner.invoke(app, ["deploy", "9.9", "-f", str(cfg)]), 2, "unknown release '9.9'"
    )
    result = runner.invoke(app, ["deploy", "1.1.0", "--strategy", "yolo", "-f", str(cfg)])
    one_error_line(result, 2, "unknown strategy 'yolo'", "blue-green")
    assert fake.calls == []


def test_deploy_no_wait_prints_the_id_for_people_and_for_scripts(
    cfg: Path, fake: FakeController
) -> None:
    result = runner.invoke(app, ["deploy", "1.1.0", "--no-wait", "-f", str(cfg)])
    assert result.exit_code == 0 and result.stdout.strip() == "deployment 7 started"
    result = runner.invoke(app, ["deploy", "1.1.0", "--no-wait", "--json", "-f", str(cfg)])
    assert json.loads(result.stdout) == {"id": 7}
    assert fake.calls[0] == ("deploy", ("1.1.0", None))


def test_deploy_waits_shows_each_step_once_and_the_paused_hint_then_the_outcome(
    cfg: Path, fake: FakeController
) -> None:
    fake.details = [
        _deployment("running", 1),
        _deployment("paused", 2, reason="paused at 10 %"),
        _deployment("paused", 2, reason="paused at 10 %"),
        _deployment("running", 3),
        _deployment("succeeded", 4),
    ]
    result = runner.invoke(app, ["deploy", "1.1.0", "--strategy", "canary", "-f", str(cfg)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert [line.strip() for line in out.splitlines() if "step" in line] == [
        "step step0", "step step1", "step step2", "step step3",
    ]  # fmt: skip
    assert out.count("paused at 10 %; run `v11ops promote` to go on") == 1
    assert "deploy 7 succeeded: 1.1.0 in" in out


def test_a_deploy_that_rolled_back_exits_1_with_its_reason_and_json_for_scripts(
    cfg: Path, fake: FakeController
) -> None:
    fake.details = [_deployment("rolled_back", 5, reason="error_rate 0.05")]
    result = runner.invoke(app, ["deploy", "1.1.0", "-f", str(cfg)])
    assert result.exit_code == 1
    assert "rolled_back" in result.stdout and "(error_rate 0.05)" in result.stdout
    result = runner.invoke(app, ["deploy", "1.1.0", "--json", "-f", str(cfg)])
    assert result.exit_code == 1 and json.loads(result.stdout)["status"] == "rolled_back"


@pytest.mark.parametrize(("status", "code"), [(400, 2), (409, 1), (401, 1)])
def test_a_refusal_is_one_line_with_exit_2_for_a_bad_request_else_1(
    cfg: Path, fake: FakeController, status: int, code: int
) -> None:
    fake.refuse = ControllerRefused("another deploy is in progress", status)
    result = runner.invoke(app, ["deploy", "1.1.0", "-f", str(cfg)])
    one_error_line(result, code, "another deploy is in progress")


def test_a_missing_controller_is_one_line_and_exit_1(cfg: Path) -> None:
    result = runner.invoke(app, ["status", "-f", str(cfg)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1


def test_rollback_with_restore_db_says_what_data_is_lost_before_the_outcome(
    cfg: Path, fake: FakeController
) -> None:
    lost = {"kind": "data_loss", "message": "12 transactions since the backup are lost"}
    fake.details = [_deployment("succeeded", 1, events=[lost])]
    result = runner.invoke(app, ["rollback", "--to", "1.0.0", "--restore-db", "-f", str(cfg)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("data loss: 12 transactions") < out.index("deploy 7 succeeded")
    assert fake.calls[0] == ("rollback", ("1.0.0", True))


def test_status_prints_the_slots_and_fails_when_the_router_is_unreachable(
    cfg: Path, fake: FakeController
) -> None:
    result = runner.invoke(app, ["status", "-f", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "blue" in result.stdout and "live" in result.stdout and "1.0.0" in result.stdout
    fake.routes = {"error": "connection refused"}
    result = runner.invoke(app, ["status", "-f", str(cfg)])
    assert result.exit_code == 1 and "router unreachable: connection refused" in result.stdout
    result = runner.invoke(app, ["status", "--json", "-f", str(cfg)])
    assert json.loads(result.stdout)["slots"]["blue"]["restarts"] == 1


def test_history_explain_prints_events_verdicts_and_their_evidence(
    cfg: Path, fake: FakeController
) -> None:
    now = time.time()
    fake.details = [_deployment(
        "rolled_back", 3, reason="p99", started_at=now - 3,
        events=[{"at": now - 2, "kind": "switched", "message": "all traffic on green"}],
        verdicts=[{"gate": "post_switch_window", "passed": False, "durationS": 1.5, "evidence": [
            {"check": "p99_ms", "observed": "250.0", "expected": "<= 100", "passed": False,
             "note": "50 requests"},
            {"check": "alive", "observed": True, "expected": True, "passed": True},
        ]}],
    )]  # fmt: skip
    result = runner.invoke(app, ["history", "1", "--explain", "-f", str(cfg)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "switched" in out and "all traffic on green" in out
    assert "gate post_switch_window: FAIL in 1.50s" in out
    assert "BAD p99_ms: observed '250.0', expected '<= 100'  (50 requests)" in out
    assert "ok  alive: observed True" in out
    result = runner.invoke(app, ["history", "--json", "-f", str(cfg)])
    assert json.loads(result.stdout)[0]["id"] == 7


def test_promote_and_abort_say_what_they_asked(cfg: Path, fake: FakeController) -> None:
    assert runner.invoke(app, ["promote", "-f", str(cfg)]).stdout.strip() == "promoted"
    assert runner.invoke(app, ["abort", "-f", str(cfg)]).stdout.strip() == "abort requested"
    assert [c for c, _ in fake.calls] == ["promote", "abort"]


def test_logs_of_an_unknown_slot_is_a_usage_error_and_a_missing_log_a_failure(
    cfg: Path,
) -> None:
    one_error_line(runner.invoke(app, ["logs", "purple", "-f", str(cfg)]), 2,
                   "unknown slot 'purple'", "blue, green")  # fmt: skip
    one_error_line(runner.invoke(app, ["logs", "router", "-f", str(cfg)]), 1, "no log yet")
    logs = cfg.parent / "state" / "logs"
    logs.mkdir(parents=True)
    (logs / "blue.log").write_text("".join(f"line {i}\n" for i in range(10)))
    result = runner.invoke(app, ["logs", "blue", "-n", "3", "-f", str(cfg)])
    assert result.exit_code == 0 and result.stdout.splitlines() == ["line 7", "line 8", "line 9"]


# -- config ---------------------------------------------------------------------------------------


def test_config_validate_prints_a_summary_for_people_and_json_for_scripts(cfg: Path) -> None:
    result = runner.invoke(app, ["config", "validate", "-f", str(cfg)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK {cfg}: service fake-node")
    assert (
        "releases: 1.0.0, 1.1.0, 1.2.0" in result.stdout
        and "smoke checks: version" in result.stdout
    )
    data = json.loads(runner.invoke(app, ["config", "validate", "--json", "-f", str(cfg)]).stdout)
    assert data["ok"] is True and data["slots"] == {"blue": "auto", "green": "auto"}


def test_config_validate_names_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "v11ops.yaml"
    bad.write_text(stack_yaml().replace("drain_timeout_s: 1", "drain_timeout_s: -1"))
    one_error_line(runner.invoke(app, ["config", "validate", "-f", str(bad)]), 2, "drain_timeout_s")


def test_config_schema_is_a_json_schema(tmp_path: Path) -> None:
    schema = json.loads(runner.invoke(app, ["config", "schema"]).stdout)
    assert {"service", "releases", "strategy"} <= set(schema["properties"])


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "v11ops.yaml"
    path.write_text("mine\n")
    one_error_line(
        runner.invoke(app, ["init", "--path", str(path)]), 2, "already exists", "--force"
    )
    assert path.read_text() == "mine\n"
    result = runner.invoke(app, ["init", "--path", str(path), "--force"])
    assert result.exit_code == 0 and "next: v11ops config validate" in result.stdout
    assert runner.invoke(app, ["config", "validate", "-f", str(path)]).exit_code == 0


# -- monitor and alerts (the stack's functions faked: they need the real binaries) ---------------


def _component(healthy: bool) -> ComponentStatus:
    return ComponentStatus("prometheus", "http://127.0.0.1:9090", 42 if healthy else None,
                           healthy, healthy, "started" if healthy else "", "")  # fmt: skip


def test_monitor_status_exits_1_unless_every_component_is_healthy(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor_cli.stack, "status", lambda config: [_component(True)])
    result = runner.invoke(app, ["monitor", "status", "-f", str(cfg)])
    assert result.exit_code == 0 and "prometheus" in result.stdout and "ready" in result.stdout
    monkeypatch.setattr(monitor_cli.stack, "status", lambda config: [_component(False)])
    result = runner.invoke(app, ["monitor", "status", "--json", "-f", str(cfg)])
    assert result.exit_code == 1 and json.loads(result.stdout)[0]["healthy"] is False


def test_monitor_up_and_down_report_what_they_did(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor_cli.stack, "up", lambda config: [_component(True)])
    result = runner.invoke(app, ["monitor", "up", "-f", str(cfg)])
    assert (
        result.exit_code == 0
        and "started" in result.stdout
        and "configs and targets in" in result.stdout
    )
    monkeypatch.setattr(monitor_cli.stack, "down", lambda config: [])
    assert "nothing was running" in runner.invoke(app, ["monitor", "down", "-f", str(cfg)]).stdout
    monkeypatch.setattr(monitor_cli.stack, "down", lambda config: ["prometheus", "alertmanager"])
    result = runner.invoke(app, ["monitor", "down", "-f", str(cfg)])
    assert "stopped prometheus, alertmanager" in result.stdout


@pytest.mark.parametrize(
    ("error", "code"),
    [(MonitoringConfigError("monitoring.prometheus.listen is taken"), 2),
     (MonitoringError("prometheus is not installed"), 1)],
)  # fmt: skip
def test_monitor_errors_are_one_line_exit_2_for_config_1_for_the_stack(
    cfg: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, code: int
) -> None:
    def boom(config: object) -> object:
        raise error

    monkeypatch.setattr(monitor_cli.stack, "up", boom)
    one_error_line(runner.invoke(app, ["monitor", "up", "-f", str(cfg)]), code, str(error))


def test_alerts_prints_the_firing_ones_or_says_there_are_none(
    cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wide enough that the table does not wrap whatever terminal the tests run in.
    monkeypatch.setattr(monitor_cli, "console", Console(width=200, highlight=False))
    monkeypatch.setattr(monitor_cli.stack, "firing_alerts", lambda config, include_suppressed: [])
    assert runner.invoke(app, ["alerts", "-f", str(cfg)]).stdout.strip() == "no alerts firing"
    alert = {"labels": {"alertname": "V11Down", "severity": "critical", "slot": "blue"},
             "annotations": {"summary": "node down"}, "startsAt": "not-a-time"}  # fmt: skip
    monkeypatch.setattr(
        monitor_cli.stack, "firing_alerts", lambda config, include_suppressed: [alert]
    )
    result = runner.invoke(app, ["alerts", "--all", "-f", str(cfg)])
    assert result.exit_code == 0
    assert (
        "V11Down" in result.stdout
        and "node down" in result.stdout
        and "not-a-time" in result.stdout
    )
    assert json.loads(runner.invoke(app, ["alerts", "--json", "-f", str(cfg)]).stdout) == [alert]


# -- demo (run_demo faked: the real one runs nodes under load, in tests/deploy/test_demo.py) ----


def test_a_demo_with_problems_lists_them_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from v11ops.deploy import demo as demo_module

    monkeypatch.setenv("COLUMNS", "200")
    phases = [
        demo_module.Phase("1.1.0", "succeeded", "succeeded", None, 3.0, {"switch": 0.1}, 500, 0),
        demo_module.Phase("1.2.0", "rolled_back", "succeeded", None, 4.0, {}, 400, 2),
    ]
    result = demo_module.DemoResult(phases, None, 900, 1, 0, False, 12, "block 7: bad hash",
                                    ["1 acknowledged transaction is missing"])  # fmt: skip
    seen: list[Path | None] = []

    def fake_run_demo(root: Path | None, say: object) -> demo_module.DemoResult:
        seen.append(root)
        return result

    monkeypatch.setattr(demo_module, "run_demo", fake_run_demo)
    out = runner.invoke(app, ["demo", "--keep", str(tmp_path / "kept")])
    assert out.exit_code == 1
    assert "problem: 1 acknowledged transaction is missing" in out.stdout
    assert "verifies: NO: block 7: bad hash" in out.stdout
    assert seen == [(tmp_path / "kept").resolve()] and (tmp_path / "kept").is_dir()
    result.problems.clear()
    result.chain_ok = True
    out = runner.invoke(app, ["demo"])
    assert out.exit_code == 0 and "demo passed" in out.stdout and seen[-1] is None
