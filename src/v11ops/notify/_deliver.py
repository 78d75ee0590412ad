"""Delivery: a bounded queue and a background task per webhook, retries with exponential
backoff and jitter, bounded in attempts and in time.

Nothing here can block or fail a rollout: `Notifier.publish` only enqueues (it is called from
the controller's event loop, inside the journal), and a failed delivery is counted, logged and
recorded as an event, never raised. Webhook URLs are credentials (Slack's carry their token in
the path): logs and events name the webhook, never its URL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import structlog
from prometheus_client import Counter
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from v11ops.config import Config, ConfigError, Webhook, resolve_mapping, resolve_reference
from v11ops.notify._notice import About, Notice, notification_event
from v11ops.notify._payload import payload

log = structlog.get_logger("v11ops.notify")

OUTCOMES = ("delivered", "failed", "dropped")
NOTIFICATIONS = Counter(
    "v11ops_notifications_total",
    "Webhook notifications by outcome: delivered; failed (retries used up, or refused); "
    "dropped (queue full, or still undelivered at controller shutdown).",
    ["outcome"],
)
for _outcome in OUTCOMES:
    NOTIFICATIONS.labels(_outcome)


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix: network, timeout, 429 or 5xx."""


class _Refused(Exception):
    """The webhook answered that it will not take this request (3xx, 4xx other than 429)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    delivered: bool
    attempts: int
    error: str = ""  # why it was not delivered, never with the URL in it


def redact(text: str, url: str) -> str:
    """`text` without the URL or the parts of it that may hold a credential."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    secrets = [url, parts.netloc if parts.password else "", parts.path + query, parts.query]
    for secret in sorted((s for s in secrets if len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text


async def deliver(
    client: httpx.AsyncClient, webhook: Webhook, notice: Notice, *, config_dir: Path
) -> Delivery:
    """POST the notice to the webhook, retrying as it says; never raises for a delivery error."""
    where = f"notifications.webhooks.{webhook.name}"
    try:
        url = resolve_reference(webhook.url, config_dir, f"{where}.url")
        headers = resolve_mapping(webhook.headers, config_dir, f"{where}.headers")
    except ConfigError as exc:
        return Delivery(False, 0, str(exc))
    body = payload(webhook.format, notice)
    attempts = 0
    retrying = AsyncRetrying(
        stop=stop_after_attempt(webhook.retries + 1) | stop_before_delay(webhook.deadline_s),
        wait=wait_exponential(multiplier=webhook.backoff_s, max=webhook.max_backoff_s)
        + wait_random(0, webhook.backoff_s),
        retry=retry_if_exception_type(_Retry),
        reraise=True,
    )
    try:
        async with asyncio.timeout(webhook.deadline_s):  # a hard bound, sleeps and attempts
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    await _post(client, url, headers, body, webhook.timeout_s)
    except (_Retry, _Refused) as exc:
        return Delivery(False, attempts, redact(str(exc), url))
    except TimeoutError:
        return Delivery(
            False, attempts, f"no answer within its deadline of {webhook.deadline_s:g} s"
        )
    return Delivery(True, attempts)


async def _post(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    body: dict[str, Any],
    timeout_s: float,
) -> None:
    try:
        # httpx's timeout is per read; this one bounds a reply that trickles in, too.
        async with asyncio.timeout(timeout_s):
            response = await client.post(url, json=body, headers=headers, timeout=timeout_s)
    except (TimeoutError, httpx.TimeoutException):
        raise _Retry(f"no answer within {timeout_s:.3g} s") from None
    except httpx.HTTPError as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from None
    status = response.status_code
    if status == 429 or status >= 500:
        raise _Retry(f"HTTP {status}")
    if status >= 300:
        raise _Refused(f"HTTP {status}")


class EventRecorder(Protocol):
    """Where a failed delivery is recorded (the controller's state database)."""

    def event(self, deployment_id: int | None, kind: str, message: str, **data: Any) -> None: ...


class Notifier:
    """Sends deployment events to the configured webhooks, in the background.

    `config` is read on every event, so a reloaded config applies to the next one.
    """

    def __init__(self, config: Callable[[], Config], recorder: EventRecorder | None = None) -> None:
        self._config = config
        self._recorder = recorder
        self._channels: dict[str, _Channel] = {}
        self._client: asyncio.Future[httpx.AsyncClient] | None = None
        self._closed = False

    def wants(self, kind: str) -> bool:
        """True when some webhook takes the notification for this journal event kind."""
        event = notification_event(kind)
        webhooks = self._config().notifications.webhooks
        return event is not None and any(event in w.events for w in webhooks)

    def publish(self, about: About, kind: str, message: str, data: Mapping[str, Any]) -> None:
        """Queue the event for each webhook that takes it. Never waits and never raises."""
        event = notification_event(kind)
        if event is None:
            return
        config = self._config()
        notice = Notice(event, kind, about, config.service.name, message, dict(data))
        for webhook in config.notifications.webhooks:
            if event not in webhook.events:
                continue
            try:
                channel = self._channel(webhook, config.notifications.queue_size)
            except RuntimeError:  # closed, or called outside the controller's event loop
                NOTIFICATIONS.labels("dropped").inc()
                continue
            channel.put(notice)

    async def aclose(self, timeout_s: float | None = None) -> None:
        """Wait up to `timeout_s` (default: flush_timeout_s) for queued notifications to be
        delivered, then drop what is left."""
        self._closed = True
        if timeout_s is None:
            timeout_s = self._config().notifications.flush_timeout_s
        channels = list(self._channels.values())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*(c.queue.join() for c in channels))
        for channel in channels:
            if left := channel.queue.qsize() + int(channel.in_flight):
                NOTIFICATIONS.labels("dropped").inc(left)
                log.warning("notifications not delivered before shutdown",
                            webhook=channel.webhook.name, dropped=left)  # fmt: skip
            channel.task.cancel()
        await asyncio.gather(*(c.task for c in channels), return_exceptions=True)
        if self._client is not None:
            with contextlib.suppress(Exception):  # it may have failed to build: nothing to close
                await (await self._client).aclose()

    def _channel(self, webhook: Webhook, size: int) -> _Channel:
        if self._closed:
            raise RuntimeError("the notifier is closed")
        channel = self._channels.get(webhook.name)
        if channel is None:
            channel = self._channels[webhook.name] = _Channel(self, webhook, size)
        channel.webhook = webhook  # the config may have been reloaded
        return channel

    async def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Building a client costs 50-120 ms (its TLS context): not on the event loop.
            self._client = asyncio.ensure_future(asyncio.to_thread(httpx.AsyncClient))
        return await asyncio.shield(self._client)

    async def send(self, webhook: Webhook, notice: Notice) -> Delivery:
        """Deliver one notice now (retries included), count it, and record a failure."""
        try:
            client = await self._http()
            result = await deliver(client, webhook, notice, config_dir=self._config().config_dir)
        except Exception as exc:  # a bug here must not stop the webhook's queue
            result = Delivery(False, 0, f"internal error: {type(exc).__name__}")
        NOTIFICATIONS.labels("delivered" if result.delivered else "failed").inc()
        if not result.delivered:
            self._record_failure(webhook, notice, result)
        return result

    def _record_failure(self, webhook: Webhook, notice: Notice, result: Delivery) -> None:
        fields = {
            "webhook": webhook.name,
            "notification": notice.event,
            "attempts": result.attempts,
        }
        log.warning("notification not delivered", error=result.error, **fields)
        if self._recorder is None:
            return
        message = (f"webhook {webhook.name}: {notice.event} not delivered after "
                   f"{result.attempts} attempt(s): {result.error}")  # fmt: skip
        with contextlib.suppress(Exception):  # the state database may be closing
            self._recorder.event(notice.about.deployment_id, "notification_failed", message,
                                 error=result.error, **fields)  # fmt: skip


class _Channel:
    """One webhook's bounded queue (the oldest is dropped when full) and its delivery task."""

    def __init__(self, notifier: Notifier, webhook: Webhook, size: int) -> None:
        self.webhook = webhook
        self.queue: asyncio.Queue[Notice] = asyncio.Queue(size)
        self.in_flight = False
        self.task = asyncio.get_running_loop().create_task(
            self._run(notifier), name=f"notify {webhook.name}"
        )

    def put(self, notice: Notice) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.queue.task_done()
            NOTIFICATIONS.labels("dropped").inc()
            log.warning("notification queue full: dropped the oldest", webhook=self.webhook.name)
        self.queue.put_nowait(notice)

    async def _run(self, notifier: Notifier) -> None:
        while True:
            notice = await self.queue.get()
            self.in_flight = True
            try:
                await notifier.send(self.webhook, notice)
            finally:
                self.in_flight = False
                self.queue.task_done()
