"""`router.tls` in v11ops.yaml: paths relative to the file, checked together, read by preflight
and handed by the stack to the router it starts."""

from __future__ import annotations

import os
import signal
import ssl
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.deploy_artifacts.artifacts import replace_once
from tests.tls.routers import METRICS_LINE, config_yaml, handshake, make_cert
from v11ops.config import DEFAULT_CONFIG_YAML, ConfigError, load_config, parse_config
from v11ops.deploy.stack import ensure_router, stop_router
from v11ops.preflight import PreflightOptions, Status, run_preflight
from v11ops.runtime import free_port
from v11ops.tls import TlsFiles, write_self_signed

TLS = "    cert: tls/cert.pem\n    key: tls/key.pem\n    redirect_http_listen: 127.0.0.1:8081\n"


def test_round_trip_with_paths_relative_to_the_config_file(tmp_path: Path) -> None:
    config = parse_config(config_yaml(TLS), tmp_path / "v11ops.yaml")
    tls = config.router.tls
    assert (tls.cert, tls.key, tls.redirect_http_listen) == (
        "tls/cert.pem", "tls/key.pem", "127.0.0.1:8081",
    )  # fmt: skip
    assert tls.files(config.config_dir) == TlsFiles(
        tmp_path.resolve() / "tls/cert.pem", tmp_path.resolve() / "tls/key.pem"
    )
    again = parse_config(yaml.safe_dump(config.model_dump(mode="json")), tmp_path / "x.yaml")
    assert again.router.tls == tls
    absolute = parse_config(
        config_yaml("    cert: /etc/c.pem\n    key: /etc/k.pem\n"), tmp_path / "v.yaml"
    )
    assert absolute.router.tls.files(tmp_path) == TlsFiles(Path("/etc/c.pem"), Path("/etc/k.pem"))


def test_without_a_tls_section_the_router_serves_plain_http(tmp_path: Path) -> None:
    config = parse_config(DEFAULT_CONFIG_YAML, tmp_path / "v11ops.yaml")
    assert not config.router.tls.enabled
    assert config.router.tls.files(config.config_dir) is None


@pytest.mark.parametrize(
    ("tls", "kind", "message"),
    [
        ("    cert: c.pem\n", "builtin", "cert and key go together"),
        ("    key: k.pem\n", "builtin", "cert and key go together"),
        (
            "    redirect_http_listen: 127.0.0.1:8081\n",
            "builtin",
            "redirect_http_listen needs cert",
        ),
        (
            "    cert: c.pem\n    key: k.pem\n    redirect_http_listen: ':8081'\n",
            "builtin",
            "host:port",
        ),
        ("    cert: c.pem\n    key: k.pem\n    ciphers: ALL\n", "builtin", "unknown key"),
        ("    cert: c.pem\n    key: k.pem\n", "nginx", "router.tls is for the builtin"),
    ],
)
def test_a_tls_section_that_does_not_fit_is_a_config_error(
    tmp_path: Path, tls: str, kind: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(config_yaml(tls, kind=kind), tmp_path / "v11ops.yaml")


def test_preflight_checks_the_configured_certificate(tmp_path: Path) -> None:
    make_cert(tmp_path / "tls", days=10)
    path = tmp_path / "v11ops.yaml"
    path.write_text(config_yaml("    cert: tls/cert.pem\n    key: tls/key.pem\n"))
    report = run_preflight(load_config(path), PreflightOptions(skip_gate=True))
    [tls] = [check for check in report.checks if check.name == "tls"]
    assert tls.status == Status.FAIL
    assert f"{tmp_path.resolve() / 'tls/cert.pem'} expires in 10 days" in tls.reason
    make_cert(tmp_path / "renewed", days=90)
    renewed = tmp_path / "renewed/cert.pem"
    both = PreflightOptions(skip_gate=True, tls_certs=(renewed, tmp_path / "tls/cert.pem"))
    [tls] = [c for c in run_preflight(load_config(path), both).checks if c.name == "tls"]
    assert tls.status == Status.FAIL  # the configured one still counts, once
    assert [c["path"] for c in tls.details["certificates"]] == [
        str(tmp_path.resolve() / "tls/cert.pem"),
        str(renewed),
    ]
    (tmp_path / "tls/cert.pem").write_bytes(renewed.read_bytes())
    report = run_preflight(load_config(path), PreflightOptions(skip_gate=True))
    assert [c.status for c in report.checks if c.name == "tls"] == [Status.PASS]


@pytest.mark.slow
def test_the_stack_starts_the_router_with_its_configured_certificate_and_sighup_reloads_it(
    short_dir: Path,
) -> None:
    cert = make_cert(short_dir / "tls")
    port, redirect = free_port(), free_port()
    tls = TLS.replace("127.0.0.1:8081", f"127.0.0.1:{redirect}")
    text = replace_once(
        config_yaml(tls, f"127.0.0.1:{port}"), f"{METRICS_LINE}   ", "  metrics_listen: null #"
    )
    path = short_dir / "v11ops.yaml"
    path.write_text(text)
    config = load_config(path)
    assert ensure_router(config)
    try:
        verify = ssl.create_default_context(cafile=str(cert.cert))
        with httpx.Client(verify=verify, timeout=5) as client:
            answer = client.get(f"https://localhost:{port}/")
            moved = client.get(f"http://127.0.0.1:{redirect}/x")
        renewed = write_self_signed(cert.cert, cert.key, days=30, force=True)
        os.kill(int((config.state_path / "router.pid").read_text()), signal.SIGHUP)
        expected = ssl.PEM_cert_to_DER_cert(renewed.cert.read_text())
        for _ in range(100):  # the signal is handled soon, not at once: poll (5 s at most)
            served = handshake(port, _any_certificate())[2]
            if served == expected:
                break
            time.sleep(0.05)
    finally:
        stop_router(config)
    assert answer.status_code == 503  # served over TLS: no slot has traffic yet
    assert moved.status_code == 308 and moved.headers["location"] == f"https://127.0.0.1:{port}/x"
    assert served == expected  # the renewed certificate, without a restart


def _any_certificate() -> ssl.SSLContext:
    """A client that accepts whatever certificate it is shown (to see which one it is)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
