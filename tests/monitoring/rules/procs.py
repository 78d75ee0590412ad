"""Real Prometheus, Alertmanager and node-exporter processes on loopback for tests, and the
receivers they deliver to: a webhook inbox (HTTP) and a mailbox (aiosmtpd SMTP server)."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.services import require_binary
from v11ops.monitoring.rules.routing import (
    AlertmanagerParams,
    Chat,
    Email,
    Timing,
    Webhook,
    render_alertmanager_config,
)
from v11ops.runtime import free_port

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "monitoring" / "alertmanager" / "templates"
# Notify at once and on every change; never repeat within a test.
FAST = Timing(group_wait="0s", group_interval="1s", repeat_interval="1h")


@dataclass
class Received:
    at: float  # time.monotonic() on arrival
    path: str
    body: dict[str, Any]


class Inbox:
    """Every JSON body POSTed to a local HTTP server, by path; tests wait for the one they want."""

    def __init__(self) -> None:
        self.items: list[Received] = []
        self._cond = threading.Condition()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with inbox._cond:
                    inbox.items.append(Received(time.monotonic(), self.path, body))
                    inbox._cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Inbox:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(
        self, path: str, match: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> Received:
        """The first body POSTed to `path` that `match` accepts, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.items:
                    if item.path == path and match(item.body):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(i.path, _summary(i.body)) for i in self.items]
                    raise AssertionError(f"nothing matching on {path} in {timeout}s; got {seen}")
                self._cond.wait(left)


def _summary(body: dict[str, Any]) -> str:
    alerts = body.get("alerts", [])
    names = [a.get("labels", {}).get("alertname") for a in alerts if isinstance(a, dict)]
    return f"{body.get('status', '?')} {names or body.get('attachments', '')}"


@dataclass
class Mailbox:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""

    messages: list[EmailMessage] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.content
        raw = data if isinstance(data, bytes) else str(data).encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    @contextmanager
    def running(self) -> Iterator[Mailbox]:
        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        try:
            yield self
        finally:
            controller.stop()

    def wait_for(
        self, match: Callable[[EmailMessage], bool], timeout: float = 30.0
    ) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.messages):
                if match(message):
                    return message
            time.sleep(0.05)
        subjects = [m["Subject"] for m in self.messages]
        raise AssertionError(f"no matching mail in {timeout}s; got {subjects}")


def fast_alertmanager_params(inbox: Inbox, mailbox: Mailbox) -> AlertmanagerParams:
    """The production routing tree with every receiver on loopback and fast timings."""
    return AlertmanagerParams.model_validate(
        {
            "pager": Webhook(url=f"{inbox.url}/pager", timing=FAST),
            "chat": Chat(api_url=f"{inbox.url}/chat", timing=FAST),
            "ticket": Email.model_validate(
                {
                    "to": "tickets@v11.test",
                    "from": "alertmanager@v11.test",
                    "smarthost": f"127.0.0.1:{mailbox.port}",
                    "require_tls": False,
                    "timing": FAST,
                }
            ),
            "deadmans_switch": Webhook(url=f"{inbox.url}/deadmans-switch", timing=FAST),
            "default": Webhook(url=f"{inbox.url}/default", timing=FAST),
        }
    )


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


@contextmanager
def _running(args: list[str], url: str, ready_path: str, log: Path) -> Iterator[Server]:
    """Start `args`, wait until `url + ready_path` answers 200, stop it (TERM, then KILL)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"{args[0]} exited with {proc.returncode}: {_tail(log)}")
            try:
                if httpx.get(url + ready_path, timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{args[0]} not ready in 30 s: {_tail(log)}")
            time.sleep(0.05)
        yield Server(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-15:])


@contextmanager
def alertmanager(workdir: Path, params: AlertmanagerParams) -> Iterator[Server]:
    """A real Alertmanager (no clustering) with the rendered config and the repo's templates."""
    binary = require_binary("prometheus-alertmanager")
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(TEMPLATES, workdir / "templates", dirs_exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(render_alertmanager_config(params))
    port = free_port()
    args = [
        binary, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
    ]  # fmt: skip
    with _running(args, f"http://127.0.0.1:{port}", "/-/ready", workdir / "alertmanager.log") as s:
        yield s


@contextmanager
def prometheus(
    workdir: Path, rules_dir: Path, alertmanager_url: str, jobs: list[dict[str, Any]]
) -> Iterator[Server]:
    """A real Prometheus that scrapes and evaluates every second and alerts `alertmanager_url`."""
    binary = require_binary("prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
        "rule_files": [str(rules_dir / "*.yml")],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [alertmanager_url.removeprefix("http://")]}]}
            ]
        },
        "scrape_configs": jobs,
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    args = [
        binary, f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s",
    ]  # fmt: skip
    with _running(args, f"http://127.0.0.1:{port}", "/-/ready", workdir / "prometheus.log") as s:
        yield s


@contextmanager
def node_exporter(workdir: Path, textfile_dir: Path | None = None) -> Iterator[Server]:
    binary = require_binary("prometheus-node-exporter")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [binary, f"--web.listen-address=127.0.0.1:{port}"]
    if textfile_dir is not None:
        args.append(f"--collector.textfile.directory={textfile_dir}")
    with _running(args, f"http://127.0.0.1:{port}", "/metrics", workdir / "ne.log") as s:
        yield s


def post_alerts(am_url: str, *alerts: dict[str, Any]) -> None:
    """Send alerts to Alertmanager's API the way Prometheus does."""
    body = [
        {"labels": a["labels"], "annotations": a.get("annotations", {}), "generatorURL": ""}
        for a in alerts
    ]
    httpx.post(f"{am_url}/api/v2/alerts", json=body, timeout=5).raise_for_status()
