"""Switches and drains: no request is dropped, and drain is confirmed by the router."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests.router.conftest import StartRouter, StartUpstream
from tests.router.harness import LoopThread, RouterHandle, Upstream, start_upstream, stop_upstream
from v11ops.router import RouteTable


def _only(*ups: Upstream, weights: tuple[int, ...] | None = None) -> RouteTable:
    weights = weights or (100,) + (0,) * (len(ups) - 1)
    return RouteTable(tuple(u.target(weight=w) for u, w in zip(ups, weights, strict=True)))


def _wait_in_flight(r: RouterHandle, slot: str, count: int = 1) -> None:
    client = r.client()
    for _ in range(500):
        if client.stats().slot(slot).in_flight >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"{slot} never had {count} request(s) in flight")


def test_a_request_in_flight_across_a_switch_completes(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    r = router(table=_only(blue, green))
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(httpx.get, f"{r.url}/slow?sleep=0.5", timeout=10)
        _wait_in_flight(r, "blue")
        r.client().set_routes(_only(green, blue))
        assert httpx.get(r.url).json()["name"] == "green"
        response = slow.result(10)
    assert response.status_code == 200 and response.json()["name"] == "blue"


def test_a_slow_streamed_response_across_a_switch_completes_and_drain_waits_for_it(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    r = router(table=_only(blue, green))
    with ThreadPoolExecutor(1) as pool:
        stream = pool.submit(httpx.get, f"{r.url}/stream?n=10&delay=0.1", timeout=10)
        _wait_in_flight(r, "blue")
        client = r.client()
        client.set_routes(_only(green, blue))
        assert client.stats().slot("blue").in_flight == 1
        result = client.drain("blue", timeout_s=10)
        response = stream.result(10)
    assert result.drained and result.in_flight == 0 and result.waited_s > 0
    assert result.targets == (blue.url,)
    assert response.text == "".join(f"blue:{i}\n" for i in range(10))
    assert client.stats().slot("blue").requests == 1


def test_drain_reports_requests_still_in_flight_at_the_timeout(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    r = router(table=_only(blue, green, weights=(50, 50)))
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(httpx.get, f"{r.url}/?sleep=1", timeout=10)
        _wait_in_flight(r, "blue")
        client = r.client()
        result = client.drain("blue", timeout_s=0.05)
        assert not result.drained and result.in_flight == 1
        # Draining means no new requests, even while still in the table with weight.
        assert {httpx.get(r.url).json()["name"] for _ in range(4)} == {"green"}
        assert slow.result(10).status_code == 200
    client.undrain("blue")
    assert {httpx.get(r.url).json()["name"] for _ in range(4)} == {"blue", "green"}


def test_a_keep_alive_client_moves_to_the_new_target_after_a_switch(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    r = router(table=_only(blue, green))
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    with socket.create_connection(("127.0.0.1", r.server.port), timeout=5) as sock:
        sock.sendall(request)
        first = _read_response(sock)
        r.client().set_routes(_only(green, blue))
        sock.sendall(request)
        second = _read_response(sock)
    assert b'"name":"blue"' in first
    assert b'"name":"green"' in second


def _read_response(sock: socket.socket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, body = buf.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if b"content-length" in line
    )
    while len(body) < length:
        body += sock.recv(65536)
    return body


def test_weights_are_exact_per_request(upstream: StartUpstream, router: StartRouter) -> None:
    blue, green = upstream("blue"), upstream("green")
    r = router(table=_only(blue, green, weights=(90, 10)))
    with httpx.Client(base_url=r.url) as http:
        names = [http.get("/").json()["name"] for _ in range(100)]
    assert names.count("green") == 10


def test_a_flip_back_to_a_removed_warm_target_keeps_its_counters(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    r = router(blue.target())
    client = r.client()
    httpx.get(r.url)
    client.set_routes(RouteTable((green.target(),)))
    assert httpx.get(r.url).json()["name"] == "green"
    client.set_routes(RouteTable((blue.target(),)))
    assert httpx.get(r.url).json()["name"] == "blue"
    assert client.stats().slot("blue").requests == 2


def test_zero_failed_requests_across_20_switches(
    upstream: StartUpstream, router: StartRouter
) -> None:
    blue, green = upstream("blue"), upstream("green")
    r = router(table=_only(blue, green))
    client = r.client()
    stop = threading.Event()
    deadline = time.monotonic() + 30  # bounded in time...
    max_requests = 3000  # ...and in count, per client thread
    outcomes: list[list[Any]] = [[] for _ in range(3)]

    def send(index: int) -> None:
        with httpx.Client(base_url=r.url, timeout=10) as http:
            for i in range(max_requests):
                if stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    if i % 3 == 0:
                        response = http.post("/tx", content=b'{"n": %d}' % i)
                    else:
                        response = http.get("/", params={"sleep": "0.002"} if i % 5 == 0 else {})
                    outcomes[index].append((response.status_code, response.json()["name"]))
                except httpx.HTTPError as exc:
                    outcomes[index].append((type(exc).__name__, ""))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        active, idle = blue, green
        for _ in range(20):
            time.sleep(0.03)
            active, idle = idle, active
            # Giving the drained slot weight again in a later switch makes it active again.
            client.set_routes(_only(active, idle))
            assert client.drain(idle.name, timeout_s=5).drained
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    results = [o for per_thread in outcomes for o in per_thread]
    failures = [o for o in results if o[0] != 200]
    assert results and not failures, failures[:5]
    assert {name for _, name in results} == {"blue", "green"}
    assert client.stats().switches == 21  # the initial table, then 20 switches


def test_zero_failed_requests_when_each_old_release_is_stopped_after_its_drain(
    loop: LoopThread, router: StartRouter
) -> None:
    current = loop.run(start_upstream("blue"))
    r = router(current.target(version="0"))
    client = r.client()
    stop = threading.Event()
    deadline = time.monotonic() + 30
    outcomes: list[Any] = []

    def send() -> None:
        with httpx.Client(base_url=r.url, timeout=10) as http:
            for _ in range(5000):  # bounded in count and by the deadline
                if stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    outcomes.append(http.get("/").status_code)
                except httpx.HTTPError as exc:
                    outcomes.append(type(exc).__name__)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        for release in range(1, 6):
            slot = "green" if release % 2 else "blue"
            new = loop.run(start_upstream(slot))
            client.set_routes(RouteTable((new.target(version=str(release)),)))
            assert client.drain(current.url, timeout_s=5).drained
            loop.run(stop_upstream(current))  # the old release goes away for good
            current = new
            time.sleep(0.05)
    finally:
        stop.set()
        sender.join(15)
        loop.run(stop_upstream(current))
    assert outcomes and all(o == 200 for o in outcomes), [o for o in outcomes if o != 200][:5]
