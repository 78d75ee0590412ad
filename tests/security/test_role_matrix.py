"""The role matrix of the control API, over every route the app has (read from the app itself).

A route added to daemon.py without a line in ROUTE_RULES fails here, and is refused meanwhile.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.security.conftest import Api, TestClient
from v11ops.security.access import ROUTE_RULES, AccessControl, rule_for
from v11ops.security.audit import entries, verify
from v11ops.security.db import access_db_path
from v11ops.security.tokens import Role

# A value for each path parameter: ids that match nothing, so an allowed call changes nothing.
PARAMETER_VALUES = {"id:int": "424242", "id": "000000000000"}
BODIES = {"/deployments": {"version": "1.1.0"}, "/tokens": {"role": "viewer", "name": "matrix"}}


def app_endpoints(app: Starlette) -> list[tuple[str, str]]:
    """(method, path template) of every route of the app, HEAD included."""
    found = []
    for route in app.routes:
        assert isinstance(route, Route), f"{route!r}: only plain routes are expected"
        assert route.methods, f"{route.path}: a route without methods"
        found += [(method, route.path) for method in sorted(route.methods)]
    return found


def concrete(template: str) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: PARAMETER_VALUES[m[1]], template)


def test_every_route_of_the_app_has_a_rule(api: Api) -> None:
    missing = [e for e in app_endpoints(api.app) if rule_for(*e) is None]
    assert not missing, f"routes without an access rule (add them to ROUTE_RULES): {missing}"
    stale = set(ROUTE_RULES) - set(app_endpoints(api.app))
    assert not stale, f"rules for routes the app does not have: {stale}"


def test_the_matrix_covers_the_whole_api(api: Api) -> None:
    endpoints = app_endpoints(api.app)
    assert ("POST", "/deployments") in endpoints and ("DELETE", "/tokens/{id}") in endpoints
    assert ("HEAD", "/status") in endpoints  # Starlette adds HEAD to GET; it is checked too
    assert {("GET" if m == "HEAD" else m, p) for m, p in endpoints} == set(ROUTE_RULES)


@pytest.mark.parametrize("credential", ["none", "malformed", "wrong", "expired", "revoked"])
def test_no_valid_token_is_401_on_every_route(api: Api, credential: str) -> None:
    token = {"none": None, "malformed": "letmein", "wrong": api.wrong,
             "expired": api.expired, "revoked": api.revoked}[credential]  # fmt: skip
    for method, template in app_endpoints(api.app):
        r = api.call(method, concrete(template), token, json=BODIES.get(template))
        assert r.status_code == 401, (method, template, r.status_code)
        assert r.headers["www-authenticate"].startswith("Bearer")
        if method != "HEAD":
            assert r.json()["error"].startswith("unauthorized:")
    assert api.controller.calls == [] and not api.stop.is_set(), "nothing ran"
    refusals = [e for e in entries(access_db_path(api.access.tokens.path.parent))]
    assert len(refusals) == len(app_endpoints(api.app)), "every refusal is audited"
    assert {e["status"] for e in refusals} == {401}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_exactly_its_routes(api: Api, role: Role) -> None:
    for method, template in app_endpoints(api.app):
        needed = ROUTE_RULES[("GET" if method == "HEAD" else method, template)].role
        r = api.call(method, concrete(template), api.token[role], json=BODIES.get(template))
        if role.allows(needed):
            assert r.status_code not in (401, 403), (role, method, template, r.status_code)
        else:
            assert r.status_code == 403, (role, method, template, r.status_code)
            if method != "HEAD":
                assert f"needs {needed}" in r.json()["error"]


def test_the_roles_are_those_of_the_issue() -> None:
    """Pinned: changing who may do what takes a change here too."""
    expected = {
        Role.viewer: {"health", "metrics", "status", "history", "deployment"},
        Role.deployer: {"deploy", "rollback", "promote", "abort"},
        Role.admin: {"shutdown", "token.list", "token.create", "token.revoke"},
    }
    actual: dict[Role, set[str]] = {role: set() for role in Role}
    for rule in ROUTE_RULES.values():
        actual[rule.role].add(rule.action)
    assert actual == expected


def test_a_route_without_a_rule_is_refused_even_to_an_admin(api: Api) -> None:
    async def secret(_: object) -> JSONResponse:
        return JSONResponse({"leaked": True})

    routes = [Route("/not-in-the-table", secret, methods=["POST"])]
    access, admin = api.access, api.token[Role.admin]
    guarded = Starlette(routes=routes)
    guarded.add_middleware(AccessControl, tokens=access.tokens, audit=access.audit, routes=routes)
    with TestClient(guarded) as client:
        r = client.post("/not-in-the-table", headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 403 and "denied by default" in r.json()["error"]


def test_calls_are_audited_with_who_what_and_outcome(api: Api, tmp_path: Path) -> None:
    deployer, viewer = api.token[Role.deployer], api.token[Role.viewer]
    assert api.call("POST", "/deployments", deployer, {"version": "1.1.0"}).status_code == 202
    assert api.call("POST", "/promote", viewer).status_code == 403
    assert api.call("GET", "/status", viewer).status_code == 200  # a read: not audited
    assert api.call("GET", "/tokens", api.token[Role.admin]).status_code == 200  # admin: audited
    log = entries(access_db_path(tmp_path))
    assert [(e["action"], e["role"], e["status"]) for e in log] == [
        ("deploy", "deployer", 202), ("promote", "viewer", 403), ("token.list", "admin", 200)
    ]  # fmt: skip
    deploy = log[0]
    assert deploy["args"] == {"body": {"version": "1.1.0"}}
    assert deploy["token_name"] == "deployer test" and deploy["token_id"] in deployer
    assert "needs deployer" in log[1]["error"]
    assert verify(access_db_path(tmp_path)).ok
    text = json.dumps(log)
    for token in (*api.token.values(), api.expired, api.revoked):
        assert token not in text, "a token in the audit log"


def test_a_token_sent_in_a_query_or_body_is_redacted_in_the_audit(api: Api, tmp_path: Path) -> None:
    leaked = api.token[Role.viewer]
    api.call("POST", f"/abort?token={leaked}", None, {"note": leaked})
    (entry,) = entries(access_db_path(tmp_path))
    assert entry["status"] == 401 and leaked not in json.dumps(entry)
    assert "[redacted]" in entry["args"]["query"] and "[redacted]" in entry["args"]["body"]["note"]


def test_an_oversized_body_is_refused_before_anything_else(api: Api) -> None:
    r = api.client.post(
        "/deployments", content=b"x" * 70_000, headers={"Authorization": "Bearer x"}
    )
    assert r.status_code == 413


@pytest.mark.parametrize("limit", ["x", "0", "-1", "99999"])
def test_a_bad_history_limit_is_a_400_not_a_crash(api: Api, limit: str) -> None:
    answer = api.call("GET", f"/deployments?limit={limit}", api.token[Role.viewer])
    assert answer.status_code == 400
    assert answer.json() == {"error": "'limit' must be a whole number 1-10000"}
    assert api.call("GET", "/deployments?limit=5", api.token[Role.viewer]).status_code == 200
