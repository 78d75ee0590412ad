"""The `scrape` provider: GET the slot's metrics page, read its request-duration histogram, and
compute rates from the counter deltas between two scrapes (no Prometheus needed).

A counter that went down means the instance restarted; as Prometheus does, the delta is then
the counter's new value.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from v11ops.analysis.context import AnalysisContext
from v11ops.analysis.judge import Observation, ProviderError, http_problem
from v11ops.analysis.traffic import TrafficDelta, metric_expression
from v11ops.config import ScrapeCheck


@dataclass(frozen=True)
class Page:
    """One scrape reduced to the selected series of the histogram, summed."""

    at: float
    requests: int = 0
    errors_5xx: int = 0
    buckets: dict[float, int] = field(default_factory=dict)  # le -> cumulative count

    def since(self, earlier: Page) -> tuple[TrafficDelta, bool]:
        """The delta to `earlier`, and whether a counter reset was seen."""
        reset = self.requests < earlier.requests
        base = Page(earlier.at) if reset else earlier
        bounds = tuple(sorted(self.buckets))
        delta = TrafficDelta(
            requests=self.requests - base.requests,
            errors_5xx=self.errors_5xx - base.errors_5xx,
            bounds=bounds,
            cumulative=tuple(self.buckets[b] - base.buckets.get(b, 0) for b in bounds),
            window_s=self.at - earlier.at,
        )
        return delta, reset


def read_page(text: str, check: ScrapeCheck, at: float) -> Page | None:
    """Sum the histogram's series that pass `match` and `exclude`; None if it is missing."""
    match = {k: re.compile(v) for k, v in check.match.items()}
    exclude = {k: re.compile(v) for k, v in check.exclude.items()}

    def selected(labels: dict[str, str]) -> bool:
        return all(p.fullmatch(labels.get(k, "")) for k, p in match.items()) and not any(
            p.fullmatch(labels.get(k, "")) for k, p in exclude.items()
        )

    found = False
    requests = errors = 0
    buckets: dict[float, int] = {}
    for family in text_string_to_metric_families(text):
        if family.name != check.histogram or family.type != "histogram":
            continue
        found = True
        for sample in family.samples:
            if not selected(sample.labels):
                continue
            count = round(sample.value)
            if sample.name.endswith("_count"):
                requests += count
                if sample.labels.get(check.status_label, "").startswith("5"):
                    errors += count
            elif sample.name.endswith("_bucket"):
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0) + count
    return Page(at, requests, errors, buckets) if found else None


class ScrapeProvider:
    """Traffic of one slot from two scrapes of its metrics page."""

    def __init__(self, check: ScrapeCheck, ctx: AnalysisContext) -> None:
        self.check = check
        slot = ctx.slot(check.slot)
        self.url = f"{slot.base_url.rstrip('/')}{ctx.metrics_path}" if slot else None
        name = slot.name if slot else check.slot
        self.query = (
            f"scrape {self.url or '(no ' + check.slot + ' slot)'}: "
            f"{metric_expression(check, name)} from {check.histogram}"
        )
        self._client = httpx.AsyncClient(timeout=check.timeout_s)
        self._base: Page | None = None
        self._last: Page | None = None

    async def begin(self) -> None:
        try:
            self._base = await self._scrape()
        except ProviderError:
            self._base = None

    async def observe(self) -> Observation:
        now = await self._scrape()
        if self._base is None:
            self._base = now
            raise ProviderError(
                f"no earlier scrape of {self.url} to compare with; counting from now"
            )
        self._last = now
        delta, reset = now.since(self._base)
        details = delta.details() | ({"counter_reset": True} if reset else {})
        metric = self.check.metric
        return Observation(delta.value(metric, self.check.quantile), delta.samples(metric), details)

    def advance(self) -> None:
        if self._last is not None:
            self._base = self._last

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _scrape(self) -> Page:
        if self.url is None:
            raise ProviderError(f"the check reads the {self.check.slot} slot, and there is none")
        try:
            response = await self._client.get(self.url)
        except httpx.HTTPError as exc:
            raise ProviderError(f"cannot scrape {self.url}: {http_problem(exc)}") from None
        if response.status_code != 200:
            raise ProviderError(f"scraping {self.url} answered HTTP {response.status_code}")
        try:
            page = read_page(response.text, self.check, time.monotonic())
        except (ValueError, KeyError) as exc:
            raise ProviderError(f"{self.url} is not a Prometheus metrics page: {exc}") from None
        if page is None:
            raise ProviderError(
                f"{self.url} has no histogram {self.check.histogram}; set `histogram` to the "
                "service's request-duration histogram"
            )
        return page
