"""A release resolved for one slot and port: the exact argv, env and workdir to run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ResolvedRelease:
    """Everything a runtime needs to start one instance of a release, placeholders filled in.

    `env` is the configured overlay only (service.env, then the release's env, secrets resolved);
    a runtime adds it on top of its own environment. It is kept out of `repr` because it may hold
    resolved secrets.
    """

    service: str
    version: str
    slot: str
    port: int
    host: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    workdir: Path
    live_path: str
    ready_path: str
    start_timeout_s: float
    drain_timeout_s: float
    # The definition as written (templates unrendered, references unresolved): what the
    # fingerprint covers. Port and slot are placeholders in it, so they do not change it.
    definition: Mapping[str, Any] = field(repr=False)

    @property
    def base_url(self) -> str:
        """Where the router, the gates and the hooks reach this instance."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def fingerprint(self) -> str:
        """sha256 of the release definition (not of slot, port or resolved secrets).

        The controller records it on the first deploy of a version and refuses a later deploy of
        the same version with another fingerprint: a release is immutable once deployed.
        """
        canonical = json.dumps(self.definition, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
