"""System Health: the seed's operational dashboard (service status, CPU, memory, disk, GC
pauses, network, threads, load; 10 panels), on the node's process metrics and node-exporter."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import dashboard as model

from v11ops.monitoring.dashboards._panels import (
    HOST,
    NODE,
    RATE,
    Query,
    big_number,
    dashboard,
    graph,
    host_variable,
    node_variables,
)

UID = "v11-system-health"

_UP_DOWN = (("0", "DOWN", "red"), ("1", "UP", "green"))
_REAL_FS = 'fstype!~"tmpfs|ramfs|squashfs|overlay"'


def _gc_pauses() -> timeseries.Panel:
    panel = graph(
        "GC pauses",
        "The seed showed JVM GC pauses; the node is Python, so this is its garbage collector, "
        "timed with gc.callbacks (python_gc_pause_seconds): the share of time spent paused "
        "(HighGCTime watches it) and collections per second by generation (right axis). The "
        "node freezes its startup objects and raises the generation-0 threshold, so "
        "collections are rare.",
        [
            Query(
                f"sum by (instance) (rate(python_gc_pause_seconds_sum{{{NODE}}}[{RATE}]))",
                "paused {{instance}}",
            ),
            Query(
                f"sum by (generation) (rate(python_gc_pause_seconds_count{{{NODE}}}[{RATE}]))",
                "collections/s gen {{generation}}",
            ),
        ],
        "percentunit",
    )
    return panel.override_by_regexp(
        "collections/s.*",
        [
            model.DynamicConfigValue("unit", "short"),
            model.DynamicConfigValue("custom.axisPlacement", "right"),
        ],
    )


def build() -> Dashboard:
    return dashboard(
        UID,
        "Aurigraph V11 / System Health",
        "Is every node up and ready, and has its host the CPU, memory, disk and network it needs.",
        [*node_variables(), host_variable()],
        [
            big_number(
                "Service status",
                "Whether Prometheus could scrape each node's /q/metrics (the `up` series of the "
                "node's scrape job). V11ServiceDown fires after 1 minute of DOWN.",
                [Query(f"up{{{NODE}}}", "{{instance}} {{slot}}")],
                "none",
                mappings=_UP_DOWN,
                steps=((None, "red"), (1, "green")),
            ),
            big_number(
                "Readiness",
                "aurigraph_node_ready: 1 when the node's last readiness probe (/q/health/ready: "
                "database, block producer, not draining) passed.",
                [Query(f"aurigraph_node_ready{{{NODE}}}", "{{instance}}")],
                "none",
                mappings=(("0", "NOT READY", "red"), ("1", "READY", "green")),
                steps=((None, "red"), (1, "green")),
            ),
            big_number(
                "Uptime",
                "Time since each node process started (process_start_time_seconds). A short "
                "uptime outside a deploy means the supervisor restarted a crashed instance.",
                [Query(f"time() - process_start_time_seconds{{{NODE}}}", "{{instance}}")],
                "s",
                steps=((None, "orange"), (300, "green")),
            ),
            big_number(
                "Open file descriptors",
                "The seed's 'active threads' panel: the node is an asyncio process (one event "
                "loop plus signature-verifier worker processes), so it has no thread pool to "
                "count. Open file descriptors (sockets, database and log files) are the closest "
                "measure of its concurrent work; process_max_fds is the limit.",
                [Query(f"process_open_fds{{{NODE}}}", "{{instance}}")],
                "none",
            ),
            graph(
                "CPU",
                "CPU cores in use: on each host (node-exporter, every mode but idle) and by each "
                "node process (process_cpu_seconds_total). HighCPUUsage watches the host.",
                [
                    Query(
                        f'sum by (instance) (rate(node_cpu_seconds_total{{{HOST}, mode!="idle"}}'
                        f"[{RATE}]))",
                        "host {{instance}}",
                    ),
                    Query(
                        f"rate(process_cpu_seconds_total{{{NODE}}}[{RATE}])", "node {{instance}}"
                    ),
                ],
                "short",
            ),
            graph(
                "Memory",
                "Memory in use on each host (MemTotal - MemAvailable; HighMemoryUsage watches it) "
                "and the resident memory of each node process.",
                [
                    Query(
                        f"node_memory_MemTotal_bytes{{{HOST}}} - "
                        f"node_memory_MemAvailable_bytes{{{HOST}}}",
                        "host {{instance}}",
                    ),
                    Query(f"process_resident_memory_bytes{{{NODE}}}", "node {{instance}}"),
                ],
                "bytes",
            ),
            graph(
                "Disk usage",
                "Fraction of each real filesystem in use (node-exporter; tmpfs and overlay "
                "excluded). The ledger's database and the logs live here. HighDiskUsage and "
                "DiskWillFillIn24Hours watch it.",
                [
                    Query(
                        f"1 - node_filesystem_avail_bytes{{{HOST}, {_REAL_FS}}} / "
                        f"node_filesystem_size_bytes{{{HOST}, {_REAL_FS}}}",
                        "{{instance}} {{mountpoint}}",
                    )
                ],
                "percentunit",
            ),
            _gc_pauses(),
            graph(
                "Network traffic",
                "Bytes received and sent per second on each host's network devices "
                "(node-exporter; loopback excluded). HighNetworkTraffic watches the sum.",
                [
                    Query(
                        f"sum by (instance) (rate(node_network_receive_bytes_total{{{HOST}, "
                        f'device!="lo"}}[{RATE}]))',
                        "received {{instance}}",
                    ),
                    Query(
                        f"sum by (instance) (rate(node_network_transmit_bytes_total{{{HOST}, "
                        f'device!="lo"}}[{RATE}]))',
                        "sent {{instance}}",
                    ),
                ],
                "Bps",
            ),
            graph(
                "System load",
                "Load average over 1, 5 and 15 minutes, next to the number of CPUs: a load "
                "above the CPU count means runnable work is waiting.",
                [
                    Query(f"node_load1{{{HOST}}}", "load1 {{instance}}"),
                    Query(f"node_load5{{{HOST}}}", "load5 {{instance}}"),
                    Query(f"node_load15{{{HOST}}}", "load15 {{instance}}"),
                    Query(
                        f'count by (instance) (node_cpu_seconds_total{{{HOST}, mode="idle"}})',
                        "CPUs {{instance}}",
                    ),
                ],
                "short",
            ),
        ],
    )
