"""How the load generator classifies what went wrong with a request (pure functions)."""

from __future__ import annotations

import pytest

from v11ops.load import tally as kinds
from v11ops.load.driver import _hashes, _transport_error
from v11ops.load.http import ConnectFailed, Disconnected, TimedOut, TransportError


@pytest.mark.parametrize(
    ("error", "kind", "reusable"),
    [
        (ConnectFailed("refused"), kinds.CONNECT, True),
        (TimedOut("no answer"), kinds.TIMEOUT, False),
        (Disconnected("closed"), kinds.DISCONNECTED, False),
        (TransportError("anything else"), kinds.OTHER, False),
    ],
)
def test_an_account_is_reused_only_when_its_request_surely_never_arrived(
    error: TransportError, kind: str, reusable: bool
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
