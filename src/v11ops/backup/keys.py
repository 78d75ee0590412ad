"""The backup key: 256 bits given as 64 hex characters, from a file or an environment variable.

Encryption fails closed: a command that needs the key and has none refuses, it never falls back
to plaintext. Sub-keys are derived with HKDF-SHA256 (one per archive file, one for manifest
MACs), and the key id, an HMAC of a constant, tells a wrong key from a corrupted file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from v11ops.backup.errors import BackupUsageError

KEY_ENV = "V11OPS_BACKUP_KEY"
_HEX_KEY = re.compile(r"^[0-9a-fA-F]{64}$")
MAKE_KEY_HINT = "make one with `openssl rand -hex 32 > backup.key && chmod 600 backup.key`"


@dataclass(frozen=True)
class BackupKey:
    raw: bytes = field(repr=False)
    source: str

    @property
    def key_id(self) -> str:
        """Names the key in manifests without revealing it."""
        return hmac.new(self.raw, b"v11ops-backup key id", hashlib.sha256).hexdigest()[:16]

    def derive(self, purpose: bytes, salt: bytes | None = None) -> bytes:
        return HKDF(hashes.SHA256(), 32, salt, b"v11ops-backup/1 " + purpose).derive(self.raw)


def parse_key(text: str, source: str) -> BackupKey:
    value = text.strip()
    if not _HEX_KEY.match(value):
        raise BackupUsageError(
            f"{source}: expected 64 hex characters (a 256-bit key), got {len(value)} characters"
            f" that are not all hex; {MAKE_KEY_HINT}"
        )
    return BackupKey(bytes.fromhex(value), source)


def load_key(key_file: Path | None, env: Mapping[str, str] | None = None) -> BackupKey | None:
    """The key from `key_file`, else from $V11OPS_BACKUP_KEY, else None."""
    if key_file is not None:
        try:
            text = key_file.read_text()
        except OSError as exc:
            raise BackupUsageError(f"key file {key_file}: {exc.strerror or exc}") from None
        return parse_key(text, f"key file {key_file}")
    value = (os.environ if env is None else env).get(KEY_ENV)
    return parse_key(value, KEY_ENV) if value else None


def require_key(key: BackupKey | None, why: str) -> BackupKey:
    """Fail closed: `why` says what needs the key."""
    if key is None:
        raise BackupUsageError(
            f"{why}, but no key was given: pass --key-file FILE or set {KEY_ENV}"
            f" (64 hex characters); {MAKE_KEY_HINT}"
        )
    return key
