"""TLS certificates: valid now and for at least N more days.

The certificates to check are `router.tls.cert` from the config and any `--tls-cert` (the PEM
files nginx serves). Without any, the check is skipped with "no TLS configured".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from v11ops.preflight._verdict import Verdict, failing, passing, skipped
from v11ops.tls import CertificateError, CertificateValidity, certificate_validity

__all__ = [
    "MIN_CERTIFICATE_DAYS",
    "CertificateError",
    "CertificateValidity",
    "certificate_validity",
    "judge_certificate",
    "judge_certificates",
]

MIN_CERTIFICATE_DAYS = 30.0


def judge_certificate(pem_path: Path, now: datetime, min_days: float) -> Verdict:
    """PASS when the certificate is valid now and for more than `min_days` days."""
    try:
        validity = certificate_validity(pem_path)
    except CertificateError as exc:
        return failing(str(exc), path=str(pem_path))
    days = validity.days_left(now)
    details = {
        "path": str(pem_path),
        "subject": validity.subject,
        "not_after": validity.not_after.isoformat(),
        "days_left": round(days, 1),
    }
    if now < validity.not_before:
        return failing(f"{pem_path} is not valid before {validity.not_before:%Y-%m-%d}", **details)
    if days <= min_days:
        when = "expired" if days < 0 else f"expires in {days:.0f} days"
        return failing(f"{pem_path} {when} (renew it; want > {min_days:g} days)", **details)
    return passing(f"{pem_path} valid for {days:.0f} more days", **details)


def judge_certificates(paths: Sequence[Path], now: datetime, min_days: float) -> Verdict:
    """Every certificate must pass; with none configured the check is skipped."""
    if not paths:
        return skipped("no TLS configured (set router.tls.cert or pass --tls-cert PEM)")
    verdicts = [judge_certificate(path, now, min_days) for path in paths]
    details = {"certificates": [dict(v.details) for v in verdicts]}
    failed = [v.reason for v in verdicts if v.status == "fail"]
    if failed:
        return failing("; ".join(failed), **details)
    soonest = min(verdicts, key=lambda v: float(v.details["days_left"]))
    if len(verdicts) == 1:
        return passing(soonest.reason, **details)
    return passing(f"{len(verdicts)} certificates; soonest: {soonest.reason}", **details)
