"""Who may call which route of the controller's API, enforced and audited by one ASGI middleware.

ROUTE_RULES is the only place that grants access: a route of the app that is missing from it is
refused to every token (deny by default), and tests/security enumerates the app's routes so that
such a route fails the tests too.

What is audited: every refusal (401, 403), every call that is not a GET, and every call of an
admin route. A successful read by a viewer route (status, history, health, metrics) is not:
the CLI polls them several times a second during a deploy, they change nothing, and an fsynced
entry each would bury the calls a reviewer looks for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from v11ops.config._errors import SECRET_WORDS
from v11ops.security.audit import AuditLog
from v11ops.security.tokens import Role, TokenInfo, TokenStore, Unauthorized, redact

MAX_BODY_BYTES = 64 * 1024  # control requests are a few fields
_ERROR_CAPTURE_BYTES = 4096
READ_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Rule:
    role: Role  # the least role that may call the route
    action: str  # its name in the audit log


ROUTE_RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): Rule(Role.viewer, "health"),
    ("GET", "/metrics"): Rule(Role.viewer, "metrics"),
    ("GET", "/status"): Rule(Role.viewer, "status"),
    ("GET", "/deployments"): Rule(Role.viewer, "history"),
    ("GET", "/deployments/{id:int}"): Rule(Role.viewer, "deployment"),
    ("POST", "/deployments"): Rule(Role.deployer, "deploy"),
    ("POST", "/rollback"): Rule(Role.deployer, "rollback"),
    ("POST", "/promote"): Rule(Role.deployer, "promote"),
    ("POST", "/abort"): Rule(Role.deployer, "abort"),
    ("POST", "/shutdown"): Rule(Role.admin, "shutdown"),
    ("GET", "/tokens"): Rule(Role.admin, "token.list"),
    ("POST", "/tokens"): Rule(Role.admin, "token.create"),
    ("DELETE", "/tokens/{id}"): Rule(Role.admin, "token.revoke"),
}


def rule_for(method: str, path: str) -> Rule | None:
    """The rule of a route (HEAD is a GET); None when the route has none: it is refused."""
    return ROUTE_RULES.get(("GET" if method == "HEAD" else method, path))


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """The path template of the route that serves this request, None for a 404 or a 405."""
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", ""))
    return None


class AccessControl:
    """Authenticate (401), authorize (403) and audit each request of the control API."""

    def __init__(
        self, app: ASGIApp, tokens: TokenStore, audit: AuditLog, routes: Sequence[BaseRoute]
    ) -> None:
        self.app, self.tokens, self.audit, self.routes = app, tokens, audit, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # where a handler leaves its `audit_result`
        call = _Call(scope)
        template = route_template(self.routes, scope)
        rule = rule_for(scope["method"], template) if template is not None else None
        if rule is not None:
            call.action = rule.action
        body = await _read_body(receive)
        if body is None:
            await self._refuse(call, send, 413, "request body too large")
            return
        call.args = _arguments(scope, body)
        refusal = self._check(call, template, rule)
        if refusal is not None:
            await self._refuse(call, send, *refusal)
            return
        await self.app(scope, _replay(body, receive), call.watch(send))
        if _audited(scope["method"], rule) or call.status in (401, 403):
            self.audit.append(call.record())

    def _check(
        self, call: _Call, template: str | None, rule: Rule | None
    ) -> tuple[int, str] | None:
        """Why the request is refused (status, message), or None when it may go on."""
        try:
            who = call.who = self.tokens.authenticate(_bearer(call.scope))
        except Unauthorized as exc:
            return 401, f"unauthorized: {exc}"
        if template is None:
            return None  # no such route: the app answers 404 or 405
        if rule is None:
            return 403, f"no access rule for {call.scope['method']} {template}: denied by default"
        if not who.role.allows(rule.role):
            return 403, f"forbidden: role {who.role} may not {rule.action} (needs {rule.role})"
        return None

    async def _refuse(self, call: _Call, send: Send, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="v11ops"'))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        call.status, call.error = status, bytearray(body)
        self.audit.append(call.record())


def _audited(method: str, rule: Rule | None) -> bool:
    return method not in READ_METHODS or (rule is not None and rule.role == Role.admin)


class _Call:
    """What the audit entry of one request needs, gathered while it is handled."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.who: TokenInfo | None = None
        self.action = f"{scope['method']} {scope['path']}"
        self.args: dict[str, Any] = {}
        self.status = 0
        self.error = bytearray()

    def watch(self, send: Send) -> Send:
        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = int(message["status"])
            elif message["type"] == "http.response.body" and self.status >= 400:
                room = _ERROR_CAPTURE_BYTES - len(self.error)
                self.error += message.get("body", b"")[:room]
            await send(message)

        return watched

    def record(self) -> dict[str, Any]:
        who = self.who
        entry: dict[str, Any] = {
            "at": round(time.time(), 6),
            "token_id": who.id if who else None,
            "token_name": who.name if who else None,
            "role": who.role.value if who else None,
            "client": _client(self.scope),
            "action": self.action,
            "request": f"{self.scope['method']} {self.scope['path']}",
            "args": self.args,
            "status": self.status,
        }
        result = self.scope["state"].get("audit_result")
        if result is not None:
            entry["result"] = result
        if self.status >= 400:
            entry["error"] = _error_text(bytes(self.error))
        # A token pasted into a query or a body must not reach the log in clear.
        return dict(json.loads(redact(json.dumps(entry))))


def _bearer(scope: Scope) -> str:
    """The bearer token of the request; Unauthorized when there is none."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            raise Unauthorized("the Authorization header is not `Bearer <token>`")
    raise Unauthorized("no bearer token")


def _client(scope: Scope) -> str:
    """`uid=N pid=M` of the peer process (SO_PEERCRED, see daemon.py), else `unix`."""
    client = scope.get("client")
    if client and str(client[0]).startswith("uid="):
        return f"{client[0]} pid={client[1]}"
    return "unix"


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, None when it is larger than MAX_BODY_BYTES."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body read already, then the real channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _arguments(scope: Scope, body: bytes) -> dict[str, Any]:
    """The call's arguments for the audit: path and query parameters and the JSON body."""
    args: dict[str, Any] = {}
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        args["query"] = _redacted_query(query)
    if body:
        try:
            args["body"] = json.loads(body)
        except ValueError:
            args["body_bytes"] = len(body)
    return args


def _redacted_query(query: str) -> str:
    """The query with secret-named values (`?token=...`) and any token blanked for the audit."""
    pairs = [
        (name, "[redacted]" if any(w in name.lower() for w in SECRET_WORDS) else value)
        for name, value in parse_qsl(query, keep_blank_values=True)
    ]
    return redact(urlencode(pairs, safe="[]"))


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
    return str(data.get("error", data) if isinstance(data, dict) else data)
