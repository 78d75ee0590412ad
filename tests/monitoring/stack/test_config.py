"""The `monitoring:` section: defaults as documented, references only for the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.monitoring.stack.support import MINIMAL_SERVICE, write_config
from v11ops.config import DEFAULT_CONFIG_YAML, ConfigError, load_config


def test_the_default_file_states_the_monitoring_defaults(tmp_path: Path) -> None:
    written = load_config(write_config(tmp_path / "a", DEFAULT_CONFIG_YAML))
    minimal = load_config(write_config(tmp_path / "b", MINIMAL_SERVICE % 8080))
    assert written.monitoring == minimal.monitoring
    mon = minimal.monitoring
    assert (mon.prometheus.listen, mon.alertmanager.listen, mon.node_exporter.listen) == (
        "127.0.0.1:9090", "127.0.0.1:9093", "127.0.0.1:9100",
    )  # fmt: skip
    assert mon.prometheus.retention_time == "15d"
    assert mon.webhook.listen == "auto" and mon.webhook.token is None
    assert mon.window_alerts.rollback is True and mon.window_alerts.severities == ["critical"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "monitoring: {webhook: {token: s3cret-in-the-file}}",
            "monitoring.webhook.token: write env:NAME or file:PATH here, never the secret itself",
        ),
        (
            "monitoring: {webhook: {token: 'env:'}}",
            "monitoring.webhook.token: env: reference needs a variable name",
        ),
        (
            "monitoring: {prometheus: {retention_time: 15 days}}",
            "monitoring.prometheus.retention_time",
        ),
        (
            "monitoring: {window_alerts: {severities: [page]}}",
            "monitoring.window_alerts.severities[0]: expected one of",
        ),
        ("monitoring: {prometheus: {listen: localhost}}", "monitoring.prometheus.listen"),
    ],
)
def test_a_bad_monitoring_section_is_one_line_naming_the_field(
    tmp_path: Path, section: str, message: str
) -> None:
    path = write_config(tmp_path, MINIMAL_SERVICE % 8080 + section + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "\n" not in str(info.value)
    assert message in str(info.value)
