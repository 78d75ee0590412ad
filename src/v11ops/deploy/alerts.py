"""Alert-driven rollback: the controller's TCP listener takes Alertmanager's webhooks, keeps the
alerts that fire, and the post-switch window fails on one about the new release.

An alert is about the new release when its `slot` and `version` labels are the candidate's (the
scrape targets carry them) and it started firing after the deployment began (an older alert is
about an earlier instance). The listener also serves the controller's /metrics to Prometheus.
Both paths need the bearer token; the token never reaches a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import structlog
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from v11ops.config import WindowAlerts
from v11ops.monitoring.stack import WEBHOOK_PATH, listener_address, listener_token

if TYPE_CHECKING:
    from v11ops.deploy.controller import Controller

log = structlog.get_logger("v11ops.alerts")

WEBHOOKS = Counter(
    "v11ops_alert_webhooks",
    "Alertmanager webhook requests to the controller, by outcome",
    ["outcome"],  # accepted, unauthorized, invalid
)


class WebhookAlert(BaseModel):
    """One alert of an Alertmanager webhook (payload version 4)."""

    model_config = ConfigDict(populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    fingerprint: str = ""

    @property
    def key(self) -> str:
        return self.fingerprint or repr(sorted(self.labels.items()))

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")

    def firing_at(self, now: datetime) -> bool:
        """Firing, and not past its end (Alertmanager sends year 1 for "no end known")."""
        ended = self.ends_at is not None and self.ends_at.year > 1 and self.ends_at <= now
        return self.status == "firing" and not ended


class WebhookPayload(BaseModel):
    receiver: str = ""
    status: str = ""
    alerts: list[WebhookAlert]


class AlertInbox:
    """The alerts that fire now, as Alertmanager told the controller (resolved ones leave)."""

    def __init__(self) -> None:
        self._firing: dict[str, WebhookAlert] = {}

    def receive(self, payload: WebhookPayload) -> list[WebhookAlert]:
        """Take a webhook in; return the alerts whose state changed (new firing, resolved)."""
        now = datetime.now(UTC)
        changed = []
        for alert in payload.alerts:
            if alert.firing_at(now):
                if alert.key not in self._firing:
                    changed.append(alert)
                self._firing[alert.key] = alert
            elif self._firing.pop(alert.key, None) is not None:
                changed.append(alert)
        return changed

    def firing(self) -> list[WebhookAlert]:
        """Alerts still firing; those past their end without a resolved notification leave."""
        now = datetime.now(UTC)
        for key in [k for k, a in self._firing.items() if not a.firing_at(now)]:
            del self._firing[key]
        return list(self._firing.values())

    def about(
        self, slot: str, version: str, since: float, severities: list[str]
    ) -> WebhookAlert | None:
        """The first firing alert about this release with one of these severities."""
        for a in self.firing():
            if (
                a.labels.get("slot") == slot
                and a.labels.get("version") == version
                and a.labels.get("severity") in severities
                and a.starts_at.timestamp() >= since
            ):
                return a
        return None


AlertCheck = Callable[[], tuple[str, Any, str] | None]


def window_alert_check(ctl: Controller, deployment_id: int, slot: str, version: str) -> AlertCheck:
    """For the post-switch window: (check, observed, expected) of a firing alert about the new
    release, or None. The policy is read on each call (the config may be reloaded)."""
    dep = ctl.state.deployment(deployment_id)
    since = dep.started_at if dep is not None else 0.0

    def check() -> tuple[str, Any, str] | None:
        policy: WindowAlerts = ctl.config.monitoring.window_alerts
        if not policy.rollback:
            return None
        alert = ctl.alerts.about(slot, version, since, list(policy.severities))
        if alert is None:
            return None
        expected = f"no {'/'.join(policy.severities)} alert about slot {slot} version {version}"
        return "alert", _evidence(alert), expected

    return check


def _evidence(alert: WebhookAlert) -> dict[str, Any]:
    return {
        "alertname": alert.name,
        "severity": alert.labels.get("severity"),
        "summary": alert.annotations.get("summary"),
        "starts_at": alert.starts_at.isoformat(),
        "fingerprint": alert.fingerprint,
        "labels": alert.labels,
        "annotations": alert.annotations,
    }


def build_listener_app(ctl: Controller, token: str) -> Starlette:
    """POST the webhook path (Alertmanager), GET /metrics (Prometheus); both with the token."""
    expected = f"Bearer {token}".encode()

    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    def unauthorized(request: Request) -> Response:
        WEBHOOKS.labels("unauthorized").inc()
        client = request.client.host if request.client else "?"
        log.warning("refused a request without a valid bearer token", path=request.url.path,
                    client=client)  # fmt: skip
        return JSONResponse({"error": "a valid bearer token is required"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    async def webhook(request: Request) -> Response:
        if not authorized(request):
            return unauthorized(request)
        try:
            payload = WebhookPayload.model_validate_json(await request.body())
        except ValidationError as exc:
            WEBHOOKS.labels("invalid").inc()
            return JSONResponse({"error": f"not an Alertmanager webhook: {exc.errors()[0]}"},
                                status_code=400)  # fmt: skip
        WEBHOOKS.labels("accepted").inc()
        for alert in ctl.alerts.receive(payload):
            _record(ctl, alert)
        return JSONResponse({"ok": True})

    async def metrics(request: Request) -> Response:
        if not authorized(request):
            return unauthorized(request)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route("/metrics", metrics),
        ]
    )


def _record(ctl: Controller, alert: WebhookAlert) -> None:
    """Put the alert on the timeline: of the running deployment, if there is one."""
    running = ctl.state.unfinished()
    labels = alert.labels
    where = f" on slot {labels['slot']} ({labels.get('version')})" if "slot" in labels else ""
    ctl.state.event(
        running[-1].id if running else None,
        f"alert_{alert.status}",
        f"{alert.name} ({labels.get('severity', '?')}) {alert.status}{where}",
        alert=_evidence(alert),
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the daemon owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def start_listener(ctl: Controller) -> Callable[[], Awaitable[None]] | None:
    """Bind the listener when `monitoring.webhook.listen` is set; return what stops it.

    A bind failure is raised (the controller does not start): a controller that silently
    ignores the alerts meant to roll a bad release back is worse than one that says so.
    """
    address = listener_address(ctl.config)
    if address is None:
        return None
    token = listener_token(ctl.config)
    host, port = address
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(
            f"cannot listen for Alertmanager webhooks on {host}:{port} ({exc.strerror}); "
            "set monitoring.webhook.listen to a free address"
        ) from None
    app = build_listener_app(ctl, token)
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    log.info("listening for Alertmanager webhooks", address=f"{host}:{port}")

    async def stop() -> None:
        server.should_exit = True
        await serving
        sock.close()

    return stop
