"""Where a client finds its token, and how a token file is written.

In order: the environment variable V11OPS_TOKEN, the file named by V11OPS_TOKEN_FILE, then the
state folder's admin.token, written by the controller when it starts with no token at all (like a
kubeconfig: owner-only, so whoever may read the state folder is the admin). No command-line
option: a token in argv is visible to every user in `ps`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from v11ops.security.tokens import Role, TokenStore

# Names of variables and files, not secrets.
TOKEN_ENV = "V11OPS_TOKEN"  # noqa: S105
TOKEN_FILE_ENV = "V11OPS_TOKEN_FILE"  # noqa: S105
ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105


class TokenFileError(RuntimeError):
    """V11OPS_TOKEN_FILE names a file that cannot be read or holds no token."""


@dataclass(frozen=True)
class Credential:
    token: str | None
    source: str  # where it came from, for error messages (never the token itself)


def resolve_token(state_dir: Path) -> Credential:
    """The token a client of the controller of `state_dir` should send."""
    env_token = os.environ.get(TOKEN_ENV, "").strip()
    if env_token:
        return Credential(env_token, TOKEN_ENV)
    named = os.environ.get(TOKEN_FILE_ENV, "").strip()
    if named:
        try:
            token = Path(named).read_text().strip()
        except OSError as exc:
            raise TokenFileError(f"{TOKEN_FILE_ENV}={named}: {exc.strerror}") from None
        if not token:
            raise TokenFileError(f"{TOKEN_FILE_ENV}={named}: the file is empty")
        return Credential(token, f"{TOKEN_FILE_ENV}={named}")
    default = state_dir / ADMIN_TOKEN_FILE
    with contextlib.suppress(OSError):
        token = default.read_text().strip()
        if token:
            return Credential(token, str(default))
    return Credential(
        None, f"no token: set {TOKEN_ENV} or {TOKEN_FILE_ENV}, or run as the owner of {default}"
    )


def write_token_file(path: Path, token: str) -> None:
    """Write `token` to `path`, owner-only (0600) from the first byte, replaced atomically."""
    from v11ops.config import write_text_atomically  # here: the client imports this module

    write_text_atomically(path, token + "\n")  # mkstemp creates the file 0600


def bootstrap_admin_token(store: TokenStore, state_dir: Path) -> str | None:
    """On a state folder with no token yet: create an admin token into admin.token; its id."""
    if not store.is_empty():
        return None
    path = state_dir / ADMIN_TOKEN_FILE
    info, _ = store.create(
        Role.admin,
        "bootstrap-admin",
        before_commit=lambda t: write_token_file(path, t),
    )
    return info.id
