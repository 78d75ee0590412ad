"""`gates:` the smoke checks run against a new slot before it gets traffic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, JsonValue, Tag

from v11ops.config._base import Model
from v11ops.config._secrets import SECRET

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class HttpCheck(Model):
    """One HTTP request with the expected status and JSON fields (dotted paths)."""

    name: str = Field(min_length=1)
    kind: Literal["http"] = "http"
    method: HttpMethod = "GET"
    path: str = Field(pattern=r"^/", description="request path; {version} allowed")
    headers: Annotated[dict[str, str], SECRET] = Field(
        default_factory=dict, description="values may be env:NAME or file:PATH references"
    )
    body: JsonValue = Field(default=None, description="JSON request body")
    expect_status: int = Field(default=200, ge=100, le=599)
    expect_json: dict[str, JsonValue] = Field(
        default_factory=dict,
        description='{"dotted.path": expected value}; strings may use {version}',
    )
    timeout_s: float = Field(default=5.0, gt=0)


class SignedTransactionCheck(Model):
    """Sign one transaction with a development key and expect the node to accept it (202)."""

    name: str = Field(min_length=1)
    kind: Literal["signed_transaction"]
    path: str = Field(default="/api/v11/transactions", pattern=r"^/")
    headers: Annotated[dict[str, str], SECRET] = Field(
        default_factory=dict, description="values may be env:NAME or file:PATH references"
    )
    sender_index: int = Field(
        default=9999, ge=0, description="development account reserved for smoke checks"
    )
    recipient_index: int = Field(default=0, ge=0)
    amount: int = Field(default=1, gt=0)
    expect_status: int = Field(default=202, ge=100, le=599)
    timeout_s: float = Field(default=5.0, gt=0)


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("kind", "http")
        return kind if isinstance(kind, str) else None
    return getattr(value, "kind", None)


SmokeCheck = Annotated[
    Annotated[HttpCheck, Tag("http")]
    | Annotated[SignedTransactionCheck, Tag("signed_transaction")],
    Discriminator(_kind),
]
SMOKE_TAGS = frozenset({"http", "signed_transaction"})


class Gates(Model):
    """Gates configured by the user (readiness lives in strategy, it is not optional)."""

    smoke: list[SmokeCheck] = Field(default_factory=list)
