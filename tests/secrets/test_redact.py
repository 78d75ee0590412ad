"""v11node.redact: what is replaced, and what is left alone."""

from __future__ import annotations

import logging
import sys

import pytest

from v11node.redact import (
    REDACTED,
    RedactingFilter,
    forget_secrets,
    redact,
    redact_event,
    register_secret,
)


@pytest.fixture(autouse=True)
def _forget() -> None:
    forget_secrets()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {REDACTED}"),
        ("authorization=Basic dXNlcjpwYXNz", f"authorization=Basic {REDACTED}"),
        ("{'x-api-key': 'k3y-val', 'accept': '*/*'}",
         f"{{'x-api-key': '{REDACTED}', 'accept': '*/*'}}"),
        ('"X-Admin-Key": "adm1n"', f'"X-Admin-Key": "{REDACTED}"'),
        ("GET /h?token=abc&page=2&api_key=zz",
         f"GET /h?token={REDACTED}&page=2&api_key={REDACTED}"),
        ("/x?X-Amz-Signature=ff00", f"/x?X-Amz-Signature={REDACTED}"),
        ("postgresql://u:pw123@db:5432/x", f"postgresql://u:{REDACTED}@db:5432/x"),
        ("v11_0123456789ab_ABCDEFGHIJKLMNOPQRSTUV", f"v11_0123456789ab_{REDACTED}"),
        ("sent with bearer eyJhbGciOi.x.y", f"sent with bearer {REDACTED}"),
        ("bearer abcdefghijklmnopqrstuvwx", f"bearer {REDACTED}"),
    ],
)  # fmt: skip
def test_credential_shapes_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "v11_node_transactions_total 42",  # a metric name, not a token
        "https://hooks.example/generic?page=2",
        "postgresql://v11@db/v11?sslmode=require",
        "the key rotation finished",
        "X-Request-Id: 9f1c",
        "refused a request without a valid bearer token",
        "Basic authentication is off",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_registered_values_are_redacted_longest_first_and_short_ones_ignored() -> None:
    register_secret("abcdef", "abcdefghij", "abc", None, "")
    assert redact("x abcdefghij y abcdef z abc") == f"x {REDACTED} y {REDACTED} z abc"


def test_a_registered_value_inside_a_bearer_header_leaves_one_marker() -> None:
    register_secret("hunter2hunter2")
    assert redact("Authorization: Bearer hunter2hunter2") == f"Authorization: Bearer {REDACTED}"


def test_the_structlog_processor_redacts_fields_by_name_and_by_content() -> None:
    register_secret("s3cret-value")
    event = {
        "event": "call s3cret-value",
        "password": "anything",
        "token_count": 3,
        "headers": {"Authorization": "x", "Accept": "json"},
        "urls": ["http://h/?key=k1", "http://h/"],
        "error": ValueError("bad s3cret-value"),
    }
    assert redact_event(None, "info", event) == {
        "event": f"call {REDACTED}",
        "password": REDACTED,
        "token_count": 3,
        "headers": {"Authorization": REDACTED, "Accept": "json"},
        "urls": [f"http://h/?key={REDACTED}", "http://h/"],
        "error": f"bad {REDACTED}",
    }


def test_the_logging_filter_redacts_arguments_and_the_traceback() -> None:
    register_secret("s3cret-value")
    try:
        raise RuntimeError("boom s3cret-value")
    except RuntimeError:
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "got %s", ("s3cret-value",),
            exc_info=sys.exc_info(),
        )  # fmt: skip
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "s3cret-value" not in formatted
    assert f"got {REDACTED}" in formatted and f"RuntimeError: boom {REDACTED}" in formatted
