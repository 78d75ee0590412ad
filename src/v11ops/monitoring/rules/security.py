"""Security alerts: the certificates the builtin router serves
(`v11ops_tls_certificate_expiry_timestamp_seconds{path, subject}`, src/v11ops/router/metrics.py).

No job selector: any target that exports the metric (the router, or a textfile written for
nginx's certificate) is judged the same way. Without TLS the metric is absent and so are the
alerts.
"""

from __future__ import annotations

from v11ops.monitoring.rules.alerts import num
from v11ops.monitoring.rules.params import RuleParams
from v11ops.monitoring.rules.rulefile import Alert, Group

CERT_EXPIRY = "v11ops_tls_certificate_expiry_timestamp_seconds"
CERT = "{{ $labels.subject }} in {{ $labels.path }} on {{ $labels.instance }}"


def security_group(p: RuleParams) -> Group:
    """The security alerts, in a group (and file) of their own, apart from the seed's 24."""
    left = f"{CERT_EXPIRY} - time()"
    return Group(
        "aurigraph.security",
        [
            Alert(
                "TLSCertificateExpiringSoon",
                f"{left} < {num(p.tls_expiry_warning_days)} * 86400",
                "10m",
                "warning",
                "P1",
                "A TLS certificate the router serves expires within weeks.",
                f"The certificate {CERT} expires in {{{{ $value | humanizeDuration }}}} "
                f"(threshold {num(p.tls_expiry_warning_days)} days).",
                "A month leaves time to fix a failed renewal (or a router not sent SIGHUP). "
                "certbot renews at 30 days left by default, so set its renew_before_expiry "
                "above this threshold or the alert may fire for hours before each renewal.",
            ),
            Alert(
                "TLSCertificateExpiringVerySoon",
                f"{left} < {num(p.tls_expiry_critical_days)} * 86400",
                "10m",
                "critical",
                "P0",
                "A TLS certificate the router serves expires within days: clients will refuse it.",
                f"The certificate {CERT} expires in {{{{ $value | humanizeDuration }}}} "
                f"(threshold {num(p.tls_expiry_critical_days)} days; negative: expired).",
                "An expired certificate is an outage for every client that verifies it; a week "
                "leaves time to renew by hand. It fires alongside TLSCertificateExpiringSoon.",
            ),
        ],
    )
