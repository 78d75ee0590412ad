"""Shared pieces of the dashboards: the datasource, the template variables, panel builders.

Every panel gets a title, a description and at least one query: the builders below require
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

# The uid of the Prometheus datasource that monitoring/grafana/provisioning provides.
DATASOURCE_UID = "v11-prometheus"
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
REFRESH = "5s"  # the seed's dashboards refreshed every 5 s
FOLDER = "Aurigraph V11"

# Selectors built from the template variables.
NODE = 'job=~"$job", instance=~"$instance"'
HOST = 'instance=~"$host"'
RATE = "$__rate_interval"

AnyPanel = timeseries.Panel | stat.Panel


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str = ""


def _targets(panel: AnyPanel, queries: Sequence[Query]) -> None:
    if not queries:
        raise ValueError("a panel needs at least one query")
    for i, q in enumerate(queries):
        target = prometheus.Dataquery().expr(q.expr).ref_id(chr(ord("A") + i))
        panel.with_target(target.legend_format(q.legend) if q.legend else target)


def graph(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    *,
    width: int = 12,
    stacked: bool = False,
) -> timeseries.Panel:
    """A time series panel."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
    )
    if stacked:
        panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    _targets(panel, queries)
    return panel


def big_number(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    *,
    width: int = 6,
    mappings: Sequence[tuple[str, str, str]] = (),
    steps: Sequence[tuple[float | None, str]] = ((None, "blue"),),
) -> stat.Panel:
    """A stat panel of the last value. `mappings` are (value, text, color); `steps` are the
    threshold steps (from value, color), the first one from minus infinity."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(5)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .thresholds(
            builders.ThresholdsConfig()
            .mode(model.ThresholdsMode.ABSOLUTE)
            .steps([model.Threshold(value, color) for value, color in steps])
        )
    )
    if mappings:
        options = {
            value: model.ValueMappingResult(text=text, color=color, index=i)
            for i, (value, text, color) in enumerate(mappings)
        }
        panel.mappings([model.ValueMap(options)])
    _targets(panel, queries)
    return panel


def quantiles(metric: str, selector: str, qs: Sequence[float] = (0.5, 0.95, 0.99)) -> list[Query]:
    """p50/p95/p99 (by default) of a histogram, summed over the selected instances."""
    buckets = f"rate({metric}_bucket{{{selector}}}[{RATE}])"
    return [
        Query(f"histogram_quantile({q}, sum by (le) ({buckets}))", f"p{round(q * 100)}") for q in qs
    ]


def dashed_series(panel: timeseries.Panel, name: str, color: str) -> timeseries.Panel:
    """Draw the series `name` as a dashed line in a fixed colour (a target or a bound)."""
    return panel.override_by_name(
        name,
        [
            model.DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
            model.DynamicConfigValue("custom.fillOpacity", 0),
            model.DynamicConfigValue("color", {"mode": "fixed", "fixedColor": color}),
        ],
    )


def query_variable(name: str, label: str, query: str) -> builders.QueryVariable:
    """A multi-value variable filled from `label_values(...)`, "All" selected by default."""
    return (
        builders.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(DATASOURCE)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def node_variables() -> list[builders.QueryVariable]:
    """`job` and `instance` of the nodes' scrape targets (from aurigraph_build_info)."""
    return [
        query_variable("job", "Job", "label_values(aurigraph_build_info, job)"),
        query_variable(
            "instance", "Node", 'label_values(aurigraph_build_info{job=~"$job"}, instance)'
        ),
    ]


def host_variable() -> builders.QueryVariable:
    """The node-exporter targets (hosts)."""
    return query_variable("host", "Host", "label_values(node_uname_info, instance)")


def dashboard(
    uid: str,
    title: str,
    description: str,
    variables: Sequence[Builder[model.VariableModel]],
    panels: Sequence[AnyPanel],
) -> builders.Dashboard:
    """A dashboard in the v11 conventions: 5 s refresh, last hour, panel ids 1..n in order."""
    board = (
        builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["aurigraph-v11", "v11ops", "generated"])
        .refresh(REFRESH)
        .time("now-1h", "now")
        .timezone(common.TimeZoneBrowser)
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    for variable in variables:
        board.with_variable(variable)
    for i, panel in enumerate(panels, start=1):
        board.with_panel(panel.id(i))
    return board
