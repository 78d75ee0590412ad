"""The security side of the controller: its token store and audit log, the token routes, and
the first admin token of a new state folder."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from v11ops.security.audit import AuditLog
from v11ops.security.credentials import ADMIN_TOKEN_FILE, bootstrap_admin_token
from v11ops.security.db import access_db_path
from v11ops.security.tokens import Role, TokenStore


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON body when it is an object, else an empty one."""
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class Access:
    """The token store and the audit log of a state folder (both in access.db)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.tokens = TokenStore(access_db_path(state_dir))
        self.audit = AuditLog(access_db_path(state_dir))

    def close(self) -> None:
        self.tokens.close()
        self.audit.close()

    def bootstrap(self) -> str | None:
        """With no token yet: an admin token into admin.token, audited; its id."""
        token_id = bootstrap_admin_token(self.tokens, self.state_dir)
        if token_id is not None:
            self.audit.append(
                {"at": time.time(), "token_id": None, "token_name": None, "role": None,
                 "client": f"controller pid={os.getpid()}", "action": "token.bootstrap",
                 "request": None, "args": {"file": ADMIN_TOKEN_FILE}, "status": 201,
                 "result": {"token_id": token_id}}
            )  # fmt: skip
        return token_id


def _refused(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def token_routes(tokens: TokenStore) -> list[Route]:
    """`v11ops token create|list|revoke` (admin only, like every route: see ROUTE_RULES)."""

    async def list_tokens(_: Request) -> JSONResponse:
        return JSONResponse([t.to_json() for t in tokens.all()])

    async def create_token(request: Request) -> JSONResponse:
        body = await json_object(request)
        role, name, expires_in_s = body.get("role"), body.get("name"), body.get("expires_in_s")
        if role not in {r.value for r in Role}:
            return _refused(f"unknown role {role!r}", 400)
        if name is not None and not isinstance(name, str):
            return _refused("'name' must be a string", 400)
        if expires_in_s is not None and (
            not isinstance(expires_in_s, int | float) or expires_in_s <= 0
        ):
            return _refused("'expires_in_s' must be a positive number", 400)
        info, token = tokens.create(Role(role), name or f"{role} token", expires_in_s)
        request.state.audit_result = {"token_id": info.id}
        return JSONResponse({**info.to_json(), "token": token}, status_code=201)

    async def revoke_token(request: Request) -> JSONResponse:
        token_id = str(request.path_params["id"])
        target = tokens.get(token_id)
        if target is None:
            return _refused(f"no token {token_id!r}", 404)
        admins = [t for t in tokens.all() if t.role == Role.admin and t.state() == "active"]
        if admins == [target]:
            return _refused(
                f"token {token_id} is the last active admin token; create another first", 409
            )
        revoked = tokens.revoke(token_id)
        assert revoked is not None
        return JSONResponse(revoked.to_json())

    return [
        Route("/tokens", list_tokens),
        Route("/tokens", create_token, methods=["POST"]),
        Route("/tokens/{id}", revoke_token, methods=["DELETE"]),
    ]
