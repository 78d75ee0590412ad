"""Secrets in v11ops.yaml: references resolved when the file is loaded, plaintext secrets warned
about by `config validate`, the backup key read the same way as every other secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from v11node.redact import REDACTED, forget_secrets, redact
from v11ops.backup.errors import BackupUsageError
from v11ops.backup.keys import KEY_ENV, load_key
from v11ops.backup.settings import resolve
from v11ops.cli.main import app
from v11ops.config import ConfigError, load_config
from v11ops.config._secrets import looks_like_plaintext_secret

runner = CliRunner()
HEAD = "service: {name: s, command: [x]}\nreleases: {1.0.0: {}}\n"
KEY = "ab" * 32


@pytest.fixture(autouse=True)
def _forget() -> None:
    forget_secrets()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "v11ops.yaml"
    path.write_text(HEAD + text)
    return path


@pytest.mark.parametrize(
    ("section", "path", "reference"),
    [
        ("gates: {smoke: [{name: k, path: /, headers: {X-Api-Key: 'env:V11_T_ABSENT'}}]}",
         "gates.smoke[0].headers.X-Api-Key", "env:V11_T_ABSENT"),
        ("hooks: {pre_switch: [{name: h, url: '{old}/y', headers: {Authorization: file:nope}}]}",
         "hooks.pre_switch[0].headers.Authorization", "file:nope"),
        ("hooks: {pre_deploy: [{name: c, kind: command, command: [x], env: {PW: file:nope}}]}",
         "hooks.pre_deploy[0].env.PW", "file:nope"),
        ("monitoring: {webhook: {token: env:V11_T_ABSENT}}",
         "monitoring.webhook.token", "env:V11_T_ABSENT"),
        ("backup: {key: file:nope}", "backup.key", "file:nope"),
    ],
)  # fmt: skip
def test_every_secret_field_is_resolved_at_load_and_a_failure_names_field_and_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, path: str, reference: str
) -> None:
    monkeypatch.delenv("V11_T_ABSENT", raising=False)
    config_file = write(tmp_path, section + "\n")
    with pytest.raises(ConfigError) as error:
        load_config(config_file)
    message = str(error.value)
    assert message.startswith(f"{config_file}: {path}: {reference}: ")
    assert "\n" not in message and error.value.path == path


def test_commands_that_only_call_the_controller_load_without_reading_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("V11_T_ABSENT", raising=False)
    config_file = write(tmp_path, "monitoring: {webhook: {token: env:V11_T_ABSENT}}\n")
    config = load_config(config_file, secrets=False)
    assert config.monitoring.webhook.token == "env:V11_T_ABSENT"  # the reference, unresolved
    bad = write(tmp_path, "monitoring: {webhook: {token: 'env:'}}\n")
    with pytest.raises(ConfigError, match="env: reference needs a variable name"):
        load_config(bad, secrets=False)  # a malformed reference is still an error


def test_resolved_and_plaintext_secrets_are_registered_for_redaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("V11_T_TOKEN", "from-the-environment-1")
    (tmp_path / "pw").write_text("from-a-file-22\n")
    load_config(write(tmp_path, (
        "notifications: {webhooks: [{name: a, url: 'https://h.example/services/T/B/plain-url-333'}]}\n"
        "gates: {smoke: [{name: k, path: /, headers: {X-Api-Key: env:V11_T_TOKEN,"
        " X-Admin-Key: plain-admin-4444, X-Other: file:pw}}]}\n"
    )))  # fmt: skip
    line = (
        "from-the-environment-1 from-a-file-22 plain-admin-4444"
        " https://h.example/services/T/B/plain-url-333 lives-on"
    )
    assert redact(line) == " ".join([REDACTED] * 4) + " lives-on"


def test_a_reference_is_read_again_when_used_so_a_rotated_secret_applies(
    tmp_path: Path,
) -> None:
    (tmp_path / "token").write_text("first-token-value\n")
    config = load_config(write(tmp_path, "monitoring: {webhook: {token: file:token}}\n"))
    from v11ops.monitoring.stack import listener_token

    assert listener_token(config) == "first-token-value"
    (tmp_path / "token").write_text("rotated-token-value\n")
    assert listener_token(config) == "rotated-token-value"


@pytest.mark.parametrize(
    ("section", "warning"),
    [
        ("service: {name: s, command: [x], env: {DB_PASSWORD: hunter2hunter2}}",
         "service.env.DB_PASSWORD looks like a secret in plaintext; "
         "use env:NAME or file:PATH instead"),
        ("gates: {smoke: [{name: k, path: /, headers: {X-Client-Credentials: abcdef}}]}",
         "gates.smoke[0].headers.X-Client-Credentials looks like a secret in plaintext; "
         "use env:NAME or file:PATH instead"),
        ("backup: {db: 'postgresql://v11:pw-in-url@db/v11'}",
         "backup.db is a URL with a credential in plaintext; "
         "keep it out of the config (PGPASSWORD or ~/.pgpass)"),
        ("backup: {scratch_url: 'postgresql://db/postgres?password=pw'}",
         "backup.scratch_url is a URL with a credential in plaintext; "
         "keep it out of the config (PGPASSWORD or ~/.pgpass)"),
        ("notifications: {webhooks: [{name: a, url: 'https://h.example/x?token=abc'}]}",
         "notifications.webhooks[0].url carries a credential in plaintext; "
         "use env:NAME or file:PATH instead"),
        ("hooks: {post_switch: [{name: h, url: '{new}/x?api_key=abc'}]}",
         "hooks.post_switch[0].url is a URL with a credential in plaintext; "
         "keep it out of the config"),
    ],
)  # fmt: skip
def test_validate_warns_once_per_plaintext_secret_naming_the_field(
    tmp_path: Path, section: str, warning: str
) -> None:
    text = section + "\n"
    if text.startswith("service:"):
        path = tmp_path / "v11ops.yaml"
        path.write_text(text + "releases: {1.0.0: {}}\n")
    else:
        path = write(tmp_path, text)
    result = runner.invoke(app, ["config", "validate", "--file", str(path)])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"warning: {warning}\n"


def test_references_templates_and_ordinary_values_are_not_warned_about(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "gates: {smoke: [{name: k, path: /, headers: {X-Api-Key: env:K, X-Key-Id: '{version}',"
        " Accept: application/json}}]}\n"
        "backup: {db: 'postgresql://v11@db/v11?sslmode=require'}\n"
    ))  # fmt: skip
    result = runner.invoke(app, ["config", "validate", "--file", str(path)], env={"K": "x"})
    assert result.exit_code == 0 and result.stderr == ""


def test_the_backup_key_is_a_reference_never_the_key(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["config", "validate", "--file", str(write(tmp_path, f"backup: {{key: {KEY}}}\n"))]
    )
    assert result.exit_code == 2
    assert KEY not in result.stderr
    assert "backup.key: write env:NAME or file:PATH here, never the secret itself" in result.stderr


def test_the_old_key_file_setting_says_what_replaced_it(tmp_path: Path) -> None:
    path = write(tmp_path, "backup: {key_file: backup.key}\n")
    result = runner.invoke(app, ["config", "validate", "--file", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {path}: backup.key_file: key_file is now key: file:PATH (or env:NAME)\n"
    )


def test_the_backup_key_comes_through_the_same_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "backup.key").write_text(KEY + "\n")
    monkeypatch.setenv("V11_T_BACKUP_KEY", "cd" * 32)
    monkeypatch.delenv(KEY_ENV, raising=False)
    from_file = resolve(load_config(write(tmp_path, "backup: {key: file:backup.key}\n")))
    assert from_file.key is not None and from_file.key.raw == bytes.fromhex(KEY)
    assert from_file.key_file == tmp_path / "backup.key"  # PITR's archive_command gets it
    from_env = resolve(load_config(write(tmp_path, "backup: {key: env:V11_T_BACKUP_KEY}\n")))
    assert from_env.key is not None and from_env.key.raw == bytes.fromhex("cd" * 32)
    assert from_env.key_file is None
    assert load_key(None) is None  # no key configured, none in the environment
    monkeypatch.setenv(KEY_ENV, KEY)
    default = load_key(None)
    assert default is not None and default.source == f"env:{KEY_ENV}"
    assert KEY not in redact(f"key {KEY}")  # a key that was read is never logged


def test_an_unreadable_key_file_is_a_usage_error_naming_the_reference(tmp_path: Path) -> None:
    with pytest.raises(BackupUsageError, match=r"^backup key: file:.*absent: cannot read"):
        load_key(tmp_path / "absent")


@pytest.mark.parametrize(
    ("name", "value", "warned"),
    [
        ("V11_ADMIN_KEY", "4f1c0e", True),
        ("V11_ADMIN_KEYS_FILE", "/run/secrets/admin_keys", False),  # where a secret is
        ("TOKEN_PATH", "/etc/v11ops/token", False),
        ("X-Api-Key", "env:K", False),
    ],
)
def test_a_name_that_says_where_a_secret_is_is_not_a_secret(
    name: str, value: str, warned: bool
) -> None:
    assert looks_like_plaintext_secret(name, value) is warned


def test_status_needs_no_secret_but_up_refuses_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("V11_T_ABSENT", raising=False)
    config_file = write(tmp_path, f"monitoring: {{webhook: {{token: env:V11_T_ABSENT}}}}\n"
                        f"state_dir: {tmp_path / 'state'}\n")  # fmt: skip
    status = runner.invoke(app, ["status", "--file", str(config_file)])
    assert status.exit_code == 1 and "no controller answers" in status.stderr
    up = runner.invoke(app, ["up", "--file", str(config_file)])
    assert up.exit_code == 2
    assert "monitoring.webhook.token: env:V11_T_ABSENT: environment variable" in up.stderr
    assert not (tmp_path / "state").exists(), "a refused `up` starts and creates nothing"
