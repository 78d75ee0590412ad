"""API and admin keys, stored as hashes.

A key is 32 random bytes (`secrets.token_urlsafe`) behind a prefix that says what it is (`v11k_`
for API keys, `v11a_` for admin keys, so secret scanners and people can tell them apart). The node
only ever holds SHA-256 digests of keys, read from a key file of lines `name:sha256:<64 hex>`.

Why SHA-256 and not scrypt/argon2: a slow hash protects low-entropy secrets (passwords) against
guessing from a stolen hash file. A 256-bit random key cannot be guessed, so a fast preimage-
resistant hash gives the same protection (GitHub and Stripe hash their tokens the same way), and
it costs about a microsecond per request instead of tens of milliseconds, which would both cap
the node's throughput and hand any client a cheap way to burn its CPU.

A presented key is hashed, the candidates are found by the first 8 bytes of its digest (a dict
lookup whose timing depends only on the digest of what the client sent, which says nothing about
any stored key), and the full digest is compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

API_KEY_PREFIX = "v11k_"
ADMIN_KEY_PREFIX = "v11a_"
SCHEME = "sha256"
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_PREFIX = 8  # bytes of the digest that index the candidates


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file and line."""


def is_valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def new_key(admin: bool = False) -> str:
    return (ADMIN_KEY_PREFIX if admin else API_KEY_PREFIX) + secrets.token_urlsafe(32)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def hash_line(name: str, key: str) -> str:
    """The key file line for `key`: `name:sha256:<hex>`."""
    return f"{name}:{SCHEME}:{_digest(key).hex()}"


@dataclass(frozen=True)
class KeyRing:
    """Named key digests. Holds no key, so printing settings or a crash dump shows none."""

    digests: tuple[tuple[str, bytes], ...] = ()
    _by_prefix: dict[bytes, list[tuple[str, bytes]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_prefix: dict[bytes, list[tuple[str, bytes]]] = {}
        for name, digest in self.digests:
            by_prefix.setdefault(digest[:_PREFIX], []).append((name, digest))
        object.__setattr__(self, "_by_prefix", by_prefix)

    def __bool__(self) -> bool:
        return bool(self.digests)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.digests)

    def match(self, presented: str | None) -> str | None:
        """The name of the key presented, or None."""
        if not presented:
            return None
        digest = _digest(presented)
        found = None
        for name, stored in self._by_prefix.get(digest[:_PREFIX], ()):
            if hmac.compare_digest(stored, digest):
                found = name
        return found

    @classmethod
    def from_plain(cls, keys: tuple[str, ...], name: str) -> KeyRing:
        """For the deprecated V11_API_KEYS / V11_ADMIN_KEY variables: hash at once, keep no key."""
        return cls(tuple((f"{name}-{i + 1}", _digest(k)) for i, k in enumerate(keys)))


def load_key_file(path: Path) -> KeyRing:
    """Read `name:sha256:<hex>` lines; blank lines and `#` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read the key file: {exc}") from exc
    entries: list[tuple[str, bytes]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            entries.append(_parse_line(line, f"{path}:{number}"))
    names = [name for name, _ in entries]
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise KeyFileError(f"{path}: key names must be unique; repeated: {', '.join(repeated)}")
    if not entries:
        raise KeyFileError(f"{path}: no keys (expected lines name:{SCHEME}:<64 hex>)")
    return KeyRing(tuple(entries))


def _parse_line(line: str, where: str) -> tuple[str, bytes]:
    if line.startswith((API_KEY_PREFIX, ADMIN_KEY_PREFIX)):
        # Never echo the line: it is a key.
        raise KeyFileError(
            f"{where}: this is a key, not a key hash; put the line from `v11ops node key create`"
        )
    name, _, rest = line.partition(":")
    scheme, _, digest = rest.partition(":")
    if not _NAME.match(name):
        raise KeyFileError(f"{where}: expected name:{SCHEME}:<64 hex>; the name is missing or bad")
    if scheme != SCHEME:
        raise KeyFileError(f"{where}: key {name!r}: unknown hash scheme; expected {SCHEME}")
    if not _DIGEST.match(digest):
        raise KeyFileError(f"{where}: key {name!r}: expected 64 lowercase hex digits")
    return name, bytes.fromhex(digest)
