"""`strategy:` the default strategy and the settings of each: blue-green, canary, rolling."""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import Field, model_validator

from v11ops.config._base import Model

StrategyName = Literal["blue-green", "canary", "rolling"]
STRATEGIES: tuple[str, ...] = get_args(StrategyName)
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")  # an HTTP header or cookie name


class Readiness(Model):
    """N consecutive passes of the ready check, polled every interval, within a deadline."""

    consecutive_passes: int = Field(default=3, ge=1)
    interval_s: float = Field(default=0.2, gt=0)
    deadline_s: float | None = Field(
        default=None, gt=0, description="default: service.start_timeout_s"
    )


class TrafficLimits(Model):
    """Limits on the router's counters for a slot that has traffic; broken on enough requests,
    they fail the step (and roll back)."""

    max_error_rate: float = Field(
        default=0.001, ge=0, le=1, description="5xx and failed / all requests (seed: < 0.1 %)"
    )
    max_p99_ms: float | None = Field(default=None, gt=0, description="null: latency is not judged")
    min_requests: int = Field(
        default=20, ge=0, description="fewer requests in the window: the error rate is not judged"
    )


class BlueGreen(TrafficLimits):
    """Blue-green: readiness, smoke, optional preview, switch, post-switch window, scale down."""

    readiness: Readiness = Readiness()
    preview: bool = Field(
        default=False, description="pause before the switch until `v11ops promote`"
    )
    post_switch_window_s: float = Field(default=10.0, ge=0)
    scale_down_delay_s: float = Field(default=30.0, ge=0)


class SetWeight(Model):
    """Send this percentage of new requests to the canary."""

    set_weight: int = Field(ge=0, le=100)


class PauseFor(Model):
    duration_s: float | None = Field(default=None, gt=0, description="null: until `v11ops promote`")


class Pause(Model):
    """Hold the current weight for a while (watched by the limits), or until `v11ops promote`."""

    pause: PauseFor


class AnalysisRun(Model):
    templates: list[str] = Field(min_length=1, description="names from the `analysis:` section")


class Analysis(Model):
    """Run analysis templates against the canary; failed rolls back, inconclusive pauses."""

    analysis: AnalysisRun


CanaryStep = SetWeight | Pause | Analysis


class Sticky(Model):
    """Keep one client on one version: the router hashes this cookie's or header's value onto
    the weights. Requests without it are split exactly by weight."""

    kind: Literal["cookie", "header"] = "cookie"
    name: str = "v11_canary"

    @model_validator(mode="after")
    def _name_is_a_token(self) -> Sticky:
        if not _TOKEN.fullmatch(self.name):
            raise ValueError(f"{self.name!r} is not a valid {self.kind} name")
        return self

    @property
    def header(self) -> str | None:
        return self.name if self.kind == "header" else None

    @property
    def cookie(self) -> str | None:
        return self.name if self.kind == "cookie" else None


def _seed_canary_steps() -> list[CanaryStep]:
    # The seed runbook: 10 % for 5 min, 50 % for 15 min, then 100 %; analysis before each raise.
    return [
        SetWeight(set_weight=10),
        Pause(pause=PauseFor(duration_s=300)),
        Analysis(analysis=AnalysisRun(templates=["error-rate"])),
        SetWeight(set_weight=50),
        Pause(pause=PauseFor(duration_s=900)),
        Analysis(analysis=AnalysisRun(templates=["error-rate", "latency-vs-baseline"])),
        SetWeight(set_weight=100),
    ]


class Canary(TrafficLimits):
    """Canary: shift traffic in steps, watch and analyse the canary at each, roll back on
    failure, pause for a human when the analysis cannot decide."""

    steps: list[CanaryStep] = Field(default_factory=_seed_canary_steps, min_length=1)
    sticky: Sticky | None = Field(default_factory=Sticky, description="null: no stickiness")
    scale_down_delay_s: float = Field(default=30.0, ge=0)


class Rolling(TrafficLimits):
    """Rolling: replace N instances in batches; surge above N or go below it, never below one."""

    instances: int = Field(default=3, ge=1, le=32)
    max_surge: int = Field(default=1, ge=0)
    max_unavailable: int = Field(default=0, ge=0)
    batch_window_s: float = Field(
        default=5.0, ge=0, description="watch each batch with traffic before the next one"
    )

    @model_validator(mode="after")
    def _can_make_progress(self) -> Rolling:
        if self.max_surge + self.max_unavailable < 1:
            raise ValueError("max_surge + max_unavailable must be at least 1, or nothing can move")
        return self


class Strategy(Model):
    """The default strategy and the settings of each."""

    default: StrategyName = "blue-green"
    blue_green: BlueGreen = BlueGreen()
    canary: Canary = Field(default_factory=Canary)
    rolling: Rolling = Rolling()
