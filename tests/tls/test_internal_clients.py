"""v11ops's own requests through a router that serves HTTPS: the canary's synthetic top-up
reaches it over loopback, trusting exactly the configured certificate whatever name it is for."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
import pytest

from tests.router.conftest import StartUpstream
from tests.router.harness import LoopThread
from tests.tls.routers import config_yaml, handshake, running, tls_config
from v11ops.config import parse_config
from v11ops.deploy.synthetic import top_up_through
from v11ops.router import RouterClient, RouteTable
from v11ops.tls import pinned_client_context, write_self_signed


def test_the_synthetic_top_up_goes_through_a_tls_router(
    loop: LoopThread, short_dir: Path, upstream: StartUpstream
) -> None:
    # A production-like certificate: its name is not the loopback address the controller uses.
    cert = write_self_signed(
        short_dir / "cert.pem", short_dir / "key.pem", hosts=("v11.example.com",)
    )
    config = tls_config(short_dir, cert, RouteTable((upstream("blue").target(),)))
    with running(loop, config, cert) as router:
        tls = f"    cert: {cert.cert}\n    key: {cert.key}\n"
        listen = f"127.0.0.1:{router.server.port}"
        v11ops = parse_config(config_yaml(tls, listen), short_dir / "v11ops.yaml")
        assert v11ops.router.url == f"https://{listen}"
        sent = asyncio.run(top_up_through(v11ops, 5))
        with RouterClient(short_dir / "admin.sock") as client:
            [blue] = client.stats().targets
    assert sent == 5
    assert blue.requests == 5 and blue.responses_5xx == 0


def test_the_pinned_context_trusts_the_configured_certificate_only(
    loop: LoopThread, short_dir: Path
) -> None:
    served = write_self_signed(short_dir / "a.pem", short_dir / "a.key", hosts=("v11.test",))
    other = write_self_signed(short_dir / "b.pem", short_dir / "b.key", hosts=("127.0.0.1",))
    with running(loop, tls_config(short_dir, served), served) as router:
        assert handshake(router.server.port, pinned_client_context(served.cert))[0]
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(router.server.port, pinned_client_context(other.cert))
        with pytest.raises(httpx.ConnectError):  # a default client checks the name
            httpx.get(router.https_url, verify=ssl.create_default_context(cafile=served.cert))
