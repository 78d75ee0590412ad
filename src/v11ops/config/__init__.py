"""Configuration: one YAML file, `v11ops.yaml`, validated by strict pydantic models.

config = load_config("v11ops.yaml")                  # ConfigError: one line, file + field
release = config.release("1.1.0", slot="green", port=9004)  # UnknownReleaseError
release.argv, release.env, release.fingerprint()
"""

from v11ops.config._analysis import (
    AnalysisCheck,
    AnalysisTemplate,
    Condition,
    MannWhitneyCheck,
    MetricCheck,
    PrometheusCheck,
    RouterCheck,
    ScrapeCheck,
    builtin_templates,
    render_query,
)
from v11ops.config._base import split_host_port
from v11ops.config._config import Config, Slot
from v11ops.config._default import DEFAULT_CONFIG_YAML
from v11ops.config._errors import ConfigError, UnknownReleaseError
from v11ops.config._gates import Gates, HttpCheck, SignedTransactionCheck, SmokeCheck
from v11ops.config._hooks import HOOK_POINTS, CommandHook, Hook, HookPoint, Hooks, HttpHook
from v11ops.config._load import (
    DEFAULT_CONFIG_PATH,
    config_json_schema,
    load_config,
    parse_config,
    write_text_atomically,
)
from v11ops.config._monitoring import Monitoring, WindowAlerts
from v11ops.config._notify import NOTIFY_EVENTS, Notifications, NotifyEvent, Webhook
from v11ops.config._release import ResolvedRelease
from v11ops.config._router import Nginx, Router
from v11ops.config._secrets import render_env, resolve_mapping, resolve_reference
from v11ops.config._service import Health, Release, Service
from v11ops.config._strategy import (
    STRATEGIES,
    BlueGreen,
    Canary,
    Readiness,
    Rolling,
    Strategy,
    StrategyName,
    TrafficLimits,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_CONFIG_YAML",
    "HOOK_POINTS",
    "NOTIFY_EVENTS",
    "STRATEGIES",
    "AnalysisCheck",
    "AnalysisTemplate",
    "BlueGreen",
    "Canary",
    "CommandHook",
    "Condition",
    "Config",
    "ConfigError",
    "Gates",
    "Health",
    "Hook",
    "HookPoint",
    "Hooks",
    "HttpCheck",
    "HttpHook",
    "MannWhitneyCheck",
    "MetricCheck",
    "Monitoring",
    "Nginx",
    "Notifications",
    "NotifyEvent",
    "PrometheusCheck",
    "Readiness",
    "Release",
    "ResolvedRelease",
    "Rolling",
    "Router",
    "RouterCheck",
    "ScrapeCheck",
    "Service",
    "SignedTransactionCheck",
    "Slot",
    "SmokeCheck",
    "Strategy",
    "StrategyName",
    "TrafficLimits",
    "UnknownReleaseError",
    "Webhook",
    "WindowAlerts",
    "builtin_templates",
    "config_json_schema",
    "load_config",
    "parse_config",
    "render_env",
    "render_query",
    "resolve_mapping",
    "resolve_reference",
    "split_host_port",
    "write_text_atomically",
]
