"""Reading the deployment artifacts in deploy/ and the config they must agree with."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from v11ops.config import DEFAULT_CONFIG_YAML, Config, parse_config

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SYSTEMD = DEPLOY / "systemd"
NGINX = DEPLOY / "nginx"

# Where deploy/README.md installs things on a host.
CONFIG_FILE = Path("/etc/v11ops/v11ops.yaml")
STATE_DIR = "/var/lib/v11ops"
V11OPS_BIN = "/opt/v11ops/bin/v11ops"

Unit = dict[str, dict[str, list[str]]]


def replace_once(text: str, old: str, new: str) -> str:
    """Replace text that must be there (a test rewriting a path it did not find is broken)."""
    assert old in text, f"expected {old!r} in the artifact"
    return text.replace(old, new)


def host_config() -> Config:
    """The default config as deploy/README.md installs it: `v11ops init`, state_dir changed."""
    text = replace_once(
        DEFAULT_CONFIG_YAML, "\nstate_dir: .v11ops\n", f"\nstate_dir: {STATE_DIR}\n"
    )
    return parse_config(text, CONFIG_FILE)


def default_config() -> Config:
    """`v11ops init`'s config, untouched."""
    return parse_config(DEFAULT_CONFIG_YAML, CONFIG_FILE)


def read_unit(path: Path) -> Unit:
    """A systemd unit as {section: {key: [values]}}: keys may repeat, `\\` continues a line."""
    unit: Unit = {}
    section: dict[str, list[str]] = {}
    logical = re.sub(r"\\\n\s*", " ", path.read_text())
    for raw in logical.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    """The single value of a key (the last one wins in systemd, so there must be one)."""
    values = unit[section][key]
    assert len(values) == 1, f"{section}.{key} is set {len(values)} times"
    return values[0]


def exec_argv(unit: Unit, env: dict[str, str] | None = None, instance: str = "") -> list[str]:
    """ExecStart as argv, with ${VAR} from `env` and %i expanded as systemd would."""
    command = one(unit, "Service", "ExecStart").replace("%i", instance)
    for name, value in (env or {}).items():
        command = command.replace("${" + name + "}", value)
    assert "${" not in command, f"unexpanded variable in {command!r}"
    return shlex.split(command)


def options(argv: list[str]) -> dict[str, str]:
    """`--name value` pairs of an argv (every option of ours takes a value)."""
    flags = [i for i, arg in enumerate(argv) if arg.startswith("--")]
    return {argv[i]: argv[i + 1] for i in flags}


def read_env_file(path: Path) -> dict[str, str]:
    """A systemd EnvironmentFile of plain NAME=value lines."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {p[0].strip(): p[1].strip() for p in pairs if len(p) == 2 and not p[0].startswith("#")}


def seconds(value: str) -> float:
    """A systemd time span such as `40`, `40s`, `2min`."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|min|ms)?", value)
    assert match, f"not a simple time span: {value!r}"
    factor = {"ms": 0.001, "s": 1.0, "min": 60.0, None: 1.0}[match.group(2)]
    return float(match.group(1)) * factor
