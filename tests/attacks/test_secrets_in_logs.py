"""A token in a query string or an Authorization header is never written down.

A whole stack (router, controller, node slots) runs; requests carry secrets through the router
and to the control API, valid and invalid; afterwards no file the stack wrote (logs, the audit
log, state.db, the router's state) holds any of them. The router keeps no access log and the
controller's uvicorn runs with access_log=False, so what is searched are the lines that do get
written: errors, warnings, the node's JSON logs, the journal.
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import httpx
import pytest

from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.slow


def _secret(label: str) -> str:
    return f"{label}-{secrets.token_hex(12)}"


def _data_path_requests(stack: Stack, secret: str) -> None:
    headers = {"Authorization": f"Bearer {secret}", "X-Api-Key": secret, "Cookie": f"s={secret}"}
    with httpx.Client(base_url=stack.url, timeout=10) as client:
        assert client.get(f"/api/v11/info?token={secret}", headers=headers).status_code == 200
        client.get(f"/no/such/path?token={secret}&api_key={secret}", headers=headers)
        client.post(f"/api/v11/transactions?token={secret}", content=b"{not json", headers=headers)
        client.get(f"/admin/v11/status?token={secret}", headers=headers)
    # A request the router itself refuses (a malformed header): an error it might report.
    with socket.create_connection(("127.0.0.1", stack.router_port), timeout=10) as sock:
        bad = f"GET /x?token={secret} HTTP/1.1\r\nHost: r\r\nBad\x01: {secret}\r\n\r\n"
        sock.sendall(bad.encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 400")


def _control_requests(stack: Stack, secret: str, real_token: str) -> list[int]:
    sock = stack.root / "state" / "controller.sock"
    statuses = []
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), timeout=10) as client:
        for token in (secret, real_token):
            auth = {"Authorization": f"Bearer {token}"}
            for method, path, body in (
                ("GET", "/status", None),
                ("GET", "/history", None),
                ("POST", "/deploy", {"version": "no-such-release"}),
                ("POST", "/abort", {}),
            ):
                url = f"http://controller{path}?token={token}&access_token={token}"
                answer = client.request(method, url, json=body, headers=auth)
                statuses.append(answer.status_code)
    return statuses


def _files_holding(root: Path, needle: str, skip: set[Path]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path in skip or not path.is_file():
            continue
        if needle.encode() in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


def test_no_secret_sent_in_a_query_or_header_reaches_any_file(tmp_path: Path) -> None:
    data_secret, control_secret = _secret("data"), _secret("control")
    stack_gen = running_stack(tmp_path / "stack")
    stack = next(stack_gen)
    state = stack.root / "state"
    token_file = state / "admin.token"
    real_token = token_file.read_text().strip() if token_file.exists() else _secret("none")
    try:
        _data_path_requests(stack, data_secret)
        statuses = _control_requests(stack, control_secret, real_token)
        assert 401 in statuses  # the wrong token was refused...
        assert any(s < 300 for s in statuses)  # ...and the real one let requests through
    finally:
        next(stack_gen, None)  # v11ops down: every process flushes and exits
    logs = list((state / "logs").glob("*.log"))
    assert {p.name for p in logs} >= {"router.log", "controller.log"}, logs
    for needle in (data_secret, control_secret, real_token):
        assert not _files_holding(stack.root, needle, skip={token_file}), needle.split("-")[0]
