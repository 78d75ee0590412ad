"""A throwaway PostgreSQL 15 cluster for the PITR tests: its own data directory and port, run as
the `postgres` user (the server refuses root), never the shared server on 5432."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.services import require
from v11ops.runtime import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
USER = "postgres"


def available() -> None:
    require((PG_BIN / "initdb").exists() and _user_exists(), "PostgreSQL 15 server binaries")


def _user_exists() -> bool:
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return False
    return True


def as_postgres(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", USER, "--"] if os.geteuid() == 0 else []
    return subprocess.run(
        [*prefix, *argv], capture_output=True, text=True, timeout=timeout, check=True
    )


def chown_tree(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(USER)
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, entry.pw_uid, entry.pw_gid)


@dataclass
class Cluster:
    datadir: Path
    sockets: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def init(self, settings: dict[str, str]) -> Cluster:
        as_postgres(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.datadir),
            "--auth=trust",
            "-U",
            USER,
            "--no-sync",
            "--wal-segsize=1",
        )
        self.configure(settings)
        return self

    def configure(self, settings: dict[str, str]) -> None:
        lines = [f"{k} = '{v}'" for k, v in settings.items()]
        with (self.datadir / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> Cluster:
        self.port = free_port()
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self.sockets / f"{self.datadir.name}.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            subprocess.run(
                [
                    "runuser",
                    "-u",
                    USER,
                    "--",
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
            )

    def wait_promoted(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                    if row == (False,):
                        return
            except psycopg.OperationalError:
                pass
            time.sleep(0.1)
        log = self.sockets / f"{self.datadir.name}.log"
        raise AssertionError(f"not promoted in {timeout_s}s: {log.read_text()[-2000:]}")


def v11ops_command() -> str:
    """How the server (as postgres) starts `python -m v11ops.backup`. This interpreter may live
    where postgres cannot read (a root-only pyenv); then the system Python 3.11 runs the same
    code with this environment's packages (the same CPython ABI)."""
    import shlex
    import site
    import sys

    import v11ops

    src = Path(v11ops.__file__).parent.parent
    probe = (
        subprocess.run(
            ["runuser", "-u", USER, "--", sys.executable, "-c", "0"], capture_output=True
        )
        if os.geteuid() == 0
        else None
    )
    if probe is None or probe.returncode == 0:
        return f"{shlex.quote(sys.executable)} -m v11ops.backup"
    path = ":".join([str(src), *site.getsitepackages()])
    return f"PYTHONPATH={shlex.quote(path)} /usr/bin/python3 -m v11ops.backup"


def scratch_root() -> Path:
    """A folder the postgres user owns (pytest's tmp_path is private to root)."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="v11ops-pitr-"))
    root.chmod(0o755)
    chown_tree(root)
    return root


def remove(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


@contextmanager
def reachable_by_postgres(*paths: Path) -> Iterator[None]:
    """Let the postgres user traverse to `paths` (the archive command runs this checkout's
    code as postgres): add the search bit (o+x, never read) to every ancestor folder that
    lacks it, such as a private temporary folder holding the clone, and put the modes back."""
    changed: list[tuple[Path, int]] = []
    if os.geteuid() == 0:
        for path in paths:
            for folder in reversed(path.absolute().parents):
                mode = folder.stat().st_mode
                if not mode & stat.S_IXOTH and folder not in {f for f, _ in changed}:
                    changed.append((folder, mode))
                    folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield
    finally:
        for folder, mode in reversed(changed):
            folder.chmod(stat.S_IMODE(mode))
