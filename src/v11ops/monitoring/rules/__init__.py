"""Alert rules as code: the 24 alerts, AnomalyDetected, the backup alerts (backup.py), the
certificate alerts (security.py), the SLO burn-rate alerts and the Watchdog, generated from typed
parameters (params.py) and an SLO spec; and the Alertmanager routing they are delivered by
(routing.py).

files = render_rule_files(load_params(None), load_slo_spec(Path("monitoring/prometheus/slo.yaml")))
"""

from v11ops.monitoring.rules.params import ParamsError, RuleParams, load_params
from v11ops.monitoring.rules.render import outdated_files, render_rule_files, write_rule_files
from v11ops.monitoring.rules.slo import SloSpec, load_slo_spec

__all__ = [
    "ParamsError",
    "RuleParams",
    "SloSpec",
    "load_params",
    "load_slo_spec",
    "outdated_files",
    "render_rule_files",
    "write_rule_files",
]
