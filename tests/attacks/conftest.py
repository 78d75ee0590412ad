"""The router fixtures of tests/router, shared: attacks run against the same real router."""

from __future__ import annotations

from tests.router.conftest import loop, router, short_dir, upstream

__all__ = ["loop", "router", "short_dir", "upstream"]
