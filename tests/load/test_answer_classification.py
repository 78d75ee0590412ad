"""How the load generator classifies what went wrong with a request (pure functions)."""

from __future__ import annotations

import httpx
import pytest

from v11ops.load import tally as kinds
from v11ops.load.driver import _hashes, _transport_error

REQUEST = httpx.Request("POST", "http://127.0.0.1:1/api/v11/transactions")


@pytest.mark.parametrize(
    ("error", "kind", "reusable"),
    [
        (httpx.ConnectError("refused", request=REQUEST), kinds.CONNECT, True),
        (httpx.ConnectTimeout("slow connect", request=REQUEST), kinds.CONNECT, True),
        (httpx.PoolTimeout("no free connection", request=REQUEST), kinds.CLIENT_SATURATED, True),
        (httpx.ReadTimeout("no answer", request=REQUEST), kinds.TIMEOUT, False),
        (httpx.RemoteProtocolError("closed", request=REQUEST), kinds.DISCONNECTED, False),
        (httpx.ReadError("reset", request=REQUEST), kinds.DISCONNECTED, False),
        (httpx.TooManyRedirects("loop", request=REQUEST), kinds.OTHER, False),
    ],
)
def test_an_account_is_reused_only_when_its_request_surely_never_arrived(
    error: httpx.HTTPError, kind: str, reusable: bool
) -> None:
    assert _transport_error(error) == (kind, reusable)


@pytest.mark.parametrize(
    ("body", "hashes"),
    [
        (b'{"count": 2, "hashes": ["ab", "cd"]}', ["ab", "cd"]),
        (b'{"hashes": []}', []),
        (b"<html>accepted</html>", None),
        (b'["ab"]', None),
        (b'{"count": 1}', None),
        (b'{"hashes": "ab"}', None),
        (b'{"hashes": ["ab", 7]}', None),
    ],
)
def test_a_202_counts_as_accepted_only_with_a_list_of_hashes(
    body: bytes, hashes: list[str] | None
) -> None:
    assert _hashes(body) == hashes
