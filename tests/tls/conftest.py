from __future__ import annotations

# The router tests' loop, short temporary folder and upstream apps.
from tests.router.conftest import loop, short_dir, upstream

__all__ = ["loop", "short_dir", "upstream"]
