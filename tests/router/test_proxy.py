"""The data path: bodies both ways, headers, retries, errors, timeouts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import LoopThread, closed_port, raw_exchange, start_slammer
from v11ops.router import RouteTable, Target
from v11ops.router.proxy import ProxySettings


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.json()["headers"]}


def test_proxies_get_and_post_with_content_length_and_chunked_bodies(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    with httpx.Client(base_url=r.url) as http:
        got = http.get("/hello", params={"q": "1"})
        assert got.status_code == 200
        assert got.json()["name"] == "blue" and got.json()["path"] == "/hello"

        posted = http.post("/tx", content=b"x" * 100_000)
        assert posted.json()["body"] == "x" * 100_000
        assert _headers(posted)["content-length"] == "100000"

        def chunks() -> Iterator[bytes]:
            yield b"first,"
            yield b"second"

        chunked = http.post("/tx", content=chunks())
        assert chunked.json()["body"] == "first,second"
        assert _headers(chunked)["transfer-encoding"] == "chunked"

        head = http.head("/hello")
        assert head.status_code == 200 and head.content == b""
        assert http.get("/after-head").json()["path"] == "/after-head"


def test_a_chunked_streamed_response_is_passed_through(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    with httpx.Client(base_url=r.url) as http:
        got = http.get("/stream", params={"n": "4", "delay": "0"})
    assert got.text == "blue:0\nblue:1\nblue:2\nblue:3\n"
    assert got.headers["transfer-encoding"] == "chunked"


def test_hop_by_hop_headers_are_stripped_and_forwarding_headers_set(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    request = (
        b"GET /h?hop=1 HTTP/1.1\r\nHost: example.test\r\n"
        b"Connection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\n"
        b"Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Forwarded-For: 203.0.113.7\r\n"
        b"X-Forwarded-Proto: https\r\nX-Request-Id: req-42\r\nX-Kept: yes\r\n\r\n"
    )
    raw = raw_exchange(r.server.port, request)
    head, _, body = raw.partition(b"\r\n\r\n")
    seen = {k: v for k, v in json.loads(body)["headers"]}
    for name in ("connection", "x-private", "keep-alive", "proxy-connection", "te"):
        assert name not in seen, name
    assert seen["host"] == "example.test"
    # A loopback peer is a trusted proxy by default (nginx in front): its claims pass.
    assert seen["x-forwarded-for"] == "203.0.113.7, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-request-id"] == "req-42"
    assert seen["x-kept"] == "yes"
    # The upstream's own hop-by-hop headers do not reach the client either.
    response_headers = head.lower()
    assert b"x-secret" not in response_headers and b"keep-alive:" not in response_headers
    assert b"x-upstream: blue" in response_headers


def test_a_request_id_is_generated_when_the_client_sends_none(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    with httpx.Client(base_url=r.url) as http:
        ids = {_headers(http.get("/")).get("x-request-id") for _ in range(3)}
        response = http.get("/")
    assert len(ids) == 3 and None not in ids
    assert response.headers["x-request-id"] == _headers(response)["x-request-id"]


def test_pipelined_requests_are_answered_in_order(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    one = b"GET /one?sleep=0.05 HTTP/1.1\r\nHost: t\r\n\r\n"
    two = b"POST /two HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
    raw = raw_exchange(r.server.port, one + two, responses=2)
    assert raw.index(b'"path":"/one"') < raw.index(b'"path":"/two"')
    assert b'"body":"abc"' in raw


def test_http10_client_without_host_gets_an_answer(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    raw = raw_exchange(r.server.port, b"GET /old HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200")
    assert f'"host","127.0.0.1:{blue.port}"'.encode() in raw


def test_no_target_gives_503_with_a_json_body(router: StartRouter) -> None:
    r = router()
    with httpx.Client(base_url=r.url) as http:
        response = http.get("/")
        assert response.status_code == 503
        assert response.json()["status"] == 503
        response = http.post("/tx", content=b"body is consumed, connection reusable")
        assert response.status_code == 503
    assert r.client().stats().unrouted == 2


def test_all_weights_zero_gives_503(upstream: StartUpstream, router: StartRouter) -> None:
    blue = upstream("blue")
    r = router(blue.target(weight=0))
    assert httpx.get(r.url).status_code == 503


def test_failed_connect_of_a_get_is_retried_on_another_target(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    dead = Target("dead", f"http://127.0.0.1:{closed_port()}", 50)
    r = router(dead, blue.target(weight=50))  # SWRR picks `dead` first on a tie
    with httpx.Client(base_url=r.url) as http:
        assert [http.get("/").json()["name"] for _ in range(4)] == ["blue"] * 4
    stats = r.client().stats()
    assert stats.retries == 1
    dead_stats = stats.slot("dead")
    assert dead_stats.errors == {"connect": 1}
    assert dead_stats.requests == 0 and dead_stats.in_flight == 0


def test_failed_connect_of_a_post_is_not_retried(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    dead = Target("dead", f"http://127.0.0.1:{closed_port()}", 50)
    r = router(dead, blue.target(weight=50))
    with httpx.Client(base_url=r.url) as http:
        response = http.post("/tx", content=b"{}")
    assert response.status_code == 502
    assert "dead" in response.json()["error"]
    assert r.client().stats().retries == 0


def test_an_upstream_closing_before_answering_is_retried_for_get_but_not_post(
    loop: LoopThread, upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    port, slammer = loop.run(start_slammer())
    try:
        table = RouteTable((Target("dying", f"http://127.0.0.1:{port}", 50), blue.target(50)))
        # No ejection, so that SWRR (reset by each switch) tries `dying` first every time.
        r = router(table=table, proxy=ProxySettings(eject_s=0.0, tick_s=0.05))
        with httpx.Client(base_url=r.url) as http:
            assert http.get("/").json()["name"] == "blue"
        r.client().set_routes(table)
        with httpx.Client(base_url=r.url) as http:
            assert http.post("/tx", content=b"{}").status_code == 502
        stats = r.client().stats()
        assert stats.retries == 1
        assert stats.slot("dying").errors == {"reset": 2}
    finally:
        slammer.close()


def test_upstream_silence_beyond_the_read_timeout_gives_504(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target(), proxy=ProxySettings(read_timeout_s=0.2, tick_s=0.05))
    with httpx.Client(base_url=r.url, timeout=5) as http:
        assert http.get("/", params={"sleep": "1"}).status_code == 504
        assert http.get("/").status_code == 200
    assert r.client().stats().slot("blue").errors == {"timeout": 1}


@pytest.mark.parametrize("status", [404, 500, 503])
def test_upstream_status_codes_are_passed_through_and_counted(
    upstream: StartUpstream, router: StartRouter, status: int
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    assert httpx.get(f"{r.url}/?status={status}").status_code == status
    assert r.client().stats().slot("blue").codes == {str(status): 1}


def test_malformed_request_gets_400_and_the_connection_closes(router: StartRouter) -> None:
    r = router(table=RouteTable())
    raw = raw_exchange(r.server.port, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400")
    assert b"connection: close" in raw.lower()
