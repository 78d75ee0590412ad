"""Multi-window, multi-burn-rate SLO alerts (Google SRE workbook, "Alerting on SLOs"),
generated from an SLO spec (monitoring/prometheus/slo.yaml).

For each SLO: recording rules with the error ratio and the request rate over every window the
alerts use, and one alert name with three rules. A page when the error budget burns 14.4 times
too fast over 1 h and still over the last 5 m (2 % of a 30-day budget spent in an hour), or 6
times over 6 h and 30 m (5 % in 6 hours); a ticket when it burns at 1x over 3 days and 6 hours
(10 % in 3 days). The short window makes the alert stop soon after the problem does.

Low traffic: with a handful of requests one error is a large ratio, and Sloth and Pyrra page on
it. Here each alert also needs `min_requests` requests in its long window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Annotated

import yaml
from pydantic import Field, ValidationError, field_validator

from v11ops.monitoring.rules.params import Model, ParamsError, RuleParams, first_problem
from v11ops.monitoring.rules.rulefile import Alert, Group, Priority, Recording, Severity

PERIOD_HOURS = 30 * 24  # the error budget's period: 30 days
ERROR_RATIO = "slo:sli_error:ratio_rate"
REQUEST_RATE = "slo:sli_requests:rate"


@dataclass(frozen=True)
class BurnWindow:
    long: str
    short: str
    factor: float
    for_: str
    severity: Severity
    priority: Priority
    hours: float  # the long window in hours

    @property
    def budget_share(self) -> float:
        """Share of the period's error budget spent over the long window at this burn rate."""
        return self.factor * self.hours / PERIOD_HOURS


BURN_WINDOWS = (
    BurnWindow("1h", "5m", 14.4, "2m", "critical", "P0", 1),
    BurnWindow("6h", "30m", 6, "15m", "critical", "P0", 6),
    BurnWindow("3d", "6h", 1, "1h", "warning", "P2", 72),
)
WINDOWS = ("5m", "30m", "1h", "6h", "3d")  # every window the burn windows use


class Slo(Model):
    """One objective: the share of good requests over 30 days, and how to count bad ones."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    alert: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$")]
    objective: Annotated[float, Field(gt=0, lt=1)]
    bad_events: str = Field(description="what counts as an error, in words (for people)")
    errors: str = Field(description="PromQL: bad events per second over ${window}")
    total: str = Field(description="PromQL: all events per second over ${window}")
    min_requests: Annotated[int, Field(ge=1)] = 100

    @field_validator("errors", "total")
    @classmethod
    def _templated(cls, query: str) -> str:
        if "${window}" not in query:
            raise ValueError("must use ${window}, the window each recording rule fills in")
        try:
            Template(query).substitute(window="5m", node_job="job")
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"unknown placeholder {exc}; use ${{window}} or ${{node_job}}"
            ) from None
        return query


class SloSpec(Model):
    slos: list[Slo] = Field(min_length=1)


def load_slo_spec(path: Path) -> SloSpec:
    """Read and validate an SLO spec; a ParamsError names the file and the field."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read the SLO spec ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    try:
        return SloSpec.model_validate(data)
    except ValidationError as exc:
        raise ParamsError(f"{path}: {first_problem(exc)}") from None


def slo_groups(spec: SloSpec, p: RuleParams) -> list[Group]:
    """Per SLO a group of recording rules and a group of its alerts."""
    groups: list[Group] = []
    for slo in spec.slos:
        groups.append(Group(f"slo.{slo.name}.recording", _recordings(slo, p)))
        groups.append(Group(f"slo.{slo.name}.alerts", [_alert(slo, w) for w in BURN_WINDOWS]))
    return groups


def _recordings(slo: Slo, p: RuleParams) -> list[Recording]:
    labels = {"slo": slo.name}
    rules: list[Recording] = []
    for i, window in enumerate(WINDOWS):
        errors = Template(slo.errors).substitute(window=window, node_job=p.node_job).strip()
        total = Template(slo.total).substitute(window=window, node_job=p.node_job).strip()
        why = f"SLO {slo.name}: error ratio and request rate over each window." if i == 0 else ""
        ratio = f"(\n  {errors}\n)\n/\n(\n  {total}\n)"
        rules.append(Recording(f"{ERROR_RATIO}{window}", ratio, why, labels))
        rules.append(Recording(f"{REQUEST_RATE}{window}", total, "", labels))
    return rules


def _alert(slo: Slo, w: BurnWindow) -> Alert:
    sel = f'{{slo="{slo.name}"}}'
    threshold = f"{w.factor * (1 - slo.objective):g}"
    seconds = int(w.hours * 3600)
    objective = f"{slo.objective * 100:g} %"
    kind = "Page" if w.severity == "critical" else "Ticket"
    return Alert(
        slo.alert,
        f"{ERROR_RATIO}{w.long}{sel} > {threshold}\nand\n"
        f"{ERROR_RATIO}{w.short}{sel} > {threshold}\nand\n"
        f"{REQUEST_RATE}{w.long}{sel} * {seconds} >= {slo.min_requests}",
        w.for_,
        w.severity,
        w.priority,
        f"SLO {slo.name} ({objective}) burns its error budget {w.factor:g}x too fast.",
        f"Error ratio {{{{ $value | humanizePercentage }}}} over the last {w.long} (and over "
        f"the last {w.short}) for SLO {{{{ $labels.slo }}}}, counting {slo.bad_events}. At "
        f"this rate {w.budget_share * 100:g} % of the 30-day error budget is gone in {w.long}.",
        f"{kind}: burn rate {w.factor:g}x over {w.long}, confirmed over {w.short} "
        f"(SRE workbook), and at least {slo.min_requests} requests in {w.long}.",
        {"long": w.long, "short": w.short},
    )
