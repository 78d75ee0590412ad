"""The 24 alert rules: the 18 the seed names (with its `for` durations) and 6 that fill its
themes, in three groups by priority (P0 critical, P1 warning, P2 info).

Every expression queries a metric that exists: the node's (`src/v11node/metrics.py`),
node-exporter's, or `up`, which Prometheus writes itself. Per-target alerts keep the target's
labels (`instance`, `slot`, `version`) so an alert names the release it is about.
"""

from __future__ import annotations

from v11ops.monitoring.rules.anomaly import anomaly_alert, anomaly_recordings
from v11ops.monitoring.rules.params import ParamsError, RuleParams
from v11ops.monitoring.rules.rulefile import Alert, Group

# Client API requests: health checks and metric scrapes are not what clients experience.
API = 'uri!~"/q/.*|/api/v11/health"'
# Filesystems that hold data (not memory-backed or image layers).
FS = 'fstype!~"tmpfs|ramfs|squashfs|overlay"'
HTTP_LABELS = "method, uri, status"
# " (slot blue, version 1.1.0)" when the target is a slot.
SLOT = (
    "{{ with $labels.slot }} (slot {{ . }}{{ with $labels.version }}, version {{ . }}{{ end }})"
    "{{ end }}"
)


def num(value: float) -> str:
    """A threshold as PromQL writes it: 1000.0 -> 1000, 0.05 -> 0.05."""
    return f"{value:g}"


def alert_groups(p: RuleParams) -> list[Group]:
    """The three priority groups; the anomaly baseline's recording rules lead the P1 group."""
    return [
        Group("aurigraph.p0-critical", _p0(p)),
        Group("aurigraph.p1-warning", [*anomaly_recordings(p), *_p1(p), anomaly_alert(p)]),
        Group("aurigraph.p2-info", _p2(p)),
    ]


def without_disabled(p: RuleParams, files: list[list[Group]]) -> list[list[Group]]:
    """Each file's groups without the alerts in `p.disabled_alerts`; an unknown name is an error."""
    names = {r.name for f in files for g in f for r in g.rules if isinstance(r, Alert)}
    if unknown := sorted(set(p.disabled_alerts) - names):
        known = ", ".join(sorted(names))
        raise ParamsError(f"disabled_alerts: no alert named {', '.join(unknown)} (known: {known})")
    return [
        [
            Group(g.name, [r for r in g.rules if getattr(r, "name", None) not in p.disabled_alerts])
            for g in f
        ]
        for f in files
    ]


def _requests(p: RuleParams, extra: str = "") -> str:
    return f'http_server_requests_seconds_count{{job="{p.node_job}",{API}{extra}}}'


def _p0(p: RuleParams) -> list[Alert]:
    node, router, total = p.node_job, p.router_job, _requests(p)
    errors = _requests(p, ',status=~"5.."')
    return [
        Alert(
            "V11ServiceDown",
            f'(up{{job="{node}"}} or up{{job="{router}"}}) == 0',
            "1m",
            "critical",
            "P0",
            "A node slot or the router does not answer Prometheus's scrapes.",
            "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}"
            f"{SLOT}: up = {{{{ $value }}}}. The process is down or hung.",
            "The seed's service-down page. `up` is written by Prometheus on every scrape, so it "
            "still exists when the node is gone; the router is included because without it no "
            "client reaches any slot.",
        ),
        Alert(
            "TPSBelowTarget",
            f'sum by (job) (rate(aurigraph_transactions_processed_total{{job="{node}"}}[5m]))'
            f" < {num(p.tps_target)}\nand on (job)\n"
            f'sum by (job) (rate(aurigraph_transactions_total{{job="{node}",'
            f'status="PENDING"}}[5m])) >= {num(p.tps_target)}',
            "5m",
            "critical",
            "P0",
            "The node commits fewer transactions per second than the target while clients "
            "offer at least that much.",
            "{{ $labels.job }} commits {{ $value | humanize }} tx/s, below the target of "
            f"{num(p.tps_target)} tx/s, while clients submit at least the target: the node is "
            "falling behind.",
            "The seed's TPS target. It pages only when clients offer at least the target "
            "(accepted rate): a quiet network is not a failure (LowTransactionVolume covers it).",
        ),
        Alert(
            "HighErrorRate",
            f"(\n  sum without ({HTTP_LABELS}) (rate({errors}[5m]))\n/\n"
            f"  sum without ({HTTP_LABELS}) (rate({total}[5m]))\n) > {num(p.error_ratio)}\nand\n"
            f"sum without ({HTTP_LABELS}) (rate({total}[5m])) >= {num(p.min_request_rate)}",
            "5m",
            "critical",
            "P0",
            "The node answers too many API requests with a server error.",
            "{{ $value | humanizePercentage }} of API requests to {{ $labels.instance }}"
            f"{SLOT} failed with 5xx over 5 minutes (threshold {num(p.error_ratio * 100)} %).",
            "The seed's error-rate page, on the node's own request histogram; quiet below "
            f"{num(p.min_request_rate)} requests/s, where one error is a large share.",
        ),
        Alert(
            "ConsensusFailure",
            f'increase(aurigraph_consensus_failures_total{{job="{node}"}}[1m])'
            f" > {num(p.consensus_failures_per_min)}",
            "1m",
            "critical",
            "P0",
            "Block production rounds keep failing: no transactions are committed.",
            "{{ $labels.instance }} failed {{ $value | humanize }} block production rounds in "
            "the last minute (fenced out of the producer lease, or a database error).",
            "The seed's consensus page. The node's consensus is the fenced producer lease; a "
            "failed round is its consensus failure (same metric name as the original). A single "
            "fenced round at a handover is normal, so it takes a sustained rate.",
        ),
        Alert(
            "DatabaseConnectionPoolExhausted",
            f'(\n  aurigraph_db_pool_connections{{job="{node}",state="active"}}\n'
            f'/ ignoring (state)\n  aurigraph_db_pool_max{{job="{node}"}}\n)'
            f" >= {num(p.db_pool_busy_ratio)}\nand on (job, instance)\n"
            f'aurigraph_build_info{{job="{node}",storage!="sqlite"}}',
            "2m",
            "critical",
            "P0",
            "Nearly every database connection of the node is in use.",
            "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of its database "
            "connection pool: requests wait for a connection.",
            "The seed's pool page. Only for a bounded pool (PostgreSQL): the SQLite backend "
            "opens connections on demand, so its 'maximum' is its current size.",
        ),
    ]


