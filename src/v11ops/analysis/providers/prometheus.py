"""The `prometheus` provider: PromQL over the Prometheus HTTP API, with the slots' names and
versions put in for `{{candidate.slot}}`, `{{candidate.version}}`, `{{stable.slot}}` and
`{{stable.version}}`. A query must come down to one number: a scalar or a one-series vector.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import httpx

from v11ops.analysis.context import AnalysisContext, SlotRef
from v11ops.analysis.judge import Observation, ProviderError, http_problem
from v11ops.config import PrometheusCheck, render_query


class MissingPlaceholder(ProviderError):
    """The query uses a placeholder with no value (e.g. `{{stable.slot}}` without a stable)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the query uses {{{{{name}}}}}, which has no value here")
        self.name = name


def slot_values(candidate: SlotRef | None, stable: SlotRef | None) -> dict[str, str | None]:
    """Placeholder values of the two slots (None where there is no slot)."""
    return {
        "candidate.slot": candidate.name if candidate else None,
        "candidate.version": candidate.version if candidate else None,
        "stable.slot": stable.name if stable else None,
        "stable.version": stable.version if stable else None,
    }


def render(query: str, values: Mapping[str, str | None]) -> str:
    """The query with the slots' names and versions put in."""
    try:
        return render_query(query, values)
    except KeyError as exc:
        raise MissingPlaceholder(str(exc.args[0])) from None


class PrometheusApi:
    """Instant and range queries; every failure is a ProviderError that says what happened."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def instant(self, query: str) -> float | None:
        """One number now; None for an empty vector."""
        data = await self._get("/api/v1/query", {"query": query})
        kind, result = data["resultType"], data["result"]
        if kind == "scalar":
            return float(result[1])
        if kind != "vector":
            raise ProviderError(f"the query returned a {kind}; it must return one number")
        return float(_one_series(result)["value"][1]) if result else None

    async def range(
        self, query: str, start: float, end: float, step_s: float
    ) -> dict[float, float]:
        """Timestamp (s, rounded to ms) -> value of the one series the query returns."""
        params = {"query": query, "start": start, "end": end, "step": step_s}
        data = await self._get("/api/v1/query_range", params)
        if data["resultType"] != "matrix":
            raise ProviderError(f"the range query returned a {data['resultType']}")
        if not data["result"]:
            return {}
        return {round(float(t), 3): float(v) for t, v in _one_series(data["result"])["values"]}

    async def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = await self._client.get(url, params=dict(params))
        except httpx.TimeoutException:
            raise ProviderError(f"Prometheus at {self.base_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"cannot reach Prometheus at {self.base_url}: {http_problem(exc)}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            raise ProviderError(
                f"{self.base_url} answered HTTP {response.status_code} without JSON; "
                "is it Prometheus?"
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", "no reason given") if isinstance(body, dict) else body
            kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
            raise ProviderError(f"Prometheus rejected the query ({kind}): {error}")
        return body["data"]


def _one_series(result: list[dict[str, Any]]) -> dict[str, Any]:
    if len(result) > 1:
        labels = ", ".join(f'{k}="{v}"' for k, v in result[0]["metric"].items())
        raise ProviderError(
            f"the query returned {len(result)} series (e.g. {{{labels}}}); "
            "aggregate them to one, e.g. with sum() or max()"
        )
    return result[0]


class PrometheusProvider:
    """An instant query at each measurement, plus `samples_query` for the sample gate."""

    def __init__(self, check: PrometheusCheck, ctx: AnalysisContext) -> None:
        self.check = check
        self.address = check.address or ctx.prometheus_url
        self._values = slot_values(ctx.candidate, ctx.stable)
        try:
            self.query = render(check.query, self._values)
        except MissingPlaceholder:
            self.query = check.query
        self._api = PrometheusApi(self.address, check.timeout_s) if self.address else None

    async def begin(self) -> None:
        return None

    async def observe(self) -> Observation:
        if self._api is None:
            raise ProviderError(
                "no Prometheus to ask: set `address` on the check, or configure monitoring"
            )
        query = render(self.check.query, self._values)
        value = await self._api.instant(query)
        samples = None
        details: dict[str, Any] = {"prometheus": self._api.base_url}
        if self.check.samples_query is not None:
            samples_query = render(self.check.samples_query, self._values)
            counted = await self._api.instant(samples_query)
            samples = 0 if counted is None or math.isnan(counted) else round(counted)
            details["samples_query"] = samples_query
        return Observation(value, samples, details)

    def advance(self) -> None:
        return None

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()
