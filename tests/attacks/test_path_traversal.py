"""Names that try to leave their folder: slots, releases, logs, backups, router targets.

Each is refused with one clear line (exit 2 on the command line, a 4xx from an API), and the
filesystem around the state folder is exactly as before (listed, not assumed).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from tests.router.conftest import StartRouter, StartUpstream
from tests.support.nodeproc import V11OPS
from v11ops.config import ConfigError, load_config
from v11ops.router import RouteTable, Target
from v11ops.router.errors import RouterRejected, RouteTableError

ESCAPES = {
    "dotdot": "../../escaped",
    "absolute": "/tmp/v11ops-h5-escaped",
    "nul": "blue\x00x",
    "newline": "blue\n",
    "inner-newline": "bl\nue",
    "slash": "blue/../../escaped",
    "backslash": "..\\..\\escaped",
    "long": "a" * 4096,
}
# A config that is valid as it stands; the tests put one hostile name in it.
BASE_CONFIG = {
    "service": {"name": "node", "command": ["python", "-c", "pass"]},
    "releases": {"1.0.0": {}},
    "slots": {"blue": {}, "green": {}},
    "state_dir": "state",
}


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """tmp_path/work holds the config; tmp_path is listed to catch anything written beside."""
    work = tmp_path / "work"
    work.mkdir()
    _write_config(work, BASE_CONFIG)
    return work


def _write_config(work: Path, config: dict[str, object]) -> Path:
    path = work / "v11ops.yaml"
    path.write_text(yaml.safe_dump(config))  # quotes and escapes NUL and newlines
    return path


def _cli(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [V11OPS, *args, "--file", str(work / "v11ops.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=work,
    )


def _assert_usage_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert all(word in result.stderr for word in words), result.stderr


@pytest.mark.parametrize("section", ["slots", "releases"])
@pytest.mark.parametrize("name", list(ESCAPES.values()), ids=list(ESCAPES))
def test_a_hostile_slot_or_release_name_is_refused_by_the_config(
    workdir: Path, section: str, name: str
) -> None:
    config = json.loads(json.dumps(BASE_CONFIG))
    config[section][name] = {}
    path = _write_config(workdir, config)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message and section in message, message
    assert "not a valid" in message


@pytest.mark.slow  # a v11ops process per case
@pytest.mark.parametrize("name", ["../../escaped", "blue\n"], ids=["dotdot", "newline"])
def test_config_validate_refuses_a_hostile_slot_and_writes_nothing(
    workdir: Path, name: str
) -> None:
    config = json.loads(json.dumps(BASE_CONFIG))
    config["slots"][name] = {}
    _write_config(workdir, config)
    before = _tree(workdir.parent)
    _assert_usage_error(_cli(workdir, "config", "validate"), "slots", "not a valid slot name")
    assert _tree(workdir.parent) == before


@pytest.mark.slow  # a v11ops process per case
@pytest.mark.parametrize(
    "name", ["../../escaped", "/etc/passwd", "../v11ops.yaml", "blue\n"], ids=str.strip
)
def test_logs_of_an_unknown_name_is_refused(workdir: Path, name: str) -> None:
    before = _tree(workdir.parent)
    _assert_usage_error(_cli(workdir, "logs", name), "unknown slot")
    assert _tree(workdir.parent) == before


@pytest.mark.slow  # a v11ops process per case
@pytest.mark.parametrize(
    "version",
    ["../../escaped", "/tmp/x", "1.0.0\n", "a" * 4096],
    ids=["dotdot", "absolute", "newline", "long"],
)
def test_deploy_of_an_unknown_version_is_refused_before_anything_starts(
    workdir: Path, version: str
) -> None:
    before = _tree(workdir.parent)
    _assert_usage_error(_cli(workdir, "deploy", version, "--no-wait"), "unknown release")
    assert _tree(workdir.parent) == before  # no state folder, controller or socket either


@pytest.mark.slow  # a v11ops process per case
@pytest.mark.parametrize(
    "name",
    ["../../../escaped", "/tmp/v11ops-h5-escaped", "0" * 23 + "1\n", "00000001.history/x"],
    ids=["dotdot", "absolute", "newline", "subpath"],
)
def test_wal_get_refuses_a_name_that_is_not_a_wal_file(workdir: Path, name: str) -> None:
    repo = workdir / "repo"
    repo.mkdir()
    before = _tree(workdir.parent)
    result = _cli(workdir, "backup", "wal-get", name, str(workdir / "out"), "--repo", str(repo))
    _assert_usage_error(result, "is not a WAL segment")
    assert _tree(workdir.parent) == before
    assert not Path("/tmp/v11ops-h5-escaped").exists()


@pytest.mark.parametrize("name", list(ESCAPES.values()), ids=list(ESCAPES))
def test_a_route_table_refuses_a_hostile_target_name(name: str) -> None:
    with pytest.raises(RouteTableError, match="target name"):
        RouteTable((Target(name, "http://127.0.0.1:9003", 100, "1"),))


@pytest.mark.parametrize("header", ["x-key\n", "x-key\r\nx-evil", "x key", "x-key;"])
def test_a_route_table_refuses_a_sticky_header_that_is_not_a_token(header: str) -> None:
    with pytest.raises(RouteTableError, match="sticky_header"):
        RouteTable((Target("blue", "http://127.0.0.1:9003", 100, "1"),), sticky_header=header)


def test_the_admin_api_refuses_hostile_target_names_and_writes_nothing(
    upstream: StartUpstream, router: StartRouter, short_dir: Path
) -> None:
    r = router(upstream("blue").target())
    client = r.client()
    before = _tree(short_dir)
    for name in ESCAPES.values():
        with pytest.raises(RouterRejected) as drained:
            client.drain(name, timeout_s=0.1)
        assert drained.value.status == 404 and "no target" in str(drained.value)
        with pytest.raises(RouterRejected) as undrained:
            client.undrain(name)
        assert undrained.value.status == 404
    table = client.get_routes().to_json()
    for name in ESCAPES.values():
        hostile = {**table, "targets": [{**table["targets"][0], "name": name}]}
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(r.socket_path))) as raw:
            answer = raw.put("http://router/routes", json=hostile, timeout=5)
        assert answer.status_code == 400 and "target name" in answer.json()["error"]
    assert _tree(short_dir) == before
    assert client.get_routes().to_json() == table
