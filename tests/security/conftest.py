"""Fixtures: the controller's access control on a real token store and audit log (access.db)."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from v11ops.deploy.daemon import build_app
from v11ops.security.api import Access

with warnings.catch_warnings():
    # Starlette 1.0 warns (a UserWarning, so pyproject's DeprecationWarning filter misses it)
    # that TestClient wants httpx2; TestClient works with httpx as it is.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
from v11ops.deploy.state import StateDB
from v11ops.security.tokens import Role


class ControllerStub:
    """Stands in for the deploy controller: the tests here are about who may call a route,
    not what the route does (that is tests/deploy). Mutating calls only record themselves."""

    def __init__(self, state: StateDB) -> None:
        self.state = state
        self.calls: list[str] = []
        self.stop_slots_on_exit = False

    async def status(self) -> dict[str, Any]:
        return {"deploying": False}

    async def settle(self) -> None:
        return None

    def start_deploy(self, version: str, strategy: str | None) -> int:
        self.calls.append(f"deploy {version}")
        return 1

    def start_rollback(self, to: str | None, restore_db: bool) -> int:
        self.calls.append("rollback")
        return 2

    def promote(self) -> None:
        self.calls.append("promote")

    def abort(self) -> None:
        self.calls.append("abort")


class Api:
    """The control API app in-process, with one token per role and some that must not work."""

    def __init__(self, tmp: Path) -> None:
        self.state = StateDB(tmp / "state.db")
        self.access = Access(tmp)
        self.controller = ControllerStub(self.state)
        self.stop = asyncio.Event()
        self.app: Starlette = build_app(self.controller, self.stop, self.access)  # type: ignore[arg-type]
        self.client = TestClient(self.app, base_url="http://controller")
        store = self.access.tokens
        self.token = {role: store.create(role, f"{role} test")[1] for role in Role}
        self.expired = store.create(Role.admin, "expired admin", expires_in_s=1e-6)[1]
        revoked_info, self.revoked = store.create(Role.admin, "revoked admin")
        store.revoke(revoked_info.id)
        # Well-formed, with the id of a real admin token and a wrong secret.
        self.wrong = self.token[Role.admin][:-6] + "AAAAAA"

    def close(self) -> None:
        self.client.close()
        self.access.close()
        self.state.close()

    def call(self, method: str, path: str, token: str | None, json: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.request(method, path, headers=headers, json=json)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    a = Api(tmp_path)
    yield a
    a.close()
