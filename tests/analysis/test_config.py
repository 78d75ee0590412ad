"""The `analysis:` section of v11ops.yaml: built-in templates and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from v11ops.config import (
    DEFAULT_CONFIG_YAML,
    ConfigError,
    MannWhitneyCheck,
    RouterCheck,
    parse_config,
)


def config_with(analysis: object) -> str:
    data = yaml.safe_load(DEFAULT_CONFIG_YAML)
    data["analysis"] = analysis
    return yaml.safe_dump(data)


def load(analysis: object):  # type: ignore[no-untyped-def]
    return parse_config(config_with(analysis), Path("v11ops.yaml"))


def error(analysis: object) -> str:
    with pytest.raises(ConfigError) as info:
        load(analysis)
    return str(info.value)


PROM = {"name": "ratio", "kind": "prometheus", "query": "up", "success_condition": "result == 1"}


def test_the_default_file_has_the_builtin_templates() -> None:
    config = parse_config(DEFAULT_CONFIG_YAML, Path("v11ops.yaml"))
    assert set(config.analysis) == {"error-rate", "latency", "latency-vs-baseline"}
    (error_rate,) = config.analysis["error-rate"].checks
    assert isinstance(error_rate, RouterCheck)
    assert (error_rate.metric, error_rate.min_samples) == ("error_rate", 50)
    assert isinstance(config.analysis["latency-vs-baseline"].checks[0], MannWhitneyCheck)


def test_configured_templates_add_to_the_builtins_and_may_replace_one() -> None:
    config = load({"mine": {"checks": [PROM]}, "latency": {"checks": [PROM]}})
    assert set(config.analysis) == {"error-rate", "latency", "latency-vs-baseline", "mine"}
    assert config.analysis["latency"].checks[0].kind == "prometheus"


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        (
            {**PROM, "success_condition": "result < limit"},
            "analysis.t.checks[0].success_condition: cannot read condition 'result < limit'",
        ),
        (
            {**PROM, "query": 'up{slot="{{canary.slot}}"}'},
            "analysis.t.checks[0].query: unknown placeholder {{canary.slot}} (known: "
            "{{candidate.slot}}, {{candidate.version}}, {{stable.slot}}, {{stable.version}})",
        ),
        (
            {**PROM, "min_samples": 20},
            "analysis.t.checks[0]: min_samples needs samples_query",
        ),
        (
            {k: v for k, v in PROM.items() if k != "success_condition"},
            "analysis.t.checks[0]: give success_condition, failure_condition or both",
        ),
        (
            {**PROM, "kind": "graphite"},
            "analysis.t.checks[0]: expected kind: router, scrape, prometheus or mann_whitney",
        ),
        (
            {**PROM, "on_nan": "ignore"},
            "analysis.t.checks[0].on_nan: expected one of 'inconclusive', 'failed', 'successful'",
        ),
        (
            {"name": "mw", "kind": "mann_whitney", "samples": 10, "min_samples": 20},
            "analysis.t.checks[0]: min_samples is larger than samples",
        ),
        (
            {"name": "s", "kind": "scrape", "metric": "latency", "success_condition": "result < 1",
             "match": {"uri": "("}},
            "analysis.t.checks[0].match.uri: not a valid regex",
        ),
    ],
)  # fmt: skip
def test_a_bad_check_is_one_line_naming_the_field(check: dict[str, object], expected: str) -> None:
    message = error({"t": {"checks": [check]}})
    assert message.startswith(f"v11ops.yaml: {expected}"), message
    assert "\n" not in message


def test_check_names_are_unique_within_a_template() -> None:
    message = error({"t": {"checks": [PROM, PROM]}})
    assert "analysis.t.checks: two checks are named 'ratio'" in message


def test_template_names_are_checked() -> None:
    assert "analysis.Bad Name: not a valid template name" in error({"Bad Name": {"checks": [PROM]}})
