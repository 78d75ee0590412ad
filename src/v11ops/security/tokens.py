"""API tokens of the control plane: roles, creation, hashed storage, expiry, revocation.

A token reads `v11_<id>_<secret>`. The id is public (it names the token in `token list` and in
the audit log) and selects the row; the secret is stored only as an scrypt hash with a per-token
salt and compared in constant time. After one successful scrypt check a process remembers a
SHA-256 of the secret in memory, so a CLI polling the status does not pay scrypt on every call;
revocation and expiry are still read from the database on every request.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from v11ops.security.db import connect

PREFIX = "v11"
_TOKEN = re.compile(rf"^{PREFIX}_(?P<id>[0-9a-f]{{12}})_(?P<secret>[A-Za-z0-9_-]{{20,100}})$")
_ANY_TOKEN = re.compile(rf"\b{PREFIX}_(?P<id>[0-9a-f]{{12}})_[A-Za-z0-9_-]+")
_DURATION = re.compile(r"^(?P<count>[1-9][0-9]{0,5})(?P<unit>[smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# scrypt at the "interactive" cost: ~16 MiB and tens of ms per check.
_SELECT_ONE = "SELECT id, role, name, created_at, expires_at, revoked_at FROM tokens WHERE id = ?"
_SELECT_ALL = "SELECT id, role, name, created_at, expires_at, revoked_at FROM tokens ORDER BY rowid"
_NO_SALT = bytes(16)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class Role(enum.StrEnum):
    """Each role includes the rights of the ones before it."""

    viewer = "viewer"
    deployer = "deployer"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class Unauthorized(Exception):
    """No valid token: missing, malformed, unknown, wrong, expired or revoked."""


@dataclass(frozen=True)
class TokenInfo:
    id: str
    role: Role
    name: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    def state(self, now: float | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or time.time()):
            return "expired"
        return "active"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "role": self.role.value, "state": self.state()}


def parse_duration(text: str) -> float:
    """`30d`, `12h`, `90m`, `2w`, `45s` in seconds; a ValueError says what is expected."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(
            f"expected a whole number and a unit s, m, h, d or w (e.g. 30d), got {text!r}"
        )
    return float(int(match["count"]) * _UNIT_S[match["unit"]])


def redact(text: str) -> str:
    """`text` with the secret of every token in it replaced; the id stays, to say which."""
    return _ANY_TOKEN.sub(lambda m: f"{PREFIX}_{m['id']}_[redacted]", text)


def token_id_of(token: str) -> str | None:
    """The id part of a well-formed token, else None."""
    match = _TOKEN.match(token)
    return match["id"] if match else None


def _scrypt(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


class TokenStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path)
        self._lock = threading.Lock()
        self._verified: dict[str, bytes] = {}  # id -> sha256(secret), after a scrypt check

    def close(self) -> None:
        self._conn.close()

    def is_empty(self) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM tokens LIMIT 1").fetchone() is None

    def create(
        self,
        role: Role,
        name: str,
        expires_in_s: float | None = None,
        before_commit: Callable[[str], None] | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new token; the returned string is the only time its secret exists in clear.

        `before_commit(token)` runs before the token is stored: a token that must be saved
        somewhere (admin.token) is never valid without having been saved.
        """
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        salt, now = secrets.token_bytes(16), time.time()
        expires_at = None if expires_in_s is None else now + expires_in_s
        token = f"{PREFIX}_{token_id}_{secret}"
        if before_commit is not None:
            before_commit(token)
        with self._lock:
            self._conn.execute(
                "INSERT INTO tokens (id, role, name, salt, hash, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_id, role.value, name, salt, _scrypt(secret, salt), now, expires_at),
            )
        return TokenInfo(token_id, role, name, now, expires_at, None), token

    def get(self, token_id: str) -> TokenInfo | None:
        with self._lock:
            row = self._conn.execute(_SELECT_ONE, (token_id,)).fetchone()
        return None if row is None else TokenInfo(row[0], Role(row[1]), *row[2:])

    def all(self) -> list[TokenInfo]:
        with self._lock:
            rows = self._conn.execute(_SELECT_ALL).fetchall()
        return [TokenInfo(r[0], Role(r[1]), *r[2:]) for r in rows]

    def revoke(self, token_id: str) -> TokenInfo | None:
        """Revoke a token (again is a no-op); None when no token has that id."""
        with self._lock:
            self._conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), token_id),
            )
            self._verified.pop(token_id, None)
        return self.get(token_id)

    def authenticate(self, token: str) -> TokenInfo:
        """The token's record when it is valid now; Unauthorized says why not."""
        match = _TOKEN.match(token)
        if match is None:
            raise Unauthorized("malformed token")
        token_id, secret = match["id"], match["secret"]
        with self._lock:
            row = self._conn.execute(
                "SELECT salt, hash FROM tokens WHERE id = ?", (token_id,)
            ).fetchone()
        if row is None:
            _scrypt(secret, _NO_SALT)  # as slow as a wrong secret: timing does not tell ids apart
            raise Unauthorized("invalid token")
        if not self._secret_matches(token_id, secret, row[0], row[1]):
            raise Unauthorized("invalid token")
        info = self.get(token_id)
        assert info is not None
        state = info.state()
        if state != "active":
            raise Unauthorized(f"token {token_id} is {state}")
        return info

    def _secret_matches(self, token_id: str, secret: str, salt: bytes, stored: bytes) -> bool:
        digest = hashlib.sha256(secret.encode()).digest()
        known = self._verified.get(token_id)
        if known is not None:
            return hmac.compare_digest(known, digest)
        if not hmac.compare_digest(_scrypt(secret, salt), stored):
            return False
        self._verified[token_id] = digest
        return True
