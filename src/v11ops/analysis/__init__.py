"""Analysis: repeated metric measurements of a canary with a verdict that explains itself.

    ctx = AnalysisContext(candidate=SlotRef("green", "1.1.0", "http://127.0.0.1:9004"),
                          stable=SlotRef("blue", "1.0.0", "http://127.0.0.1:9003"),
                          router_stats=..., router_url=..., prometheus_url=None)
    outcome = await run_analysis(config.analysis["error-rate"], ctx, record=store)
    outcome.phase    # successful | failed | inconclusive | aborted
    outcome.reason   # one line: which check, what value, which threshold

Every measurement (`Measurement`, with `to_evidence()`) is handed to `record` as it is taken.
`backtest` judges the prometheus checks of a template over a recorded window instead.
"""

from v11ops.analysis.backtest import BacktestError, CheckBacktest, Window, backtest
from v11ops.analysis.context import AnalysisContext, SlotRef, no_router_stats
from v11ops.analysis.engine import run_analysis
from v11ops.analysis.judge import Observation, ProviderError
from v11ops.analysis.measurement import Measurement, Verdict
from v11ops.analysis.outcome import AnalysisOutcome, Phase

__all__ = [
    "AnalysisContext",
    "AnalysisOutcome",
    "BacktestError",
    "CheckBacktest",
    "Measurement",
    "Observation",
    "Phase",
    "ProviderError",
    "SlotRef",
    "Verdict",
    "Window",
    "backtest",
    "no_router_stats",
    "run_analysis",
]
