"""`v11ops token` and `v11ops audit` against a real controller daemon on its unix socket.

Only the controller runs (no router, no slots): these tests are about who may call it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, make_stack
from v11ops.config import load_config
from v11ops.deploy.stack import ensure_controller, stop_controller
from v11ops.security.credentials import ADMIN_TOKEN_FILE, TOKEN_ENV, TOKEN_FILE_ENV

pytestmark = [pytest.mark.slow]


@pytest.fixture(autouse=True)
def no_token_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(TOKEN_FILE_ENV, raising=False)


def controller_only(root: Path) -> Iterator[Stack]:
    stack = make_stack(root)
    config = load_config(stack.config)
    ensure_controller(config)
    try:
        yield stack
    finally:
        stop_controller(config, stop_slots=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from controller_only(tmp_path_factory.mktemp("tokens") / "stack")


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    yield from controller_only(tmp_path / "stack")


def state(stack: Stack) -> Path:
    return stack.root / "state"


def create(stack: Stack, *args: str, env: dict[str, str] | None = None) -> str:
    r = stack.cli("token", "create", *args, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "shown only now" in r.stderr
    token = r.stdout.strip()
    assert token.startswith("v11_") and "\n" not in token, "stdout is the token alone"
    return token


def as_token(token: str) -> dict[str, str]:
    return {TOKEN_ENV: token}


def token_id(token: str) -> str:
    return token.split("_")[1]


def test_the_controller_bootstraps_an_owner_only_admin_token(stack: Stack) -> None:
    admin = state(stack) / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(admin.stat().st_mode) == 0o600
    assert stat.S_IMODE((state(stack) / "controller.sock").stat().st_mode) == 0o600
    status = stack.cli("status", "--json")  # no token given: admin.token is used
    assert status.returncode == 0, status.stderr
    listed = json.loads(stack.cli("token", "list", "--json").stdout)
    assert next(t["id"] for t in listed if t["role"] == "admin") == token_id(admin.read_text())


def test_a_viewer_token_reads_but_may_not_deploy_and_revoked_stops_working(stack: Stack) -> None:
    viewer = create(stack, "--role", "viewer", "--name", "dashboard", "--expires", "30d")
    assert stack.cli("history", env=as_token(viewer)).returncode == 0
    for command in (("deploy", "1.1.0"), ("abort",), ("down",)):
        refused = stack.cli(*command, env=as_token(viewer))
        assert refused.returncode == 1, (command, refused.stdout, refused.stderr)
        assert "forbidden: role viewer may not" in refused.stderr
    listed = stack.cli("token", "list")
    assert token_id(viewer) in listed.stdout and viewer not in listed.stdout
    assert stack.cli("token", "revoke", token_id(viewer)).returncode == 0
    gone = stack.cli("status", env=as_token(viewer))
    assert gone.returncode == 1
    assert f"unauthorized: token {token_id(viewer)} is revoked (token from {TOKEN_ENV})" in (
        gone.stderr
    )


def test_a_token_expires(stack: Stack) -> None:
    short = create(stack, "--role", "deployer", "--expires", "1s")
    deadline = time.monotonic() + 10
    while (r := stack.cli("status", env=as_token(short))).returncode == 0:
        assert time.monotonic() < deadline, "the token never expired"
        time.sleep(0.3)
    assert f"token {token_id(short)} is expired" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "root"), "error: --role: unknown role 'root' (roles: viewer, deployer, admin)"),
        (("--role", "viewer", "--expires", "30 days"), "error: --expires: expected a whole"),
        (("--role", "viewer", "--expires", "0d"), "error: --expires: expected a whole"),
    ],
)
def test_bad_token_options_are_one_line_and_change_nothing(
    stack: Stack, args: tuple[str, ...], message: str
) -> None:
    before = stack.cli("token", "list", "--json").stdout
    r = stack.cli("token", "create", *args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1
    assert stack.cli("token", "list", "--json").stdout == before


def test_revoking_an_unknown_or_the_last_admin_token_is_refused(stack: Stack) -> None:
    unknown = stack.cli("token", "revoke", "0" * 12)
    assert unknown.returncode == 1 and "no token '000000000000'" in unknown.stderr
    admins = [t for t in json.loads(stack.cli("token", "list", "--json").stdout)
              if t["role"] == "admin" and t["state"] == "active"]  # fmt: skip
    assert len(admins) == 1, "this module's stack keeps its one bootstrap admin token"
    last = stack.cli("token", "revoke", admins[0]["id"])
    assert last.returncode == 1 and "last active admin token" in last.stderr


def test_the_audit_names_who_did_what_from_which_uid(stack: Stack) -> None:
    deployer = create(stack, "--role", "deployer", "--name", "pipeline")
    stack.cli("promote", env=as_token(deployer))  # nothing to promote: refused by the controller
    stack.cli("token", "list", env=as_token(deployer))  # 403
    shown = stack.cli("audit", "show", "--token", token_id(deployer), "--json")
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(e["action"], e["status"]) for e in rows] == [("promote", 409), ("token.list", 403)]
    assert {e["token_name"] for e in rows} == {"pipeline"}
    assert all(e["client"].startswith(f"uid={os.getuid()} pid=") for e in rows)
    created = stack.cli("audit", "show", "--action", "token.create", "--since", "1h", "--json")
    results = [json.loads(line)["result"]["token_id"] for line in created.stdout.splitlines()]
    assert token_id(deployer) in results
    table = stack.cli("audit", "show", "--action", "promote")
    assert table.returncode == 0 and "promote" in table.stdout
    verified = stack.cli("audit", "verify")
    assert verified.returncode == 0 and "audit log intact" in verified.stdout


def test_rotation_and_no_token_ever_in_logs_or_the_audit(own_stack: Stack) -> None:
    stack, folder = own_stack, state(own_stack)
    old = (folder / ADMIN_TOKEN_FILE).read_text().strip()
    new_file = stack.root / "ops-admin.token"
    r = stack.cli("token", "create", "--role", "admin", "--name", "ops", "--output", str(new_file))
    assert r.returncode == 0 and r.stdout == "" and str(new_file) in r.stderr
    assert stat.S_IMODE(new_file.stat().st_mode) == 0o600
    new = new_file.read_text().strip()
    with_new = {TOKEN_FILE_ENV: str(new_file)}
    assert stack.cli("token", "revoke", token_id(old), env=with_new).returncode == 0
    stale = stack.cli("status")  # falls back to the revoked admin.token
    assert stale.returncode == 1 and f"(token from {folder / ADMIN_TOKEN_FILE})" in stale.stderr
    listed = stack.cli("token", "list", env=with_new)
    assert listed.returncode == 0 and "revoked" in listed.stdout
    shown = stack.cli("audit", "show", "--json", env=with_new)
    everything = [stale.stdout + stale.stderr, listed.stdout, shown.stdout, r.stderr]
    everything += [p.read_text(errors="replace") for p in (folder / "logs").glob("*.log")]
    everything += [p.read_bytes().decode("latin-1") for p in folder.glob("access.db*")]
    for token in (old, new):
        secret = token.rsplit("_", 1)[1]
        assert not [text for text in everything if secret in text], "a token secret leaked"
    assert subprocess.run(["grep", "-r", new.rsplit("_", 1)[1], str(folder)],
                          capture_output=True).returncode == 1  # fmt: skip
    os.replace(new_file, folder / ADMIN_TOKEN_FILE)  # the rotation's last step
    assert stack.cli("history").returncode == 0
