"""The builtin router terminates TLS: HTTPS to the upstream with X-Forwarded-Proto https, TLS 1.2
and newer only, ALPN http/1.1, a plain-HTTP listener that redirects, the expiry metric, and a
certificate reload that serves the new one to new connections."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from tests.router.conftest import StartUpstream
from tests.router.harness import LoopThread, start_router
from tests.tls.routers import (
    REFUSED_VERSION,
    TlsRouter,
    client_context,
    handshake,
    make_cert,
    running,
    tls_config,
)
from v11ops.router import RouteTable
from v11ops.tls import write_self_signed

EXPIRY = "v11ops_tls_certificate_expiry_timestamp_seconds"


@pytest.fixture
def served(loop: LoopThread, short_dir: Path, upstream: StartUpstream) -> Iterator[TlsRouter]:
    cert = make_cert(short_dir / "tls")
    config = tls_config(short_dir, cert, RouteTable((upstream("blue").target(),)), redirect=True)
    with running(loop, config, cert) as router:
        yield router


def test_https_reaches_the_upstream_which_is_told_the_scheme(served: TlsRouter) -> None:
    verify = ssl.create_default_context(cafile=str(served.cert.cert))
    with httpx.Client(verify=verify, timeout=5) as client:
        answer = client.get(f"https://localhost:{served.server.port}/api/v11/info")
    assert answer.status_code == 200
    seen = dict(answer.json()["headers"])
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert served.server.scheme == "https"


def test_an_untrusted_client_is_refused_by_its_own_verification(served: TlsRouter) -> None:
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.ConnectError):
        client.get(f"{served.https_url}/")  # the system CAs do not know the self-signed one


def test_tls_1_2_and_1_3_with_alpn_http11_and_tls_1_1_is_refused(served: TlsRouter) -> None:
    version, alpn, _ = handshake(
        served.server.port, client_context(served.cert.cert, ssl.TLSVersion.TLSv1_2)
    )
    assert (version, alpn) == ("TLSv1.2", "http/1.1")
    version, alpn, _ = handshake(
        served.server.port, client_context(served.cert.cert, ssl.TLSVersion.TLSv1_3)
    )
    assert (version, alpn) == ("TLSv1.3", "http/1.1")
    old = client_context(served.cert.cert, ssl.TLSVersion.TLSv1_1)
    with pytest.raises(ssl.SSLError) as refused:
        handshake(served.server.port, old)
    # The server hung up on (or alerted) the hello; not a client that offered nothing.
    assert refused.value.reason in REFUSED_VERSION


def test_plain_http_is_answered_308_to_the_same_target_over_https(served: TlsRouter) -> None:
    redirect = f"http://127.0.0.1:{served.server.redirect_port}"
    https_port = served.server.port
    with httpx.Client(timeout=5) as client:
        get = client.get(f"{redirect}/api/v11/blocks?limit=2&x=%2F", headers={"host": "v11.test"})
        post = client.post(f"{redirect}/api/v11/transactions", content=b"{}")
        bad = client.get(f"{redirect}/", headers={"host": "evil.test\\@x"})
    assert get.status_code == 308
    assert get.headers["location"] == f"https://v11.test:{https_port}/api/v11/blocks?limit=2&x=%2F"
    assert post.status_code == 308  # 308 keeps the method: the client repeats the POST
    assert post.headers["location"] == f"https://127.0.0.1:{https_port}/api/v11/transactions"
    assert bad.status_code == 400 and "location" not in bad.headers


def _expiry_samples(router: TlsRouter) -> dict[tuple[str, str], float]:
    text = httpx.get(router.metrics_url, timeout=5).text
    return {
        (s.labels["path"], s.labels["subject"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == EXPIRY
        for s in family.samples
    }


def test_the_expiry_metric_is_the_certificates_not_after(served: TlsRouter) -> None:
    assert _expiry_samples(served) == {
        (str(served.cert.cert), "CN=localhost"): served.cert.not_after.timestamp()
    }


def test_a_reload_serves_the_new_certificate_and_a_bad_one_keeps_the_old(
    served: TlsRouter, loop: LoopThread
) -> None:
    client = client_context(served.cert.cert, ssl.TLSVersion.TLSv1_3)
    before = handshake(served.server.port, client)[2]
    renewed = write_self_signed(served.cert.cert, served.cert.key, days=30, force=True)

    async def reload() -> None:
        served.server.reload_certificate()

    loop.run(reload())
    renewed_client = client_context(renewed.cert, ssl.TLSVersion.TLSv1_3)
    after = handshake(served.server.port, renewed_client)[2]
    assert after != before and after == ssl.PEM_cert_to_DER_cert(renewed.cert.read_text())
    assert _expiry_samples(served) == {
        (str(renewed.cert), "CN=localhost"): renewed.not_after.timestamp()
    }

    served.cert.key.write_text("not a key\n")
    with capture_logs() as logs:
        loop.run(reload())
    assert [entry["event"] for entry in logs] == ["certificate_reload_failed"]
    assert f"{served.cert.key} holds no PEM private key" in logs[0]["error"]
    assert handshake(served.server.port, renewed_client)[2] == after
    assert list(_expiry_samples(served).values()) == [renewed.not_after.timestamp()]


def test_a_plain_router_exports_no_certificate(
    loop: LoopThread, short_dir: Path, upstream: StartUpstream
) -> None:
    server = loop.run(
        start_router(short_dir, RouteTable((upstream("blue").target(),)), metrics=True)
    )
    try:
        text = httpx.get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).text
    finally:
        loop.run(server.stop())
    assert f"# TYPE {EXPIRY} gauge" in text
    assert f"{EXPIRY}{{" not in text
    assert server.scheme == "http"


def test_a_key_others_can_read_is_served_with_a_warning(loop: LoopThread, short_dir: Path) -> None:
    cert = make_cert(short_dir / "tls")
    cert.key.chmod(0o644)
    with capture_logs() as logs, running(loop, tls_config(short_dir, cert), cert) as router:
        assert handshake(router.server.port, client_context(cert.cert, ssl.TLSVersion.TLSv1_3))
    assert logs == [
        {
            "event": "tls_key_readable_by_others",
            "path": str(cert.key),
            "mode": "644",
            "log_level": "warning",
        }
    ]
