"""TLS certificates: valid now and for at least N more days.

The config has no TLS section yet; the certificates to check come from `--tls-cert` (the PEM
files nginx serves). Without any, the check is skipped with "no TLS configured".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from v11ops.preflight._verdict import Verdict, failing, passing, skipped

MIN_CERTIFICATE_DAYS = 30.0


class CertificateError(Exception):
    """A certificate file cannot be read or holds no PEM certificate."""


@dataclass(frozen=True)
class CertificateValidity:
    """When a PEM file's certificates (a whole chain, if it holds one) are valid together."""

    path: Path
    subject: str
    not_before: datetime
    not_after: datetime

    def days_left(self, now: datetime) -> float:
        """Days from `now` until the first certificate in the file expires."""
        return (self.not_after - now) / timedelta(days=1)


def certificate_validity(pem_path: Path) -> CertificateValidity:
    """Read a PEM file; a chain (fullchain.pem) is as valid as its shortest-lived certificate."""
    try:
        data = pem_path.read_bytes()
    except OSError as exc:
        raise CertificateError(f"cannot read {pem_path}: {exc.strerror or exc}") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise CertificateError(f"{pem_path} holds no PEM certificate") from None
    return CertificateValidity(
        path=pem_path,
        subject=certs[0].subject.rfc4514_string(),
        not_before=max(c.not_valid_before_utc for c in certs),
        not_after=min(c.not_valid_after_utc for c in certs),
    )


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
        return skipped("no TLS configured (pass --tls-cert PEM to check a certificate)")
    verdicts = [judge_certificate(path, now, min_days) for path in paths]
    details = {"certificates": [dict(v.details) for v in verdicts]}
    failed = [v.reason for v in verdicts if v.status == "fail"]
    if failed:
        return failing("; ".join(failed), **details)
    soonest = min(verdicts, key=lambda v: float(v.details["days_left"]))
    if len(verdicts) == 1:
        return passing(soonest.reason, **details)
    return passing(f"{len(verdicts)} certificates; soonest: {soonest.reason}", **details)
