"""The backup key: 256 bits given as 64 hex characters, read through a secret reference
(`env:NAME` or `file:PATH`, as every secret in v11ops.yaml).

Encryption fails closed: a command that needs the key and has none refuses, it never falls back
to plaintext. Sub-keys are derived with HKDF-SHA256 (one per archive file, one for manifest
MACs), and the key id, an HMAC of a constant, tells a wrong key from a corrupted file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from v11ops.backup.errors import BackupUsageError
from v11ops.config import ConfigError, resolve_reference

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
    if not _HEX_KEY.fullmatch(value):
        raise BackupUsageError(
            f"{source}: expected 64 hex characters (a 256-bit key), got {len(value)} characters"
            f" that are not all hex; {MAKE_KEY_HINT}"
        )
    return BackupKey(bytes.fromhex(value), source)


def load_key(source: Path | str | None, base_dir: Path | None = None) -> BackupKey | None:
    """The key, always through a secret reference (v11ops.config): a Path (`--key-file`) is
    file:PATH, a string is `backup.key` (env:NAME or file:PATH, relative to `base_dir`), None
    is env:V11OPS_BACKUP_KEY when that variable is set, else no key."""
    if source is None:
        if not os.environ.get(KEY_ENV):
            return None
        source = f"env:{KEY_ENV}"
    reference = f"file:{source}" if isinstance(source, Path) else source
    try:
        text = resolve_reference(reference, base_dir or Path.cwd(), "backup key")
    except ConfigError as exc:
        raise BackupUsageError(str(exc)) from None
    return parse_key(text, reference)


def require_key(key: BackupKey | None, why: str) -> BackupKey:
    """Fail closed: `why` says what needs the key."""
    if key is None:
        raise BackupUsageError(
            f"{why}, but no key was given: pass --key-file FILE or set {KEY_ENV}"
            f" (64 hex characters); {MAKE_KEY_HINT}"
        )
    return key
