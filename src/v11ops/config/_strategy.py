"""`strategy:` defaults of each deploy strategy (blue-green for now)."""

from __future__ import annotations

from pydantic import Field

from v11ops.config._base import Model


class Readiness(Model):
    """N consecutive passes of the ready check, polled every interval, within a deadline."""

    consecutive_passes: int = Field(default=3, ge=1)
    interval_s: float = Field(default=0.2, gt=0)
    deadline_s: float | None = Field(
        default=None, gt=0, description="default: service.start_timeout_s"
    )


class BlueGreen(Model):
    """Blue-green: readiness, smoke, optional preview, switch, post-switch window, scale down."""

    readiness: Readiness = Readiness()
    preview: bool = Field(
        default=False, description="pause before the switch until `v11ops promote`"
    )
    post_switch_window_s: float = Field(default=10.0, ge=0)
    scale_down_delay_s: float = Field(default=30.0, ge=0)
    max_error_rate: float = Field(
        default=0.001, ge=0, le=1, description="5xx and failed / all requests (seed: < 0.1 %)"
    )
    max_p99_ms: float | None = Field(default=None, gt=0, description="null: latency is not judged")
    min_requests: int = Field(
        default=20, ge=0, description="fewer requests in the window: the error rate is not judged"
    )


class Strategy(Model):
    """Defaults per strategy."""

    blue_green: BlueGreen = BlueGreen()
