"""How gates read expected JSON fields and describe HTTP failures (pure functions)."""

from __future__ import annotations

import httpx
import pytest

from v11ops.gates._http import describe_failure, excerpt
from v11ops.gates._json_match import MISSING, json_equal, lookup, substitute

DOCUMENT = {"status": "UP", "checks": [{"name": "db"}, {"name": "producer"}], "n": 0}


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("status", "UP"),
        ("checks.0.name", "db"),
        ("checks.-1.name", "producer"),
        ("checks.2.name", MISSING),
        ("checks.-3", MISSING),
        ("checks.first", MISSING),
        ("status.deeper", MISSING),
        ("absent", MISSING),
        ("n", 0),
    ],
)
def test_lookup_follows_keys_and_list_indexes(path: str, found: object) -> None:
    assert lookup(DOCUMENT, path) == found


def test_version_placeholders_are_replaced_at_any_depth() -> None:
    expected = {"release": "{version}", "tags": ["v{version}", 3], "ok": True, "n": None}
    assert substitute(expected, "1.2.0") == {
        "release": "1.2.0",
        "tags": ["v1.2.0", 3],
        "ok": True,
        "n": None,
    }


@pytest.mark.parametrize(
    ("observed", "expected", "equal"),
    [
        (True, 1, False),
        (1, True, False),
        (False, False, True),
        (1, 1.0, True),
        ({"a": [1, True]}, {"a": [1.0, True]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ({"a": True}, {"a": 1}, False),
        ([1, 2], [1, 2, 3], False),
        ([1, 2], [2, 1], False),
        ("UP", "UP", True),
        (None, "UP", False),
    ],
)
def test_json_equality_never_mixes_booleans_and_numbers(
    observed: object, expected: object, equal: bool
) -> None:
    assert json_equal(observed, expected) is equal


def test_a_refused_connection_is_named_as_such_through_the_wrapping() -> None:
    refused = httpx.ConnectError("All connection attempts failed")
    refused.__context__ = OSError("connect call failed")
    refused.__context__.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert describe_failure(refused) == "connection refused"


def test_other_failures_keep_their_reason() -> None:
    unreachable = httpx.ConnectError("Name or service not known")
    assert describe_failure(unreachable) == "cannot connect: Name or service not known"
    assert describe_failure(httpx.ReadTimeout("slow")) == "timed out"
    assert describe_failure(httpx.RemoteProtocolError("bad frame")) == (
        "RemoteProtocolError: bad frame"
    )
    assert describe_failure(httpx.RemoteProtocolError("")) == "RemoteProtocolError"


def test_an_excerpt_is_one_line_and_bounded() -> None:
    assert excerpt("a\n  b\tc") == "a b c"
    long = excerpt("x" * 500, limit=20)
    assert long == "x" * 17 + "..." and len(long) == 20
