"""`analysis:` named templates of checks that judge a canary (Argo Rollouts' AnalysisTemplate).

A check measures `count` times, one measurement at the end of each `interval_s`, and each
measurement is successful, failed, inconclusive or an error. Conditions are comparisons of
`result` with numbers (`result <= 0.02`, `result > 0.1 and result < 0.5`), parsed here and never
evaluated as code. The built-in templates are always available unless redefined.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from v11ops.config._base import Model

# -- conditions --------------------------------------------------------------------------------

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, ">": operator.gt,
}  # fmt: skip
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_COMPARISON = re.compile(rf"^result\s*(<=|>=|==|!=|<|>)\s*({_NUMBER})$")


@dataclass(frozen=True)
class Condition:
    """`result OP number` comparisons joined by `and` / `or` (`and` binds tighter)."""

    text: str
    any_of: tuple[tuple[tuple[str, float], ...], ...]

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse a condition; ValueError says what a condition looks like."""
        any_of = []
        for alternative in re.split(r"\s+or\s+", text.strip()):
            all_of = []
            for part in re.split(r"\s+and\s+", alternative):
                match = _COMPARISON.match(part.strip())
                if match is None:
                    raise ValueError(
                        f"cannot read condition {text!r} at {part.strip()!r}: write comparisons "
                        "of result with numbers, e.g. 'result <= 0.02' or "
                        "'result > 0 and result < 0.5'"
                    )
                all_of.append((match[1], float(match[2])))
            any_of.append(tuple(all_of))
        return cls(text.strip(), tuple(any_of))

    def holds(self, result: float) -> bool:
        """True when `result` satisfies the condition (NaN satisfies nothing but `!=`)."""
        return any(all(_OPS[op](result, bound) for op, bound in alt) for alt in self.any_of)


def _check_condition(text: str | None) -> str | None:
    if text is not None:
        try:
            Condition.parse(text)
        except ValueError as exc:
            raise PydanticCustomError("condition", str(exc)) from None
    return text


ConditionText = Annotated[str | None, AfterValidator(_check_condition)]

# -- Prometheus query placeholders ---------------------------------------------------------------

QUERY_PLACEHOLDERS = ("candidate.slot", "candidate.version", "stable.slot", "stable.version")
# `{{name}}`: PromQL uses single braces for label matchers, so double braces never clash.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def _check_query(query: str | None) -> str | None:
    if query is None:
        return None
    for name in PLACEHOLDER.findall(query):
        if name not in QUERY_PLACEHOLDERS:
            known = ", ".join("{{" + p + "}}" for p in QUERY_PLACEHOLDERS)
            raise PydanticCustomError(
                "placeholder",
                "unknown placeholder {name} (known: {known})",
                {"name": "{{" + name + "}}", "known": known},
            )
    if "{{" in PLACEHOLDER.sub("", query) or "}}" in PLACEHOLDER.sub("", query):
        raise PydanticCustomError("placeholder", "unbalanced {{ or }} in the query")
    return query


QueryText = Annotated[str, AfterValidator(_check_query)]


