"""Load options at the edges the common cases do not reach: worker counts, unusable targets."""

from __future__ import annotations

import pytest

from v11ops.load import LoadSpec, LoadSpecError
from v11ops.load.spec import MAX_WORKERS

URL = "http://127.0.0.1:9003"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers": 0}, f"workers must be 1..{MAX_WORKERS}, got 0"),
        ({"workers": MAX_WORKERS + 1, "accounts": 100}, f"got {MAX_WORKERS + 1}"),
        ({"target": "http://[::1"}, "is not a URL"),
    ],
)
def test_an_unusable_worker_count_or_target_is_named(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(LoadSpecError, match=message):
        LoadSpec(**{"target": URL, "rate": 10, "duration_s": 1, **options})  # type: ignore[arg-type]
