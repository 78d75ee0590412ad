"""The monitoring, disk space and release checks."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.preflight.conftest import StartPrometheus
from v11ops.config import Config
from v11ops.preflight import (
    GIB,
    DiskThresholds,
    DiskUsage,
    Status,
    judge_disk,
    judge_prometheus,
    judge_release,
)


def test_monitoring_is_skipped_without_a_prometheus_url() -> None:
    verdict = judge_prometheus(None)
    assert verdict.status == Status.SKIP and "V11OPS_PROMETHEUS_URL" in verdict.reason


def test_a_healthy_prometheus_passes(prometheus: StartPrometheus) -> None:
    assert judge_prometheus(prometheus(200)).status == Status.PASS


def test_an_unhealthy_prometheus_fails(prometheus: StartPrometheus) -> None:
    verdict = judge_prometheus(prometheus(503))
    assert verdict.status == Status.FAIL and "HTTP 503" in verdict.reason


def test_an_unreachable_prometheus_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        verdict = judge_prometheus(f"http://127.0.0.1:{port}", timeout_s=1)
    assert verdict.status == Status.FAIL and "does not answer" in verdict.reason


def _usage(total_gib: float, free_gib: float) -> DiskUsage:
    total, free = int(total_gib * GIB), int(free_gib * GIB)
    return DiskUsage(total, total - free, free)


def test_enough_free_space_passes(tmp_path: Path) -> None:
    verdict = judge_disk(tmp_path, DiskThresholds(), lambda _: _usage(100, 50))
    assert verdict.status == Status.PASS and "50.0 GiB (50%) free" in verdict.reason


def test_less_than_a_gib_free_fails(tmp_path: Path) -> None:
    verdict = judge_disk(tmp_path, DiskThresholds(), lambda _: _usage(4, 0.5))
    assert verdict.status == Status.FAIL and "want at least 1 GiB and 10%" in verdict.reason


def test_less_than_ten_percent_free_fails(tmp_path: Path) -> None:
    assert judge_disk(tmp_path, DiskThresholds(), lambda _: _usage(1000, 50)).status == Status.FAIL


def test_thresholds_are_configurable(tmp_path: Path) -> None:
    lenient = DiskThresholds(min_free_bytes=0, min_free_ratio=0.01)
    assert judge_disk(tmp_path, lenient, lambda _: _usage(1000, 50)).status == Status.PASS


def test_a_state_dir_not_created_yet_is_measured_on_its_parent(tmp_path: Path) -> None:
    seen: list[Path] = []

    def usage(path: Path) -> DiskUsage:
        seen.append(path)
        return _usage(100, 50)

    judge_disk(tmp_path / "not" / "yet", DiskThresholds(), usage)
    assert seen == [tmp_path]


def test_the_real_disk_is_measured(tmp_path: Path) -> None:
    verdict = judge_disk(tmp_path, DiskThresholds(min_free_bytes=0, min_free_ratio=0))
    assert verdict.status == Status.PASS and verdict.details["total_bytes"] > 0


def test_release_check_is_skipped_without_a_version(config: Config) -> None:
    assert judge_release(config, None).status == Status.SKIP


def test_a_listed_release_passes(config: Config) -> None:
    assert judge_release(config, "1.1.0").status == Status.PASS


def test_an_unknown_release_fails_listing_the_known_ones(config: Config) -> None:
    verdict = judge_release(config, "9.9.9")
    assert verdict.status == Status.FAIL
    assert "known: 1.0.0, 1.1.0, 1.2.0" in verdict.reason