def _p1(p: RuleParams) -> list[Alert]:
    node, ne, total = p.node_job, p.node_exporter_job, _requests(p)
    return [
        Alert(
            "HighCPUUsage",
            f"100 * (1 - avg without (cpu, mode) "
            f'(rate(node_cpu_seconds_total{{job="{ne}",mode="idle"}}[5m])))'
            f" > {num(p.cpu_percent)}",
            "10m",
            "warning",
            "P1",
            "The host's CPUs are nearly saturated.",
            "CPU of {{ $labels.instance }} is {{ $value | humanize }} % busy "
            f"(threshold {num(p.cpu_percent)} %).",
            "The seed's CPU alert, from node-exporter.",
        ),
        Alert(
            "HighMemoryUsage",
            f'100 * (1 - node_memory_MemAvailable_bytes{{job="{ne}"}}'
            f' / node_memory_MemTotal_bytes{{job="{ne}"}}) > {num(p.memory_percent)}',
            "10m",
            "warning",
            "P1",
            "The host is running out of memory.",
            "{{ $labels.instance }} uses {{ $value | humanize }} % of its memory "
            f"(threshold {num(p.memory_percent)} %).",
            "The seed's memory alert; MemAvailable counts reclaimable cache as free.",
        ),
        Alert(
            "SlowResponseTime",
            f"histogram_quantile(0.95, sum without ({HTTP_LABELS}) "
            f'(rate(http_server_requests_seconds_bucket{{job="{node}",{API}}}[5m])))'
            f" > {num(p.response_time_p95_s)}\nand\n"
            f"sum without ({HTTP_LABELS}) (rate({total}[5m])) >= {num(p.min_request_rate)}",
            "5m",
            "warning",
            "P1",
            "The node's API answers slowly.",
            f"p95 latency of API requests to {{{{ $labels.instance }}}}{SLOT} is "
            "{{ $value | humanizeDuration }} "
            f"(threshold {num(p.response_time_p95_s * 1000)} ms).",
            "The seed's response-time alert at its pass criterion (p95 < 100 ms); quiet without "
            "traffic, where a quantile is noise.",
        ),
        Alert(
            "HighGCTime",
            f"sum without (generation) "
            f'(rate(python_gc_pause_seconds_sum{{job="{node}"}}[5m])) > {num(p.gc_time_ratio)}',
            "5m",
            "warning",
            "P1",
            "The node spends a large share of its time in garbage collection.",
            "{{ $labels.instance }} spent {{ $value | humanizePercentage }} of the last 5 "
            "minutes in garbage collector pauses.",
            "The seed's GC alert was about the JVM; the node is Python, so it uses the node's "
            "own GC pause histogram (python_gc_pause_seconds, timed by gc.callbacks).",
        ),
        Alert(
            "ConsensusLatencyHigh",
            f"histogram_quantile(0.99, "
            f'rate(aurigraph_consensus_round_duration_seconds_bucket{{job="{node}"}}[5m]))'
            f" > {num(p.consensus_round_p99_s)}",
            "5m",
            "warning",
            "P1",
            "Block production rounds take too long.",
            "p99 duration of block production rounds on {{ $labels.instance }} is "
            "{{ $value | humanizeDuration }} "
            f"(threshold {num(p.consensus_round_p99_s * 1000)} ms).",
            "The seed's consensus latency alert, on the duration of the producer's rounds "
            "(same metric name as the original).",
        ),
        Alert(
            "UnauthorizedAccessAttempt",
            f'rate(aurigraph_auth_failures_total{{job="{node}"}}[5m])'
            f" > {num(p.auth_failures_per_s)}",
            "5m",
            "warning",
            "P1",
            "Clients keep calling the node with a missing or wrong API key.",
            '{{ $labels.instance }} refuses {{ $value | printf "%.2f" }} requests/s for a missing '
            "or wrong API key.",
            "The seed's authentication alert. A sustained rate, not a single typo.",
        ),
        Alert(
            "HighTransactionFailureRate",
            f'sum by (job) (rate(aurigraph_transactions_total{{job="{node}",'
            f'status="REJECTED"}}[5m]))\n/\n'
            f'sum by (job) (rate(aurigraph_transactions_total{{job="{node}",'
            f'status=~"CONFIRMED|REJECTED"}}[5m]))\n> {num(p.tx_failure_ratio)}\nand\n'
            f'sum by (job) (rate(aurigraph_transactions_total{{job="{node}",'
            f'status=~"CONFIRMED|REJECTED"}}[5m])) >= {num(p.min_request_rate)}',
            "5m",
            "warning",
            "P1",
            "Many transactions are rejected by the ledger rules.",
            "{{ $value | humanizePercentage }} of the transactions {{ $labels.job }} decided "
            "in the last 5 minutes were rejected (insufficient funds, stale nonce).",
            "The seed's transaction failure alert: rejected / decided transactions; quiet "
            "when few transactions are decided.",
        ),
        Alert(
            "NodeProcessCPUSaturated",
            f'rate(process_cpu_seconds_total{{job="{node}"}}[5m]) > {num(p.process_cpu_cores)}',
            "10m",
            "warning",
            "P1",
            "The node process uses nearly a whole core: it cannot go faster.",
            '{{ $labels.instance }} uses {{ $value | printf "%.2f" }} CPU seconds per second.',
            "Added for the CPU theme: the node's Python code runs under one interpreter lock, "
            "so near one core it is saturated even when the host's CPU looks idle.",
        ),
        Alert(
            "SignatureVerificationFailures",
            f'rate(aurigraph_crypto_signature_verification_failures_total{{job="{node}"}}[5m])'
            f" > {num(p.signature_failures_per_s)}",
            "5m",
            "warning",
            "P1",
            "Clients keep sending transactions whose signature does not verify.",
            '{{ $labels.instance }} refuses {{ $value | printf "%.2f" }} transactions/s whose '
            "Ed25519 signature does not verify: a broken client or forged transactions.",
            "Added for the authentication theme: a transaction authenticates its sender by "
            "signature; a sustained rate of bad ones is an attack or a broken client.",
        ),
    ]