def render_query(query: str, values: Mapping[str, str | None]) -> str:
    """Put slot names and versions in (escaped for a PromQL string); KeyError(name) for a
    placeholder whose value is None or missing."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match[1])
        if value is None:
            raise KeyError(match[1])
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return PLACEHOLDER.sub(fill, query)


# -- checks ------------------------------------------------------------------------------------

OnResult = Literal["inconclusive", "failed", "successful"]
TrafficMetric = Literal["error_rate", "success_rate", "latency", "throughput"]
_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class _Schedule(Model):
    """When a check measures and how many bad measurements it tolerates."""

    name: str = Field(pattern=_NAME, description="lowercase letters, digits, . _ -")
    interval_s: float = Field(default=10.0, gt=0, description="a measurement ends each interval")
    count: int = Field(default=6, ge=1, description="measurements that decide (errors excluded)")
    initial_delay_s: float = Field(default=0.0, ge=0, description="wait before the first interval")
    failure_limit: int = Field(default=0, ge=0, description="more failed measurements: failed")
    inconclusive_limit: int = Field(
        default=0, ge=0, description="more inconclusive measurements: inconclusive (pause)"
    )
    error_limit: int = Field(
        default=2, ge=0, description="more provider errors (unreachable, bad query): on_error"
    )
    on_error: Literal["inconclusive", "failed"] = Field(
        default="inconclusive", description="the check's phase once error_limit is exceeded"
    )


class _MetricCheck(_Schedule):
    """A check whose measurement is one number, `result`, judged by the conditions."""

    success_condition: ConditionText = Field(default=None, description="e.g. result <= 0.02")
    failure_condition: ConditionText = Field(default=None, description="e.g. result > 0.1")
    min_samples: int = Field(
        default=0, ge=0, description="fewer requests behind a measurement: inconclusive"
    )
    on_empty: OnResult = Field(default="inconclusive", description="verdict of an empty result")
    on_nan: OnResult = Field(default="inconclusive", description="verdict of a NaN result (0/0)")
    top_up: bool = Field(
        default=True, description="too few requests: ask for synthetic traffic, then re-measure"
    )
    top_up_wait_s: float = Field(
        default=5.0, ge=0, description="how long the provider may take to see the top-up"
    )

    @model_validator(mode="after")
    def _has_a_condition(self) -> Any:
        if self.success_condition is None and self.failure_condition is None:
            raise ValueError("give success_condition, failure_condition or both")
        return self

    def success(self) -> Condition | None:
        """The parsed success condition."""
        return None if self.success_condition is None else Condition.parse(self.success_condition)

    def failure(self) -> Condition | None:
        """The parsed failure condition."""
        return None if self.failure_condition is None else Condition.parse(self.failure_condition)

    def conditions_text(self) -> str:
        """`success: result <= 0.02; failure: result > 0.1` (the ones that are set)."""
        labelled = (("success", self.success_condition), ("failure", self.failure_condition))
        return "; ".join(f"{label}: {text}" for label, text in labelled if text is not None)


class _TrafficCheck(_MetricCheck):
    """Request counters of one slot: error_rate and success_rate (shares), latency (a quantile
    in seconds) or throughput (requests per second)."""

    metric: TrafficMetric
    quantile: float = Field(default=0.99, gt=0, lt=1, description="for metric: latency")
    slot: Literal["candidate", "stable"] = "candidate"


class RouterCheck(_TrafficCheck):
    """The builtin router's own per-slot counters, between two snapshots."""

    kind: Literal["router"]


class ScrapeCheck(_TrafficCheck):
    """The slot's metrics page, scraped twice; rates from the counter deltas."""

    kind: Literal["scrape"]
    histogram: str = Field(
        default="http_server_requests_seconds",
        pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$",
        description="request-duration histogram of the service",
    )
    status_label: str = Field(default="status", description="label holding the HTTP status")
    match: dict[str, str] = Field(
        default_factory=dict, description="label -> regex that must match (whole value)"
    )
    exclude: dict[str, str] = Field(
        default_factory=lambda: {"uri": "/q/.*"},
        description="label -> regex of series left out (default: health and metrics paths)",
    )
    timeout_s: float = Field(default=5.0, gt=0)

    @field_validator("match", "exclude")
    @classmethod
    def _regexes_compile(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise PydanticCustomError(
                    "regex", "not a valid regex: {error}", {"key": label, "error": str(exc)}
                ) from None
        return value


class PrometheusCheck(_MetricCheck):
    """An instant PromQL query; it must return one number (a scalar or a one-series vector).
    Placeholders: {{candidate.slot}}, {{candidate.version}}, {{stable.slot}}, {{stable.version}}."""

    kind: Literal["prometheus"]
    query: QueryText = Field(min_length=1)
    samples_query: QueryText | None = Field(
        default=None, description="PromQL counting the requests behind `query` (for min_samples)"
    )
    address: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/.*)?$",
        description="Prometheus base URL; default: the deployment's (monitoring) Prometheus",
    )
    timeout_s: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _min_samples_has_a_source(self) -> Any:
        if self.min_samples and self.samples_query is None:
            raise ValueError("min_samples needs samples_query (PromQL counting the requests)")
        return self


