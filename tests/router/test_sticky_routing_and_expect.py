"""Sticky keys through the data path, and clients that send `Expect: 100-continue`."""

from __future__ import annotations

import json

import httpx

from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import raw_exchange
from v11ops.router import RouteTable


def _names(url: str, requests: list[dict[str, str]]) -> list[str]:
    with httpx.Client(base_url=url) as http:
        return [http.get("/", headers=headers).json()["name"] for headers in requests]


def test_a_sticky_header_keeps_each_key_on_one_target(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    table = RouteTable((blue.target(50), green.target(50)), sticky_header="X-User")
    r = router(table=table)
    keys = [{"x-user": f"user-{i}"} for i in range(24)]
    first = _names(r.url, keys)
    assert _names(r.url, keys) == first, "the same key goes to the same target again"
    assert set(first) == {"blue", "green"}, "different keys spread over the targets"


def test_a_sticky_cookie_is_read_among_other_cookies(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    table = RouteTable((blue.target(50), green.target(50)), sticky_cookie="session")
    r = router(table=table)
    keyed = [{"cookie": f"theme=dark; session=s{i}; lang=en"} for i in range(24)]
    first = _names(r.url, keyed)
    assert _names(r.url, keyed) == first
    assert set(first) == {"blue", "green"}
    # Without the cookie the request is balanced (round robin), not pinned.
    unkeyed = _names(r.url, [{"cookie": "theme=dark"}] * 4)
    assert sorted(unkeyed) == ["blue", "blue", "green", "green"]


def test_expect_100_continue_gets_the_interim_answer_then_the_response(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue = upstream("blue")
    r = router(blue.target())
    request = (
        b"POST /tx HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello"
    )
    raw = raw_exchange(r.server.port, request, responses=2)
    assert raw.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200")
    body = json.loads(raw.partition(b"\r\n\r\n")[2].partition(b"\r\n\r\n")[2])
    assert body["body"] == "hello"
    assert "expect" not in {k for k, _ in body["headers"]}, "Expect is hop-by-hop for the router"
