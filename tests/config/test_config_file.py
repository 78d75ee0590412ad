"""v11ops.yaml: defaults, one-line errors naming file and field, releases and fingerprints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from v11ops.config import (
    DEFAULT_CONFIG_YAML,
    Config,
    ConfigError,
    UnknownReleaseError,
    config_json_schema,
    load_config,
    parse_config,
)

MINIMAL = """\
service:
  name: echo
  command: ["{python}", "-m", "http.server", "{port}"]
releases:
  "1.0.0": {}
"""


def write(tmp_path: Path, text: str, name: str = "v11ops.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


def test_the_default_config_file_validates(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, DEFAULT_CONFIG_YAML))
    assert config.versions == ["1.0.0", "1.1.0", "1.2.0"]
    assert {name: slot.port for name, slot in config.slots.items()} == {
        "blue": 9003,
        "green": 9004,
    }
    assert config.releases["1.2.0"] is not None
    assert config.releases["1.2.0"].env == {"V11_FAULT_ERROR_RATE": "0.5"}
    assert [c.name for c in config.gates.smoke] == [
        "live",
        "ready",
        "version",
        "signed-transaction",
    ]
    assert config.hooks.pre_switch[0].name == "producer-yield"
    assert config.warnings() == []


def test_the_default_file_states_the_model_defaults(tmp_path: Path) -> None:
    # The commented file and the models must not drift apart.
    written = load_config(write(tmp_path, DEFAULT_CONFIG_YAML))
    minimal = load_config(write(tmp_path, MINIMAL, "minimal.yaml"))
    assert written.router == minimal.router
    assert written.strategy == minimal.strategy
    assert written.slots == minimal.slots
    assert written.state_dir == minimal.state_dir
    assert written.service.health == minimal.service.health
    assert written.service.start_timeout_s == minimal.service.start_timeout_s
    assert written.service.drain_timeout_s == minimal.service.drain_timeout_s


def test_a_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.service.health.live == "/q/health/live"
    assert config.service.health.ready == "/q/health/ready"
    assert config.service.start_timeout_s == 30
    assert config.service.drain_timeout_s == 30
    assert config.router.kind == "builtin"
    assert config.router.listen == "127.0.0.1:8080"
    assert config.admin_socket_path == tmp_path / ".v11ops" / "router.sock"
    bg = config.strategy.blue_green
    assert (bg.readiness.consecutive_passes, bg.readiness.interval_s) == (3, 0.2)
    assert config.readiness_deadline_s == 30
    assert (bg.post_switch_window_s, bg.scale_down_delay_s, bg.max_error_rate) == (10, 30, 0.001)
    assert bg.preview is False
    assert config.slot_port("blue") == 9003
    assert config.slot_port("green") == 9004
    assert config.state_path == tmp_path / ".v11ops"


def test_the_default_file_validates_against_the_json_schema() -> None:
    schema = config_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(DEFAULT_CONFIG_YAML), schema)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('V11_FAULT_ERROR_RATE: "0.5"', "FOO: 1"),
            "releases.1.2.0.env.FOO: expected a string, got 1",
        ),
        (
            ("  start_timeout_s: 30", "  start_timout_s: 30"),
            "service.start_timout_s: unknown key (expected one of: name, command, env, workdir,"
            " host, health, start_timeout_s, drain_timeout_s)",
        ),
        (
            ("  kind: builtin", "  kind: traefik"),
            "router.kind: expected one of 'builtin', 'nginx'",
        ),
        (
            ("  start_timeout_s: 30", '  start_timeout_s: "30"'),
            'service.start_timeout_s: expected a number, got "30"',
        ),
        (
            ("  start_timeout_s: 30", "  start_timeout_s: 0"),
            "service.start_timeout_s: expected greater than 0",
        ),
        (
            ("  name: aurigraph-v11-node\n", ""),
            "service.name: required, but missing",
        ),
        (
            ("      expect_status: 202", "      expect_status: accepted"),
            'gates.smoke[3].expect_status: expected an integer, got "accepted"',
        ),
        (
            ("kind: signed_transaction", "kind: signed"),
            "gates.smoke[3]: unknown kind 'signed', expected one of 'http', 'signed_transaction'",
        ),
        (
            ("      required: false", "      requierd: false"),
            "hooks.pre_switch[0].requierd: unknown key (expected one of: name, kind, method, url,"
            " headers, expect_status, timeout_s, required)",
        ),
        (
            ('"{slot}"', '"{slto}"'),
            "service.command[10]: unknown placeholder {slto} (allowed: {port}, {python}, {slot},"
            " {state_dir}, {version}; write {{ and }} for literal braces)",
        ),
        (
            ('"1.1.0": {}', '"1.1.0 beta": {}'),
            "releases.1.1.0 beta: not a valid version (letters, digits and . _ + -, such as 1.2.0)",
        ),
        (
            ("    port: 9004", "    port: 8080"),
            "slots.green.port: port 8080 is also the port of router.listen",
        ),
        (
            ("    port: 9004", "    port: 70000"),
            "slots.green.port: expected a port number (1-65535) or auto",
        ),
        (
            ("  listen: 127.0.0.1:8080", "  listen: localhost"),
            "router.listen: expected host:port such as 127.0.0.1:8080, got 'localhost'",
        ),
        (
            ('V11_FAULT_ERROR_RATE: "0.5"', '"V11-FAULT": "1"'),
            "releases.1.2.0.env.V11-FAULT: not a valid environment variable name (letters,"
            " digits and _, not starting with a digit)",
        ),
    ],
)
def test_a_bad_file_gets_one_line_naming_the_file_and_the_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in DEFAULT_CONFIG_YAML
    assert error_of(tmp_path, DEFAULT_CONFIG_YAML.replace(old, new, 1)) == message


def test_the_message_starts_with_the_file_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, DEFAULT_CONFIG_YAML.replace('V11_FAULT_ERROR_RATE: "0.5"', "FOO: 0.5"))
    with pytest.raises(ConfigError) as info:
        load_config("v11ops.yaml")
    assert str(info.value) == "v11ops.yaml: releases.1.2.0.env.FOO: expected a string, got 0.5"
    assert info.value.path == "releases.1.2.0.env.FOO"


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("  name: echo", "  name: [echo")
    assert error_of(tmp_path, text) == (
        "line 3, column 10: YAML syntax error: expected ',' or ']', but got ':'"
        " (while parsing a flow sequence that began on line 2)"
    )


def test_a_duplicate_key_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    text = MINIMAL + '  "1.0.0": {env: {A: "1"}}\n'
    assert error_of(tmp_path, text) == "line 6, column 3: YAML syntax error: duplicate key '1.0.0'"


def test_empty_missing_and_non_mapping_files(tmp_path: Path) -> None:
    assert error_of(tmp_path, "# nothing\n").startswith("the file is empty;")
    assert error_of(tmp_path, "- a\n") == (
        "expected a mapping with service: and releases: at the top level"
    )
    with pytest.raises(ConfigError, match=r"nope.yaml: no such file \(`v11ops init`"):
        load_config(tmp_path / "nope.yaml")


def test_versions_stay_exactly_as_written(tmp_path: Path) -> None:
    # Plain YAML would read 1.10 as the float 1.1.
    text = MINIMAL.replace('"1.0.0": {}', "1.10: {}\n  2: {}")
    assert load_config(write(tmp_path, text)).versions == ["1.10", "2"]


def test_a_release_without_overrides_may_be_empty(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + '  "1.0.1":\n'))
    assert config.versions == ["1.0.0", "1.0.1"]
    assert config.release("1.0.1", slot="blue", port=1).argv[2] == "http.server"


def test_loading_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG_YAML.replace("  kind: builtin", "  kind: traefik")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError):
        load_config(path)
    assert path.read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v11ops.yaml"]


# -- releases -----------------------------------------------------------------------------------


def test_deploying_an_unknown_version_lists_the_known_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, DEFAULT_CONFIG_YAML))
    with pytest.raises(UnknownReleaseError) as info:
        config.release("9.9.9", slot="green", port=9004)
    assert str(info.value) == (
        f"unknown release '9.9.9' (known: 1.0.0, 1.1.0, 1.2.0); add it under releases: in "
        f"{tmp_path / 'v11ops.yaml'}"
    )
    assert info.value.known == ("1.0.0", "1.1.0", "1.2.0")


def test_a_release_is_rendered_for_its_slot_and_port(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, DEFAULT_CONFIG_YAML))
    release = config.release("1.2.0", slot="green", port=9004)
    state = tmp_path / ".v11ops"
    assert release.argv == (
        sys.executable,
        "-m",
        "v11ops.cli.main",
        "node",
        "run",
        "--port",
        "9004",
        "--db",
        f"sqlite:///{state}/ledger.db",
        "--node-id",
        "green",
        "--release",
        "1.2.0",
        "--data-dir",
        f"{state}/node-green",
    )
    assert dict(release.env) == {"V11_FAULT_ERROR_RATE": "0.5"}
    assert release.workdir == tmp_path
    assert release.base_url == "http://127.0.0.1:9004"
    assert (release.live_path, release.ready_path) == ("/q/health/live", "/q/health/ready")


def test_release_env_overrides_service_env_and_may_use_placeholders(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace(
            "releases:", '  env: {A: "service", B: "port={port} slot={slot}"}\nreleases:'
        )
        + '  "2.0.0": {env: {A: "release"}, command: ["run", "{version}"]}\n'
    )
    config = load_config(write(tmp_path, text))
    release = config.release("2.0.0", slot="blue", port=7000)
    assert dict(release.env) == {"A": "release", "B": "port=7000 slot=blue"}
    assert release.argv == ("run", "2.0.0")


def test_the_fingerprint_ignores_slot_and_port_but_not_the_definition(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, DEFAULT_CONFIG_YAML))
    blue = config.release("1.1.0", slot="blue", port=9003).fingerprint()
    green = config.release("1.1.0", slot="green", port=9004).fingerprint()
    assert blue == green
    assert len(blue) == 64
    assert config.release("1.2.0", slot="blue", port=9003).fingerprint() != blue
    changed = load_config(
        write(
            tmp_path,
            DEFAULT_CONFIG_YAML.replace('"1.1.0": {}', '"1.1.0": {env: {X: "1"}}'),
            "b.yaml",
        )
    )
    assert changed.release("1.1.0", slot="blue", port=9003).fingerprint() != blue


def test_an_unknown_slot_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match=r"unknown slot 'purple' \(slots: blue, green\)"):
        config.release("1.0.0", slot="purple", port=1)


# -- secrets ------------------------------------------------------------------------------------


def test_secret_references_resolve_when_the_release_is_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key.txt").write_text("from-a-file\n")
    text = MINIMAL.replace(
        "releases:",
        '  env: {API_TOKEN: "env:V11_TEST_TOKEN", DB_PASSWORD: "file:key.txt", '
        'URL: "file:///not/a/reference"}\nreleases:',
    )
    monkeypatch.setenv("V11_TEST_TOKEN", "s3cr{e}t")
    config = load_config(write(tmp_path, text))
    assert config.warnings() == []
    release = config.release("1.0.0", slot="blue", port=1)
    assert dict(release.env) == {
        "API_TOKEN": "s3cr{e}t",
        "DB_PASSWORD": "from-a-file",
        "URL": "file:///not/a/reference",
    }
    assert "s3cr" not in repr(release)
    # The fingerprint covers the reference, not the secret: rotating a secret is not a new release.
    monkeypatch.setenv("V11_TEST_TOKEN", "rotated")
    assert config.release("1.0.0", slot="blue", port=1).fingerprint() == release.fingerprint()
    monkeypatch.delenv("V11_TEST_TOKEN")
    with pytest.raises(
        ConfigError,
        match=r"releases\.1\.0\.0\.env\.API_TOKEN: env:V11_TEST_TOKEN: environment variable",
    ):
        config.release("1.0.0", slot="blue", port=1)


def test_a_plaintext_secret_is_a_warning_not_an_error(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "releases:", '  env: {V11_API_KEY: "hunter2", LOG_LEVEL: "info"}\nreleases:'
    )
    config = load_config(write(tmp_path, text))
    assert config.warnings() == [
        "service.env.V11_API_KEY looks like a secret in plaintext; "
        "use env:NAME or file:PATH instead"
    ]


def test_config_built_in_code_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = Config.model_validate(yaml.safe_load(MINIMAL))
    assert config.source is None
    assert config.state_path == tmp_path / ".v11ops"


def test_parse_config_reads_text_as_if_from_a_file(tmp_path: Path) -> None:
    config = parse_config(MINIMAL, tmp_path / "x" / "v11ops.yaml")
    assert config.state_path == tmp_path / "x" / ".v11ops"
    assert json.loads(json.dumps(config.model_dump()))["service"]["name"] == "echo"


def test_an_admin_socket_path_too_long_for_unix_sockets_is_a_warning(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    config = load_config(write(deep, MINIMAL))
    assert config.warnings() == [
        f"router.admin_socket: {deep}/.v11ops/router.sock is "
        f"{len(str(deep / '.v11ops' / 'router.sock'))} bytes, unix sockets allow 107; "
        "use a shorter state_dir or admin_socket"
    ]
