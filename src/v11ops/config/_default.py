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

# Strategy defaults; `v11ops deploy` uses them unless told otherwise.
strategy:
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
hooks:
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
      #   X-API-Key: env:V11_ADMIN_KEY

# Where v11ops keeps its state: journal, instance records, logs, the router's socket.
state_dir: .v11ops
"""
