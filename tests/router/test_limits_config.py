"""`router.limits` in v11ops.yaml reaches the router process the stack starts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.deploy_artifacts.artifacts import replace_once
from tests.router.test_cli_run_errors import _run
from v11ops.config import DEFAULT_CONFIG_YAML, ConfigError, load_config, parse_config
from v11ops.deploy.stack import _limit_args, ensure_router, stop_router
from v11ops.runtime import free_port

METRICS_LINE = "  metrics_listen: 127.0.0.1:9180"
HERE = Path("v11ops.yaml")


def _config_text(limits: str, listen: str = "127.0.0.1:8080") -> str:
    text = replace_once(DEFAULT_CONFIG_YAML, "  listen: 127.0.0.1:8080", f"  listen: {listen}")
    return replace_once(text, METRICS_LINE, f"  limits:\n{limits}  metrics_listen: null #")


def test_the_limits_become_router_options_and_an_empty_trust_list_says_none() -> None:
    text = _config_text("    max_body_bytes: 1024\n    trust_forwarded_from: []\n")
    config = parse_config(text, HERE)
    argv = _limit_args(config)
    assert argv[argv.index("--max-body-bytes") + 1] == "1024"
    assert argv[argv.index("--trust-forwarded-from") + 1] == "none"
    default = _limit_args(parse_config(DEFAULT_CONFIG_YAML, HERE))
    trusted = [default[i + 1] for i, a in enumerate(default) if a == "--trust-forwarded-from"]
    assert trusted == ["127.0.0.0/8", "::1/128"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trust-forwarded-from", "proxy.local"], "--trust-forwarded-from 'proxy.local': not"),
    ],
)
def test_a_bad_trusted_proxy_is_one_line_and_exit_2(
    short_dir: Path, args: list[str], message: str
) -> None:
    code, err = _run(short_dir, *args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["--header-timeout", "0"], ["--max-header-bytes", "10"]])
def test_a_limit_out_of_range_is_a_usage_error(short_dir: Path, args: list[str]) -> None:
    code, err = _run(short_dir, *args)
    assert code == 2 and args[0] in err


@pytest.mark.slow
def test_a_configured_body_limit_is_enforced_by_the_started_router(short_dir: Path) -> None:
    port = free_port()
    path = short_dir / "v11ops.yaml"
    path.write_text(_config_text("    max_body_bytes: 1024\n", f"127.0.0.1:{port}"))
    config = load_config(path)
    assert ensure_router(config)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            small = client.post("/api/v11/transactions", content=b"x" * 1000)
            large = client.post("/api/v11/transactions", content=b"x" * 2000)
    finally:
        stop_router(config)
    assert small.status_code == 503  # within the limit: routed (no slot has traffic yet)
    assert large.status_code == 413


def test_a_trusted_proxy_that_is_no_address_is_a_config_error() -> None:
    text = _config_text("    trust_forwarded_from: [proxy.local]\n")
    with pytest.raises(
        ConfigError, match=r"router.limits.trust_forwarded_from\[0\]: 'proxy.local'"
    ):
        parse_config(text, HERE)