class MannWhitneyCheck(_Schedule):
    """Candidate versus stable latency: `samples` identical requests to each slot, sent in
    pairs at the same moment, compared with a one-sided Mann-Whitney U test. Failed only when
    the candidate is slower by all three measures: p-value, effect size and median ratio."""

    kind: Literal["mann_whitney"]
    count: int = Field(default=1, ge=1)
    interval_s: float = Field(default=5.0, gt=0)
    path: str = Field(default="/api/v11/info", pattern=r"^/", description="request path to probe")
    samples: int = Field(default=100, ge=2, le=10_000, description="requests to each slot")
    min_samples: int = Field(
        default=30, ge=2, description="fewer 2xx answers from a slot: inconclusive"
    )
    max_p_value: float = Field(
        default=0.01, gt=0, lt=1, description="significance of 'candidate is slower'"
    )
    min_effect_size: float = Field(
        default=0.75,
        gt=0.5,
        le=1,
        description="common-language effect size: P(a candidate request is slower than a stable "
        "one); 0.5 = no difference",
    )
    min_slowdown: float = Field(
        default=1.2, ge=1, description="candidate median / stable median at least this"
    )
    timeout_s: float = Field(default=5.0, gt=0, description="per request")

    @model_validator(mode="after")
    def _enough_samples(self) -> Any:
        if self.min_samples > self.samples:
            raise ValueError("min_samples is larger than samples")
        return self


def _kind(value: Any) -> str | None:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


AnalysisCheck = Annotated[
    Annotated[RouterCheck, Tag("router")]
    | Annotated[ScrapeCheck, Tag("scrape")]
    | Annotated[PrometheusCheck, Tag("prometheus")]
    | Annotated[MannWhitneyCheck, Tag("mann_whitney")],
    Discriminator(
        _kind,
        custom_error_type="kind",
        custom_error_message="expected kind: router, scrape, prometheus or mann_whitney",
    ),
]
MetricCheck = RouterCheck | ScrapeCheck | PrometheusCheck
CHECK_TAGS = frozenset({"router", "scrape", "prometheus", "mann_whitney"})


class AnalysisTemplate(Model):
    """Checks run together; the first failed check fails the analysis."""

    description: str = ""
    checks: list[AnalysisCheck] = Field(min_length=1)

    @field_validator("checks")
    @classmethod
    def _names_are_unique(cls, checks: list[AnalysisCheck]) -> list[AnalysisCheck]:
        names = [c.name for c in checks]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two checks are named {name!r}")
        return checks


def builtin_templates() -> dict[str, AnalysisTemplate]:
    """error-rate, latency and latency-vs-baseline, from the router's counters and probes.

    error-rate: 2 % on at least 50 requests needs 2 errors to fail, which a healthy service
    (< 0.1 % errors) shows in about 1 of 1000 measurements; a release with 5 % errors fails
    about 7 in 10. Two failed measurements are needed (failure_limit 1)."""
    return {
        "error-rate": AnalysisTemplate(
            description="share of the canary's requests answered 5xx, from the router's counters",
            checks=[
                RouterCheck(
                    name="error-rate",
                    kind="router",
                    metric="error_rate",
                    success_condition="result <= 0.02",
                    min_samples=50,
                    failure_limit=1,
                )
            ],
        ),
        "latency": AnalysisTemplate(
            description="p99 latency of the canary's requests (seconds), from the router",
            checks=[
                RouterCheck(
                    name="p99-latency",
                    kind="router",
                    metric="latency",
                    quantile=0.99,
                    success_condition="result <= 0.5",
                    min_samples=50,
                    failure_limit=1,
                )
            ],
        ),
        "latency-vs-baseline": AnalysisTemplate(
            description="canary slower than the stable slot? Mann-Whitney U on paired probes",
            checks=[MannWhitneyCheck(name="latency-vs-baseline", kind="mann_whitney")],
        ),
    }


_TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def with_builtin_templates(templates: dict[str, AnalysisTemplate]) -> dict[str, AnalysisTemplate]:
    """The built-in templates plus the configured ones (a configured name replaces a built-in)."""
    for name in templates:
        if not _TEMPLATE_NAME.fullmatch(name):
            raise PydanticCustomError(
                "template_name",
                "not a valid template name (lowercase letters, digits, . _ -)",
                {"key": name},
            )
    return {**builtin_templates(), **templates}


AnalysisTemplates = Annotated[dict[str, AnalysisTemplate], AfterValidator(with_builtin_templates)]
