"""The certificate alerts: a file of their own (the seed's 24 stay 24) with their parameters."""

from __future__ import annotations

import yaml

from tests.monitoring.rules.rulefiles import SLO_SPEC
from v11ops.monitoring.rules import RuleParams, load_slo_spec, render_rule_files

SECURITY = {"TLSCertificateExpiringSoon", "TLSCertificateExpiringVerySoon"}


def _security_rules(params: RuleParams) -> tuple[dict[str, dict[str, str]], str]:
    files = render_rule_files(params, load_slo_spec(SLO_SPEC))
    [group] = yaml.safe_load(files["aurigraph-security.yml"])["groups"]
    return {r["alert"]: r for r in group["rules"]}, files["aurigraph-alerts.yml"]


def test_the_certificate_alerts_are_a_file_of_their_own() -> None:
    rules, seed = _security_rules(RuleParams())
    assert set(rules) == SECURITY
    assert rules["TLSCertificateExpiringSoon"]["expr"].endswith("< 30 * 86400")
    assert rules["TLSCertificateExpiringVerySoon"]["expr"].endswith("< 7 * 86400")
    assert not SECURITY & {
        r["alert"] for g in yaml.safe_load(seed)["groups"] for r in g["rules"] if "alert" in r
    }


def test_their_thresholds_are_parameters_and_they_can_be_disabled() -> None:
    params = RuleParams(
        tls_expiry_warning_days=21, disabled_alerts=("TLSCertificateExpiringVerySoon",)
    )
    rules, _ = _security_rules(params)
    assert set(rules) == {"TLSCertificateExpiringSoon"}
    assert rules["TLSCertificateExpiringSoon"]["expr"] == (
        "v11ops_tls_certificate_expiry_timestamp_seconds - time() < 21 * 86400"
    )
