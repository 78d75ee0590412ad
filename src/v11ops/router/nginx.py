"""The nginx router backend: the same route table, applied to nginx by render + test + reload.

Two modes:

- own: v11ops runs its own nginx (config, pid, logs and temp paths in a state dir, one worker,
  loopback listener, no root needed).
- include: v11ops only writes the upstream file that an existing nginx includes in its `http`
  block, tests that nginx's whole config, and reloads it.

A reload is confirmed, not assumed: v11ops waits for the master to start workers of the new
generation, and a drain waits for the old workers (which finish their in-flight requests and
then exit) to be gone.

Weights are nginx upstream weights. nginx balances with smooth weighted round robin too, but
per worker process, restarted at every reload, and shifted by failed peers (max_fails), so a
canary's share is exact only within one worker between reloads and approximate overall.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from v11ops.router.errors import NginxError, RouterRejected
from v11ops.router.routing import DrainResult
from v11ops.router.store import load_table, save_table
from v11ops.router.table import RouteTable, Target

NGINX_BIN = Path("/usr/sbin/nginx")
UPSTREAM_NAME = "v11ops_backend"
STICKY_VAR = "v11ops_sticky_key"
_NGINX_VARIABLE = re.compile(r"^\$[A-Za-z0-9_]{1,140}$")
_POLL_S = 0.02


@dataclass(frozen=True)
class NginxLayout:
    """Where one nginx router keeps its files."""

    state_dir: Path
    upstream_file: Path
    nginx_conf: Path
    pid_file: Path
    own: bool

    @property
    def routes_file(self) -> Path:
        """The route table as v11ops last applied it (JSON, same shape as the builtin's)."""
        return self.state_dir / "routes.json"

    @property
    def error_log(self) -> Path:
        """nginx's error log in own mode."""
        return self.state_dir / "logs" / "error.log"


class NginxRouter:
    """Apply route tables to nginx; the operations mirror `RouterClient`."""

    def __init__(
        self,
        layout: NginxLayout,
        *,
        listen: tuple[str, int] = ("127.0.0.1", 8080),
        nginx_bin: Path = NGINX_BIN,
        reload_timeout_s: float = 10.0,
        upstream_keepalive: int = 64,
    ) -> None:
        self.layout = layout
        self.listen = listen
        self.nginx_bin = nginx_bin
        self.reload_timeout_s = reload_timeout_s
        self.upstream_keepalive = upstream_keepalive

    @classmethod
    def own(
        cls,
        state_dir: Path,
        listen: tuple[str, int],
        *,
        nginx_bin: Path = NGINX_BIN,
        reload_timeout_s: float = 10.0,
    ) -> NginxRouter:
        """A router that runs its own nginx from `state_dir`, listening on `listen`."""
        layout = NginxLayout(
            state_dir=state_dir,
            upstream_file=state_dir / "upstream.conf",
            nginx_conf=state_dir / "nginx.conf",
            pid_file=state_dir / "nginx.pid",
            own=True,
        )
        return cls(layout, listen=listen, nginx_bin=nginx_bin, reload_timeout_s=reload_timeout_s)

    @classmethod
    def include(
        cls,
        state_dir: Path,
        upstream_file: Path,
        nginx_conf: Path = Path("/etc/nginx/nginx.conf"),
        pid_file: Path = Path("/run/nginx.pid"),
        *,
        nginx_bin: Path = NGINX_BIN,
        reload_timeout_s: float = 10.0,
    ) -> NginxRouter:
        """A router that writes `upstream_file` for an existing nginx and reloads that nginx.

        The existing config must `include` the file inside `http {}` and `proxy_pass` to
        `http://v11ops_backend`; `state_dir` keeps v11ops's copy of the route table.
        """
        layout = NginxLayout(state_dir, upstream_file, nginx_conf, pid_file, own=False)
        return cls(layout, nginx_bin=nginx_bin, reload_timeout_s=reload_timeout_s)

    # lifecycle (own mode)

    def start(self) -> None:
        """Render the config, test it and start nginx (own mode); no-op if already running."""
        self._require_own("start")
        if self.master_pid() is not None:
            return
        for sub in ("logs", "temp"):
            (self.layout.state_dir / sub).mkdir(parents=True, exist_ok=True)
        self._write(self.layout.nginx_conf, self.render_main())
        self._write(self.layout.upstream_file, self.render_upstream(self.routes()))
        self._test()
        self._nginx()
        deadline = time.monotonic() + self.reload_timeout_s
        while not self._workers():
            if time.monotonic() > deadline:
                raise NginxError(f"nginx did not start; see {self.layout.error_log}")
            time.sleep(_POLL_S)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Graceful stop (own mode): workers finish their requests; True once nginx exited."""
        self._require_own("stop")
        pid = self.master_pid()
        if pid is None:
            return True
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout_s
        while _alive(pid):
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_S)
        return True

    # routing

    def routes(self) -> RouteTable:
        """The table last applied (empty if none yet)."""
        return load_table(self.layout.routes_file) or RouteTable()

    def get_routes(self) -> RouteTable:
        """Same as `routes()`, under `RouterClient`'s name, so either serves the controller."""
        return self.routes()

    def set_routes(self, table: RouteTable) -> RouteTable:
        """Render, `nginx -t`, reload and confirm; on a failed test nothing changes."""
        self._set_routes(table)
        return self.routes()

    def drain(self, target: str, timeout_s: float = 30.0) -> DrainResult:
        """Set `target`'s weight to 0, reload, then wait for the old workers to exit.

        `in_flight` in the result counts old worker processes still finishing requests
        (nginx does not expose per-target in-flight counts).
        """
        table = self.routes()
        if not table.find(target):
            known = ", ".join(t.name for t in table.targets) or "none"
            raise RouterRejected(f"no target {target!r} in the route table (known: {known})", 404)
        drained = tuple(
            Target(t.name, t.url, 0, t.version) if target in (t.name, t.url) else t
            for t in table.targets
        )
        started = time.monotonic()
        old = self._set_routes(RouteTable(drained, table.sticky_header, table.sticky_cookie))
        deadline = started + timeout_s
        alive = [p for p in old if _alive(p)]
        while alive and time.monotonic() < deadline:
            time.sleep(_POLL_S)
            alive = [p for p in alive if _alive(p)]
        urls = tuple(t.url for t in table.find(target))
        return DrainResult(not alive, len(alive), time.monotonic() - started, urls)

    def health(self) -> dict[str, object]:
        """`{"status": "ok"|"down", "master_pid": n, "workers": n, "revision": n}`."""
        pid = self.master_pid()
        workers = self._workers() if pid else set()
        return {
            "status": "ok" if workers else "down",
            "master_pid": pid,
            "workers": len(workers),
            "revision": self.routes().revision,
        }

    def master_pid(self) -> int | None:
        """The nginx master's pid, or None if it is not running."""
        try:
            pid = int(self.layout.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    # rendering

    def render_upstream(self, table: RouteTable) -> str:
        """The `upstream` block for `table` (targets with weight 0 are left out)."""
        lines = [
            f"# Rendered by v11ops from route table revision {table.revision}; do not edit.",
            "# nginx runs smooth weighted round robin per worker and restarts it at every",
            "# reload, so a canary's share of requests is approximate.",
        ]
        lines += _sticky_map(table)
        lines.append(f"upstream {UPSTREAM_NAME} {{")
        if table.sticky_header or table.sticky_cookie:
            lines.append(f"    hash ${STICKY_VAR} consistent;")
        for t in table.active:
            lines.append(
                f"    server {t.host}:{t.port} weight={t.weight} max_fails=1 fail_timeout=5s;"
                f"  # {t.name} {t.version}".rstrip()
            )
        if not table.active:
            lines.append("    server 127.0.0.1:9 down;  # no active target: nginx answers 502")
        lines += [f"    keepalive {self.upstream_keepalive};", "}", ""]
        return "\n".join(lines)

    def render_main(self) -> str:
        """The whole nginx.conf of own mode."""
        state = self.layout.state_dir
        host, port = self.listen
        temp = state / "temp"
        # As root, nginx would switch workers to `nobody`, who cannot enter a private state dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        return _MAIN_CONF.format(
            user=user,
            pid=self.layout.pid_file,
            error_log=self.layout.error_log,
            temp=temp,
            upstream=self.layout.upstream_file,
            listen=f"{host}:{port}",
            name=UPSTREAM_NAME,
        )

    # internals

    def _set_routes(self, table: RouteTable) -> set[int]:
        current = self.routes()
        if table.expect_revision is not None and table.expect_revision != current.revision:
            raise RouterRejected(
                f"route table is at revision {current.revision}, not {table.expect_revision}", 409
            )
        new = table.with_revision(current.revision + 1)
        upstream = self.layout.upstream_file
        previous = upstream.read_text() if upstream.exists() else None
        self._write(self.layout.upstream_file, self.render_upstream(new))
        try:
            self._test()
        except NginxError:
            if previous is None:
                self.layout.upstream_file.unlink(missing_ok=True)
            else:
                self._write(self.layout.upstream_file, previous)
            raise
        save_table(self.layout.routes_file, new)
        return self._reload()

    def _reload(self) -> set[int]:
        """Reload and wait for new workers; returns the pids of the old generation."""
        pid = self.master_pid()
        if pid is None:
            raise NginxError(f"nginx is not running (no live pid in {self.layout.pid_file})")
        old = self._workers()
        os.kill(pid, signal.SIGHUP)  # what `nginx -s reload` does, without re-reading the config
        deadline = time.monotonic() + self.reload_timeout_s
        while not (self._workers() - old) or not all(_retired(p) for p in old):
            if time.monotonic() > deadline:
                raise NginxError(
                    "nginx did not start new workers after reload; see its error log "
                    f"({self.layout.error_log if self.layout.own else 'error_log of nginx.conf'})"
                )
            time.sleep(_POLL_S)
        return old

    def _workers(self) -> set[int]:
        pid = self.master_pid()
        return _children(pid) if pid else set()

    def _test(self) -> None:
        result = self._nginx("-t", "-q", check=False)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            worst = [line for line in lines if "[emerg]" in line or "[error]" in line]
            detail = (worst or lines or ["nginx -t failed"])[0]
            raise NginxError(f"nginx rejected the config {self.layout.nginx_conf}: {detail}")

    def _nginx(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if not self.nginx_bin.exists():
            raise NginxError(
                f"nginx not found at {self.nginx_bin}; install it with `apt-get install nginx`"
            )
        cmd = [str(self.nginx_bin), "-c", str(self.layout.nginx_conf)]
        if self.layout.own:
            cmd += ["-p", str(self.layout.state_dir)]
        result = subprocess.run(
            [*cmd, *args], capture_output=True, text=True, check=False, timeout=30
        )
        if check and result.returncode != 0:
            raise NginxError(f"{' '.join(cmd + list(args))} failed: {result.stderr.strip()}")
        return result

    def _require_own(self, what: str) -> None:
        if not self.layout.own:
            raise NginxError(f"{what} is only for own mode; manage the existing nginx yourself")

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # A zombie has exited already; it only waits for its parent to reap it.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _retired(pid: int) -> bool:
    """An old worker no longer accepts: it exited or is finishing in-flight requests.

    nginx retitles a worker "is shutting down" as it closes its listening sockets, so before
    that an old worker can still take a new request with the old upstreams.
    """
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return b"shutting down" in title or not _alive(pid)


def _children(pid: int) -> set[int]:
    """Live child pids of `pid` (nginx's workers, current and shutting down)."""
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:  # kernel without CONFIG_PROC_CHILDREN: scan every process
        listed = [e.name for e in Path("/proc").iterdir() if e.name.isdigit()]
        listed = [p for p in listed if _parent(int(p)) == pid]
    return {int(p) for p in listed if _alive(int(p))}


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0


_MAIN_CONF = """\
# Rendered by v11ops (own nginx router); do not edit, it is rewritten on start.
{user}worker_processes 1;
daemon on;
pid {pid};
error_log {error_log} warn;
worker_shutdown_timeout 60s;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {temp}/client_body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;

    include {upstream};

    map $http_x_request_id $v11ops_request_id {{
        "" $request_id;
        default $http_x_request_id;
    }}

    server {{
        listen {listen};
        location / {{
            proxy_pass http://{name};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            # The edge, like the builtin router: a client's own forwarding claims are dropped.
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host "";
            proxy_set_header Forwarded "";
            proxy_set_header X-Real-IP "";
            proxy_set_header X-Request-Id $v11ops_request_id;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_connect_timeout 5s;
            proxy_read_timeout 60s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


def _sticky_map(table: RouteTable) -> list[str]:
    """With a sticky key, nginx picks by a consistent hash of it, weighted by the targets'
    weights (ketama points per weight), so a key stays on its target while a canary's weight
    only grows. Requests without the key hash their $request_id: a random pick in proportion to
    the weights, where the builtin router is exact per request."""
    if table.sticky_header:
        # nginx names a header's variable in lowercase with '-' as '_'.
        source = "$http_" + table.sticky_header.lower().replace("-", "_")
    elif table.sticky_cookie:
        source = "$cookie_" + table.sticky_cookie
    else:
        return []
    if not _NGINX_VARIABLE.fullmatch(source):
        raise RouterRejected(
            f"nginx cannot hash on {source!r}: a sticky name there is letters, digits and '_'",
            400,
        )
    return [
        f"map {source} ${STICKY_VAR} {{",
        '    "" $request_id;',
        f"    default {source};",
        "}",
    ]
