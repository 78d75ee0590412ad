"""Tokens: format, hashed storage, expiry, revocation, duration parsing, redaction."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from v11ops.security.credentials import (
    ADMIN_TOKEN_FILE,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    TokenFileError,
    bootstrap_admin_token,
    resolve_token,
)
from v11ops.security.tokens import Role, TokenStore, Unauthorized, parse_duration, redact


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "access.db")


def test_a_token_carries_its_id_and_works(store: TokenStore) -> None:
    info, token = store.create(Role.deployer, "ci")
    assert token.startswith(f"v11_{info.id}_") and len(token) > 50
    assert store.authenticate(token) == info
    assert store.authenticate(token).role == Role.deployer  # the second check hits the cache


def test_only_a_salted_scrypt_hash_is_stored(store: TokenStore, tmp_path: Path) -> None:
    _, token = store.create(Role.admin, "a")
    _, _twin = store.create(Role.admin, "b")
    secret = token.rsplit("_", 1)[-1].encode()
    raw = (tmp_path / "access.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("access.db-*")
    )
    assert secret not in raw and token.encode() not in raw
    salts = sqlite3.connect(tmp_path / "access.db").execute("SELECT salt FROM tokens").fetchall()
    assert len({s for (s,) in salts}) == 2 and all(len(s) == 16 for (s,) in salts)


@pytest.mark.parametrize(
    ("presented", "reason"),
    [("", "malformed"), ("v11_zz_abc", "malformed"), ("Bearer v11_", "malformed")],
)
def test_malformed_tokens_are_refused(store: TokenStore, presented: str, reason: str) -> None:
    with pytest.raises(Unauthorized, match=reason):
        store.authenticate(presented)


def test_a_wrong_secret_or_unknown_id_is_refused(store: TokenStore) -> None:
    info, token = store.create(Role.viewer, "v")
    store.authenticate(token)  # cached now: the cache must not accept a wrong secret either
    with pytest.raises(Unauthorized, match="invalid token"):
        store.authenticate(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    with pytest.raises(Unauthorized, match="invalid token"):
        store.authenticate(token.replace(info.id, "0" * 12))


def test_an_expired_token_is_refused(store: TokenStore) -> None:
    info, token = store.create(Role.admin, "short", expires_in_s=1e-6)
    with pytest.raises(Unauthorized, match=f"token {info.id} is expired"):
        store.authenticate(token)
    assert store.get(info.id).state() == "expired"  # type: ignore[union-attr]


def test_a_revoked_token_is_refused_at_once(store: TokenStore) -> None:
    info, token = store.create(Role.admin, "gone")
    store.authenticate(token)
    assert store.revoke(info.id).state() == "revoked"  # type: ignore[union-attr]
    with pytest.raises(Unauthorized, match="revoked"):
        store.authenticate(token)
    assert store.revoke("0" * 12) is None


@pytest.mark.parametrize(("text", "seconds"), [("45s", 45), ("90m", 5400), ("12h", 43200),
                                               ("30d", 2592000), ("2w", 1209600)])  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "0d", "-1d", "1.5d", "30 days", "1y"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="whole number and a unit s, m, h, d or w"):
        parse_duration(text)


def test_redact_keeps_the_id_and_drops_the_secret(store: TokenStore) -> None:
    info, token = store.create(Role.viewer, "r")
    assert redact(f"curl -H 'Authorization: Bearer {token}'") == (
        f"curl -H 'Authorization: Bearer v11_{info.id}_[redacted]'"
    )


def test_bootstrap_writes_an_owner_only_admin_token_once(store: TokenStore, tmp_path: Path) -> None:
    token_id = bootstrap_admin_token(store, tmp_path)
    path = tmp_path / ADMIN_TOKEN_FILE
    assert token_id is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.authenticate(path.read_text().strip()).role == Role.admin
    assert bootstrap_admin_token(store, tmp_path) is None, "not again while tokens exist"


def test_the_client_finds_its_token_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)
    assert resolve_token(tmp_path).token is None
    (tmp_path / ADMIN_TOKEN_FILE).write_text("from-state-dir\n")
    assert resolve_token(tmp_path).token == "from-state-dir"
    named = tmp_path / "mine.token"
    named.write_text("from-file\n")
    monkeypatch.setenv(TOKEN_FILE_ENV, str(named))
    assert resolve_token(tmp_path).token == "from-file"
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert resolve_token(tmp_path).token == "from-env"
    monkeypatch.delenv(TOKEN_ENV)
    monkeypatch.setenv(TOKEN_FILE_ENV, str(tmp_path / "missing"))
    with pytest.raises(TokenFileError, match="No such file"):
        resolve_token(tmp_path)
