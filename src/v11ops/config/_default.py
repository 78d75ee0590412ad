"""The commented default `v11ops.yaml` for the Aurigraph V11 node, written by `v11ops init`."""

from __future__ import annotations

DEFAULT_CONFIG_YAML = """\
# v11ops.yaml: how v11ops deploys, checks and rolls back a service.
# This default deploys the Aurigraph V11 reference node. Check it with `v11ops config validate`;
# `v11ops config schema` prints a JSON Schema for editors.
# Relative paths are relative to this file. Unknown keys are errors.

# The service: how to run any release of it, and how to know it is healthy.
service:
  name: aurigraph-v11-node
  # argv template (no shell). Placeholders: {port} (the slot's port), {version} (the release),
  # {slot} (blue, green), {state_dir} (absolute state directory), {python} (the interpreter
  # v11ops runs on, so the node runs from the same virtual environment).
  # Literal braces are written {{ and }}.
  command:
    - "{python}"
    - "-m"
    - "v11ops.cli.main"
    - "node"
    - "run"
    - "--port"
    - "{port}"
    - "--db"
    - "sqlite:///{state_dir}/ledger.db"  # both slots share one ledger: a switch hands it over
    - "--node-id"
    - "{slot}"
    - "--release"
    - "{version}"
    - "--data-dir"
    - "{state_dir}/node-{slot}"
  # Environment for every release (on top of v11ops' own). Values are strings: quote numbers.
  # A secret is referenced, never written here: env:NAME (read from v11ops' environment) or
  # file:PATH (read from a file), resolved when the release starts.
  env: {}
  #   V11_API_KEY: env:V11_API_KEY
  # workdir: .                     # working directory of the process (default: this folder)
  health:
    live: /q/health/live           # the process is up
    ready: /q/health/ready         # it can take traffic (storage open and recovered)
  start_timeout_s: 30              # from start to ready, at most
  drain_timeout_s: 30              # SIGTERM, then SIGKILL after this long

# Releases: version -> what differs from `service`. A release is immutable once deployed:
# change it under a new version. `v11ops deploy VERSION` only knows the versions listed here.
releases:
  "1.0.0": {}
  "1.1.0": {}
  # A bad release, on purpose: it passes every gate, then fails half of its requests once it
  # has traffic, so the post-switch window rolls it back. The node's fault hooks:
  # V11_FAULT_ERROR_RATE, V11_FAULT_LATENCY_MS, V11_FAULT_READY_DELAY_S, V11_FAULT_NEVER_READY,
  # V11_FAULT_CRASH_AFTER_S.
  "1.2.0":
    env:
      V11_FAULT_ERROR_RATE: "0.5"
  # A release may also override the whole command:
  # "2.0.0":
  #   command: ["/opt/v11/2.0.0/bin/node", "--port", "{port}"]
  #   schema_versions: [1, 2]  # ledger schemas it runs on (default: any); a deploy migrates
  #                            # to the highest, after a backup (see backup: below)

# Slots: the named places a release runs in. Blue-green switches between two of them.
# A port is fixed (the original deployment used 9003 and 9004) or `auto` (a free port each start).
slots:
  blue:
    port: 9003
  green:
    port: 9004

# The router owns the data path: clients connect to `listen`, v11ops moves traffic between slots.
router:
  kind: builtin                    # builtin (embedded proxy) or nginx
  listen: 127.0.0.1:8080
  admin_socket: "{state_dir}/router.sock"   # the controller talks to the router here
  metrics_listen: 127.0.0.1:9180   # the router's own /metrics, for Prometheus (null: off)
  # nginx:                         # only for kind: nginx
  #   mode: own                    # own: v11ops runs nginx with a config in the state dir
  #                                # include: v11ops writes include_path, your nginx includes it
  #   include_path: /etc/nginx/conf.d/v11ops-upstream.conf
  #   binary: nginx
  # tls:                           # only for kind: builtin; serve HTTPS on listen
  #   cert: tls/cert.pem           # relative to this file; for local use:
  #   key: tls/key.pem             #   v11ops tls self-signed --cert tls/cert.pem --key tls/key.pem
  #   redirect_http_listen: 127.0.0.1:8081   # plain HTTP answering 308 to https (optional)
  # limits:                        # only for kind: builtin; the defaults are shown
  #   header_timeout_s: 10          # a request head must arrive whole within this (slowloris)
  #   max_header_bytes: 32768       # more: 431
  #   max_body_bytes: 16777216      # more: 413
  #   trust_forwarded_from: [127.0.0.0/8, ::1/128]   # proxies in front; []: router is the edge

# Strategy defaults; `v11ops deploy` uses them unless told otherwise.
strategy:
  default: blue-green              # blue-green, canary or rolling (`deploy --strategy` overrides)
  blue_green:
    readiness:                     # gate 1: the new slot reports ready
      consecutive_passes: 3        # this many 200s in a row from service.health.ready
      interval_s: 0.2              # polled this often
      # deadline_s: 30             # default: service.start_timeout_s
    preview: false                 # true: pause before the switch until `v11ops promote`
    post_switch_window_s: 10       # after the switch, watch this long; a failure rolls back
    max_error_rate: 0.001          # failed / all requests through the router in the window
    # max_p99_ms: 500              # p99 latency limit in the window (default: not judged)
    min_requests: 20               # fewer requests than this: the error rate is not judged
    scale_down_delay_s: 30         # keep the old slot warm this long (instant rollback)
  # `v11ops deploy VERSION --strategy canary`: traffic moves in steps; each pause is watched
  # with the limits below (as the blue-green window), each analysis runs templates from the
  # `analysis:` section: failed rolls back, inconclusive pauses until `v11ops promote`.
  canary:
    steps:                         # the seed runbook: 10 % 5 min, 50 % 15 min, 100 %
      - set_weight: 10
      - pause: {duration_s: 300}   # pause: {} holds until `v11ops promote`
      - analysis: {templates: [error-rate]}
      - set_weight: 50
      - pause: {duration_s: 900}
      - analysis: {templates: [error-rate, latency-vs-baseline]}
      - set_weight: 100
    sticky: {kind: cookie, name: v11_canary}   # one client, one version (null: none)
    max_error_rate: 0.001
    min_requests: 20
    scale_down_delay_s: 30
  # `v11ops deploy VERSION --strategy rolling`: a pool of instances (slots pool-1, pool-2, ...
  # on free ports) replaced in batches, never fewer than one ready instance in the router.
  rolling:
    instances: 3
    max_surge: 1                   # instances above `instances` during a deploy
    max_unavailable: 0             # ready instances below `instances` during a deploy
    batch_window_s: 5              # watch each batch with traffic before the next one
    max_error_rate: 0.001
    min_requests: 20

# Gates after readiness: smoke checks against the new slot, before it gets any traffic.
# An http check: method, path, expect_status, expect_json {dotted.path: value}; "{version}"
# in a value is the release being deployed.
gates:
  smoke:
    - name: live
      path: /q/health/live
      expect_status: 200
    - name: ready
      path: /q/health/ready
      expect_status: 200
      expect_json:
        status: UP
    - name: version
      path: /api/v11/info
      expect_status: 200
      expect_json:
        version: "{version}"       # the new slot runs the release we asked for
    - name: signed-transaction     # sign one transaction with development account 9999
      kind: signed_transaction     # and expect 202 (accepted and durable)
      path: /api/v11/transactions
      expect_status: 202

# Hooks at fixed points of a deploy. An http hook may use {old} and {new} (base URLs of the old
# and the new slot), {version} and {old_version}; a command hook is an argv (no shell).
# Points: pre_deploy (before anything starts; a failure fails the deploy), pre_switch
# (blue-green) or pre_step (canary, before each weight change), post_switch (after traffic
# moved; a failure rolls back) and on_rollback (after traffic moved back; {version} is the
# release rolled back to; a failure is recorded, the rollback stands). A failing required hook
# fails its gate; `required: false` only records the failure.
hooks:
  # pre_deploy:
  #   - name: change-window
  #     kind: command
  #     command: ["./scripts/change-window-open", "{version}"]
  #     timeout_s: 10
  pre_switch:
    # Hand the block producer lease to the new slot so blocks keep coming during the switch.
    # Not required: the lease is fenced by an epoch, so a failed yield only delays blocks
    # until the lease expires; it never forks the chain.
    - name: producer-yield
      kind: http
      method: POST
      url: "{old}/admin/v11/producer/yield"
      timeout_s: 5
      required: false
      # headers:
      #   X-Admin-Key: file:/etc/v11ops/admin_key

# Webhooks told about deploys: started, step, paused, promoted, succeeded, rolled_back, failed,
# aborted. format: slack (text + blocks) or generic (one JSON object per event). Delivery runs in
# the background, retried with backoff, and never blocks or fails a deploy. A webhook URL is
# usually a credential: reference it (env:NAME or file:PATH).
notifications:
  webhooks: []
  #   - name: ops-channel
  #     format: slack
  #     url: env:V11OPS_SLACK_WEBHOOK
  #     events: [started, rolled_back, failed, succeeded]   # default: all
  #     timeout_s: 5                 # per attempt
  #     retries: 4                   # backoff 0.5 s, doubling, with jitter, at most 8 s
  #     deadline_s: 30               # all attempts for one event

# Monitoring: `v11ops monitor up` runs Prometheus, Alertmanager and node-exporter (the Debian
# packages prometheus, prometheus-alertmanager, prometheus-node-exporter) on these addresses,
# with configs rendered into {state_dir}/monitoring. Prometheus finds its targets (the router,
# every running slot labelled slot/version/role, the controller, node-exporter) in file-SD files
# the controller rewrites on every slot change. `v11ops alerts` lists what fires.
monitoring:
  prometheus:
    listen: 127.0.0.1:9090
    scrape_interval_s: 15
    evaluation_interval_s: 15
    retention_time: 15d            # a command-line flag: Prometheus ignores it in its config file
    # retention_size: 10GB         # and/or a size limit
    rules: builtin                 # the rules v11ops ships, or a folder (relative); null: none
  alertmanager:
    listen: 127.0.0.1:9093
    config: builtin                # routing and receivers v11ops ships, or a file; null: none
  node_exporter:
    listen: 127.0.0.1:9100
    textfile_dir: "{state_dir}/textfile"    # *.prom files (backup metrics) it exports
  # The controller's listener for Alertmanager webhooks (it also serves the controller's
  # /metrics to Prometheus). Both need the bearer token.
  webhook:
    listen: auto                   # a free loopback port, chosen once and kept; null: off
    # token: env:V11OPS_WEBHOOK_TOKEN   # default: generated into {state_dir}/monitoring
  # A firing alert about the new release (labels slot and version) inside the post-switch
  # window rolls it back. An alert needs a scrape, an evaluation and its `for` to fire: make
  # strategy.blue_green.post_switch_window_s longer than that for the alerts you rely on.
  window_alerts:
    rollback: true
    severities: [critical]

# Analysis templates: named sets of checks that a canary's `analysis` step runs. Built in,
# always available: error-rate and latency (the router's counters of the canary: 5xx share on at
# least 50 requests, p99 in seconds) and latency-vs-baseline (Mann-Whitney U on paired probes of
# the canary and the stable slot). A check measures `count` times, once per `interval_s`; each
# measurement is successful, failed, inconclusive (too few requests, empty or NaN result) or an
# error (e.g. Prometheus unreachable). More failed than failure_limit: roll back; more
# inconclusive than inconclusive_limit, or more errors than error_limit: pause for a human.
# Backtest a template over recorded metrics: `v11ops analysis test --from -1h --to now`.
analysis: {}
#  success-rate:
#    checks:
#      - name: success-rate
#        kind: prometheus           # or router, scrape, mann_whitney
#        # {{candidate.slot}} {{candidate.version}} {{stable.slot}} {{stable.version}}
#        query: >-
#          sum(rate(v11ops_router_requests_total{slot="{{candidate.slot}}",code!~"5.."}[1m]))
#          / sum(rate(v11ops_router_requests_total{slot="{{candidate.slot}}"}[1m]))
#        samples_query: sum(increase(v11ops_router_requests_total{slot="{{candidate.slot}}"}[1m]))
#        success_condition: result >= 0.99   # comparisons of result, joined by and / or
#        # failure_condition: result < 0.9   # with both: between them is inconclusive
#        interval_s: 60
#        count: 5
#        min_samples: 50             # fewer requests: inconclusive (synthetic top-up first)
#        failure_limit: 0
#        inconclusive_limit: 0
#        error_limit: 2
#        on_empty: inconclusive      # or failed, successful
#        on_nan: inconclusive
#        # address: http://127.0.0.1:9090   # default: monitoring.prometheus.listen

# Backups (`v11ops backup ...`, `v11ops dr drill`): the defaults below; uncomment to change.
# The key (64 hex characters: `openssl rand -hex 32`) comes from `key` (env:NAME or file:PATH),
# else the environment variable V11OPS_BACKUP_KEY. With encrypt on and no key, backup and
# restore refuse.
# backup:
#   db: "sqlite:///{state_dir}/ledger.db"   # the ledger (postgresql://HOST/DB for PostgreSQL)
#   repo: "{state_dir}/backups"             # keep a copy off this host
#   encrypt: true
#   key: file:backup.key                    # or env:NAME; default: env:V11OPS_BACKUP_KEY
#   compression_level: 3                    # zstd
#   include_app: true                       # this file and the controller's state database
#   every: 1h                               # `v11ops backup schedule`: the SQLite RPO
#   retention: {keep_last: 7, keep_daily: 7, keep_weekly: 4, keep_monthly: 6}
#   before_migrating_deploy: true           # back up before a deploy migrates the schema
#   scratch_url: null                       # PostgreSQL server for drills' scratch databases

# Where v11ops keeps its state: journal, instance records, logs, the router's socket.
state_dir: .v11ops
"""