def _p2(p: RuleParams) -> list[Alert]:
    node, ne = p.node_job, p.node_exporter_job
    avail = f'node_filesystem_avail_bytes{{job="{ne}",{FS}}}'
    size = f'node_filesystem_size_bytes{{job="{ne}",{FS}}}'
    nic = f'job="{ne}",device!="lo"'
    pool = f'aurigraph_transaction_queue_size{{job="{node}"}}'
    return [
        Alert(
            "HighDiskUsage",
            f"100 * (1 - {avail} / {size}) > {num(p.disk_percent)}",
            "15m",
            "info",
            "P2",
            "A filesystem is nearly full.",
            "{{ $labels.mountpoint }} on {{ $labels.instance }} is {{ $value | humanize }} % "
            f"full (threshold {num(p.disk_percent)} %).",
            "The seed's disk alert, from node-exporter; memory-backed filesystems excluded.",
        ),
        Alert(
            "HighNetworkTraffic",
            f"sum without (device) (rate(node_network_receive_bytes_total{{{nic}}}[5m])"
            f" + rate(node_network_transmit_bytes_total{{{nic}}}[5m]))"
            f" > {num(p.network_bytes_per_s)}",
            "10m",
            "info",
            "P2",
            "The host's network traffic is close to the link's capacity.",
            "{{ $labels.instance }} sends and receives {{ $value | humanize1024 }}B/s.",
            "The seed's network alert: bytes in + out on every interface but loopback.",
        ),
        Alert(
            "ValidatorNodeDown",
            f'max by (job) (aurigraph_validators_active{{job="{node}"}}) < {p.expected_validators}',
            "5m",
            "info",
            "P2",
            "Fewer nodes than expected send heartbeats to the shared ledger.",
            "{{ $value }} node(s) of {{ $labels.job }} sent a heartbeat in the last 5 s; "
            f"{p.expected_validators} expected.",
            "The seed's validator alert. The nodes that share a ledger heartbeat into it; "
            "aurigraph_validators_active counts those seen in the last 5 s.",
        ),
        Alert(
            "TransactionPoolFull",
            f"max by (job) ({pool}) > {num(p.transaction_pool_full)}",
            "5m",
            "info",
            "P2",
            "The pending transaction pool holds more transactions than it is sized for.",
            "{{ $value | humanize }} transactions of {{ $labels.job }} wait for a block "
            f"(limit {num(p.transaction_pool_full)}).",
            "The seed's transaction pool alert. It warns long before the node's hard cap "
            "(--max-pending, default 200,000, where writes get 503); the limit is what this "
            "installation drains in an acceptable time.",
        ),
        Alert(
            "LowTransactionVolume",
            f'sum by (job) (rate(aurigraph_transactions_processed_total{{job="{node}"}}[30m]))'
            f" < {num(p.low_volume_tps)}",
            "30m",
            "info",
            "P2",
            "Almost no transactions were committed for an hour.",
            '{{ $labels.job }} committed {{ $value | printf "%.2f" }} tx/s over the last 30 '
            f"minutes (threshold {num(p.low_volume_tps)} tx/s).",
            "The seed's low-volume alert: a quiet network for an hour is worth a ticket "
            "(clients cut off, a broken integration), not a page.",
        ),
        Alert(
            "DiskWillFillIn24Hours",
            f"{avail} / {size} < 0.4\nand\npredict_linear({avail}[6h], 24 * 3600) < 0",
            "1h",
            "info",
            "P2",
            "A filesystem will be full within a day at the current rate.",
            "{{ $labels.mountpoint }} on {{ $labels.instance }} will be full within 24 hours "
            "at the rate of the last 6 hours ({{ $value | humanizePercentage }} free).",
            "Added for the disk theme: HighDiskUsage only sees the level; a fast-growing "
            "ledger or log fills the disk before the level alert leaves time to act.",
        ),
        Alert(
            "NetworkInterfaceErrors",
            f"(rate(node_network_receive_errs_total{{{nic}}}[5m])"
            f" + rate(node_network_transmit_errs_total{{{nic}}}[5m]))\n/\n"
            f"(rate(node_network_receive_packets_total{{{nic}}}[5m])"
            f" + rate(node_network_transmit_packets_total{{{nic}}}[5m]))"
            f" > {num(p.network_error_ratio)}",
            "10m",
            "info",
            "P2",
            "A network interface drops or corrupts packets.",
            "{{ $value | humanizePercentage }} of the packets on {{ $labels.device }} of "
            "{{ $labels.instance }} had errors over 5 minutes.",
            "Added for the network theme: errors on an interface explain latency and "
            "retries that the traffic volume alert does not.",
        ),
        Alert(
            "FrequentLeaderChanges",
            f"max by (job) "
            f'(increase(aurigraph_consensus_leader_changes_total{{job="{node}"}}[15m]))'
            f" > {num(p.leader_changes_per_15m)}",
            "5m",
            "info",
            "P2",
            "The producer lease keeps changing hands.",
            "The producer lease of {{ $labels.job }} changed hands {{ $value | humanize }} "
            "times in 15 minutes; a deployment hands it over once.",
            "Added for the validators theme: lease churn means nodes lose the lease (slow "
            "database, paused processes) before a validator is down outright.",
        ),
        Alert(
            "TransactionPoolGrowing",
            f"max by (job) (predict_linear({pool}[30m], 3600))"
            f" > {num(p.transaction_pool_full)}\nand\n"
            f"max by (job) ({pool}) <= {num(p.transaction_pool_full)}",
            "15m",
            "info",
            "P2",
            "The pending transaction pool will be full within an hour at its current growth.",
            "At its growth over 30 minutes the pool of {{ $labels.job }} will hold "
            "{{ $value | humanize }} transactions in an hour "
            f"(limit {num(p.transaction_pool_full)}).",
            "Added for the transaction pool theme: warns while there is still time, before "
            "TransactionPoolFull.",
        ),
    ]
