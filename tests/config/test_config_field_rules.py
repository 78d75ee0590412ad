"""Field rules of v11ops.yaml that only some files reach: nginx include mode, secret references
in release env, values shown in a message (shortened, or as Python shows them when not JSON).
Each is one line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config.test_config_file import MINIMAL, error_of


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "router:\n  kind: nginx\n  nginx:\n    mode: include\n",
            "router.nginx: mode include needs include_path (the file your nginx includes)",
        ),
        (
            'releases:\n  "1.0.0":\n    env: {API_KEY: "env:"}\n',
            "releases.1.0.0.env.API_KEY: env: reference needs a variable name, e.g. "
            "env:V11_API_KEY",
        ),
        (
            'releases:\n  "1.0.0":\n    env: {API_KEY: "file:"}\n',
            "releases.1.0.0.env.API_KEY: file: reference needs a path, e.g. file:secrets/api-key",
        ),
        (
            "state_dir: 2026-01-31\n",
            "state_dir: expected a string, got datetime.date(2026, 1, 31)",
        ),
        (
            f"state_dir: {'9' * 50}\n",
            f"state_dir: expected a string, got {'9' * 37}...",
        ),
    ],
)
def test_a_rule_across_fields_names_the_field(tmp_path: Path, extra: str, message: str) -> None:
    text = MINIMAL.replace('releases:\n  "1.0.0": {}\n', "") + extra
    if "releases:" not in extra:
        text += 'releases:\n  "1.0.0": {}\n'
    assert error_of(tmp_path, text) == message
