"""The TLS check: every configured certificate valid for more than 30 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.deploy_artifacts.certs import write_self_signed
from v11ops.preflight import Status, certificate_validity, judge_certificate, judge_certificates

NOW = datetime.now(UTC)


def _cert(tmp_path: Path, name: str, days: float, starts_in: float = -1) -> Path:
    cert, _ = write_self_signed(
        tmp_path / name,
        not_before=NOW + timedelta(days=starts_in),
        not_after=NOW + timedelta(days=days),
    )
    return cert


def test_without_certificates_the_check_is_skipped() -> None:
    verdict = judge_certificates([], NOW, 30)
    assert verdict.status == Status.SKIP
    assert verdict.reason.startswith("no TLS configured")


def test_a_certificate_valid_for_90_days_passes(tmp_path: Path) -> None:
    verdict = judge_certificate(_cert(tmp_path, "a", 90), NOW, 30)
    assert verdict.status == Status.PASS and "valid for 90 more days" in verdict.reason
    assert verdict.details["subject"] == "CN=v11.example.com"


def test_a_certificate_expiring_within_30_days_fails(tmp_path: Path) -> None:
    verdict = judge_certificate(_cert(tmp_path, "a", 10), NOW, 30)
    assert verdict.status == Status.FAIL and "expires in 10 days" in verdict.reason


def test_an_expired_certificate_fails(tmp_path: Path) -> None:
    verdict = judge_certificate(_cert(tmp_path, "a", -1, starts_in=-30), NOW, 30)
    assert verdict.status == Status.FAIL and "expired" in verdict.reason


def test_a_certificate_not_yet_valid_fails(tmp_path: Path) -> None:
    verdict = judge_certificate(_cert(tmp_path, "a", 90, starts_in=2), NOW, 30)
    assert verdict.status == Status.FAIL and "not valid before" in verdict.reason


def test_a_file_without_a_certificate_fails(tmp_path: Path) -> None:
    (tmp_path / "x.pem").write_text("hello")
    assert "holds no PEM certificate" in judge_certificate(tmp_path / "x.pem", NOW, 30).reason
    assert "cannot read" in judge_certificate(tmp_path / "missing.pem", NOW, 30).reason


def test_a_chain_is_as_valid_as_its_shortest_lived_certificate(tmp_path: Path) -> None:
    chain = tmp_path / "fullchain.pem"
    chain.write_bytes(
        _cert(tmp_path, "leaf", 90).read_bytes() + _cert(tmp_path, "ca", 20).read_bytes()
    )
    assert round(certificate_validity(chain).days_left(NOW)) == 20
    assert judge_certificate(chain, NOW, 30).status == Status.FAIL


def test_one_bad_certificate_fails_the_check(tmp_path: Path) -> None:
    good, bad = _cert(tmp_path, "good", 90), _cert(tmp_path, "bad", 5)
    assert judge_certificates([good], NOW, 30).status == Status.PASS
    verdict = judge_certificates([good, bad], NOW, 30)
    assert verdict.status == Status.FAIL and str(bad) in verdict.reason
    assert len(verdict.details["certificates"]) == 2
