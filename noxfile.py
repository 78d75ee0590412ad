"""The pipeline's stages as nox sessions, so a laptop and CI run the same commands.

    nox -s build tests perf gate scan native image   # every stage, in pipeline order
    nox -s "tests(unit)" -- tests/config             # one suite; arguments after -- go to pytest
    nox -s deploy                                    # needs V11OPS_DEPLOY_HOST (user@host)
    .venv/bin/nox --no-venv -s gate                  # in the project's .venv, as `make` does

Each session installs what it needs into its own virtualenv under .nox/ (-r reuses them).
Outputs: dist/ (sdist, wheel, v11ops.pyz) and build/ (JUnit XML, coverage data, scan reports).
scan, native and image work on the wheel in dist/, so run build first: what is scanned, packed
and shipped is the artifact that was built once. With CI=true a stage that cannot run here
(no Docker engine, no deploy host) fails instead of skipping.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from xml.etree import ElementTree

import nox

nox.needs_version = ">=2024.3.2"
nox.options.default_venv_backend = "venv"
# `nox` alone runs the stages a developer can run here; deploy is never implicit.
nox.options.sessions = ["build", "tests", "perf", "gate", "scan", "native", "image"]

ROOT = Path(__file__).parent
DIST = ROOT / "dist"
BUILD = ROOT / "build"
COVERAGE_DATA = BUILD / "coverage"
LINT_PATHS = ["src", "tests", "bench", "tools", "noxfile.py"]
# The coverage gate, shared with `make test` (.ci/run): combines, reports, checks thresholds.
COVERAGE_GATE = ROOT / "tools" / "coverage_gate.py"
# The gate's outcome for `v11ops preflight`, written by v11ops itself so that its shape has one
# definition (v11ops.preflight.GateReport); the version is the package's, as built from git.
GATE_REPORT = ROOT / "reports" / "gate.json"
WRITE_GATE_REPORT = """
import importlib.metadata, json, sys
from datetime import UTC, datetime
from pathlib import Path
from v11ops.preflight import GateReport, write_gate_report
checks = json.loads(sys.argv[2])
write_gate_report(Path(sys.argv[1]), GateReport(
    version=importlib.metadata.version("v11ops"), commit=sys.argv[3],
    passed=all(check["passed"] for check in checks), finished_at=datetime.now(UTC), checks=checks,
))
"""

# pytest marker expressions: `slow` tests spawn processes and take seconds each.
SUITES = {"unit": "not slow", "integration": "slow"}

# Findings at or above both levels fail the scan (bandit's levels: low, medium, high): every
# medium or high severity finding, however unsure bandit is, is fixed or justified inline
# (`# nosec BXXX: why`). tests/attacks/test_bandit.py runs the same scan.
BANDIT_SEVERITY = "medium"
BANDIT_CONFIDENCE = "low"

# The perf smoke: a few seconds of signed transactions against one node; any error fails.
PERF_RATE = 100
PERF_BATCH = 10
PERF_DURATION_S = 3
# The seed promised < 1 s startup for the native build; we print ours against it.
STARTUP_TARGET_S = 1.0
READY_TIMEOUT_S = 60.0
# The seed's own durations per stage, printed next to ours in the CI summary.
SEED_TARGETS = {"build": "5-8 min", "deploy": "8 min"}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(session: nox.Session, reason: str) -> NoReturn:
    """Skip a stage this machine cannot run; in CI the same gap is a failure, never a pass."""
    if in_ci():
        session.error(f"{reason} (CI=true: a stage that cannot run fails)")
    session.skip(reason)


def timed(func: Callable[..., None]) -> Callable[..., None]:
    """Log the stage's duration and, on GitHub Actions, add it to the job summary."""

    @functools.wraps(func)
    def wrapper(session: nox.Session, *args: Any, **kwargs: Any) -> None:
        start = time.monotonic()
        outcome = "failed"
        try:
            func(session, *args, **kwargs)
            outcome = "passed"
        except BaseException as exc:
            # nox ends a skipped session with its private _SessionSkip exception.
            outcome = "skipped" if "Skip" in type(exc).__name__ else "failed"
            raise
        finally:
            record_duration(session, outcome, time.monotonic() - start)

    return wrapper


def record_duration(session: nox.Session, outcome: str, seconds: float) -> None:
    session.log(f"stage {session.name}: {outcome} in {seconds:.1f} s")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return
    path = Path(summary)
    target = SEED_TARGETS.get(session.name.split("(")[0], "")
    with path.open("a", encoding="utf-8") as out:
        if path.stat().st_size == 0:
            out.write("| stage | outcome | duration | seed's target |\n|---|---|---:|---|\n")
        out.write(f"| `{session.name}` | {outcome} | {seconds:.1f} s | {target} |\n")


def install(session: nox.Session, *args: str) -> None:
    """pip install into the session's virtualenv; with --no-venv, use nox's own environment."""
    if session.venv_backend == "none":
        # `.venv/bin/nox --no-venv` runs in the project's .venv: find its tools first on PATH.
        bindir = str(Path(sys.executable).parent)
        if not os.environ.get("PATH", "").startswith(bindir + os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        return
    session.install(*args)


def built_wheel(session: nox.Session) -> Path:
    """The one wheel `nox -s build` left in dist/."""
    wheels = sorted(DIST.glob("v11ops-*.whl"))
    if len(wheels) != 1:
        session.error(
            f"expected one v11ops wheel in dist/, found {len(wheels)}: run `nox -s build`"
        )
    return wheels[0]


def wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def tool(session: nox.Session, name: str) -> str:
    """A command installed in the session's environment, as a path a subprocess can run."""
    if session.venv_backend == "none":
        return str(Path(sys.executable).with_name(name))
    return str(Path(session.bin) / name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - our loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def running_node(
    session: nox.Session, argv: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start a node, yield its base URL once /q/health/ready answers 200, then SIGTERM it.

    Fails the session when the node exits early, is not ready in time, does not stop cleanly
    within its drain timeout, or logs a problem (see log_problems).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="v11ops-nox-") as data_dir, log.open("wb") as out:
        command = [*argv, "node", "run", "--port", str(port), "--data-dir", data_dir]
        session.log(" ".join(command))
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            wait_ready(session, proc, f"{url}/q/health/ready", log)
            yield url
        finally:
            stop_node(session, proc, log)
    problems = log_problems(log)
    if problems:
        session.error(f"the node logged {len(problems)} problem(s), first: {problems[0]}")


def log_problems(log: Path) -> list[str]:
    """Lines of a node's log that show it degraded: warnings and errors, and anything that is
    not one of its JSON log lines (a traceback, a child process's stderr).

    A node whose verifier processes cannot import v11node still serves, verifying in threads,
    and says so only here: this is how the native smoke check notices a broken zipapp.
    """
    problems = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            level = json.loads(line).get("log.level", "")
        except (ValueError, AttributeError):
            level = "not json"
        if level not in {"debug", "info"}:
            problems.append(f"[{level}] {line[:300]}")
    return problems


def wait_ready(session: nox.Session, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    start = time.monotonic()
    while time.monotonic() - start < READY_TIMEOUT_S:
        if proc.poll() is not None:
            session.error(f"the node exited with {proc.returncode} before it was ready; see {log}")
        if is_ready(url):
            session.log(f"node ready in {time.monotonic() - start:.2f} s")
            return
        time.sleep(0.1)
    session.error(f"the node was not ready within {READY_TIMEOUT_S:.0f} s; see {log}")


def stop_node(session: nox.Session, proc: subprocess.Popen[bytes], log: Path) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=45)  # the node's drain timeout is 30 s
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        session.error(f"the node did not stop within 45 s of SIGTERM; see {log}")
    if code != 0:
        session.error(f"the node exited with {code} after SIGTERM; see {log}")


@nox.session
@timed
def build(session: nox.Session) -> None:
    """sdist and wheel in dist/; hatch-vcs takes the version from the nearest git tag."""
    install(session, "build")
    for old in DIST.glob("v11ops-*"):
        old.unlink()
    session.run("python", "-m", "build", "--outdir", str(DIST))
    session.log(f"built v11ops {wheel_version(built_wheel(session))}")


@nox.session
@nox.parametrize("suite", list(SUITES), ids=list(SUITES))
@timed
def tests(session: nox.Session, suite: str) -> None:
    """One pytest suite under coverage; JUnit XML in build/junit, coverage data in build/coverage.

    The coverage settings ([tool.coverage.*] in pyproject.toml) measure branches and the
    processes the tests start, so the node's own code counts.
    """
    require_coverage_config(session)
    install(session, "-e", ".[dev]")
    COVERAGE_DATA.mkdir(parents=True, exist_ok=True)
    for old in COVERAGE_DATA.glob(f"{suite}.*"):
        old.unlink()
    session.run(
        "coverage", "run", "-m", "pytest",
        "-m", SUITES[suite],
        f"--junitxml={BUILD / 'junit' / f'{suite}.xml'}",
        *session.posargs,
        env={"COVERAGE_FILE": str(COVERAGE_DATA / f"{suite}.cov")},
    )  # fmt: skip


def require_coverage_config(session: nox.Session) -> None:
    """Fail early when pyproject.toml lacks the coverage settings or the gate's thresholds."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    run = config.get("coverage", {}).get("run", {})
    gate = config.get("v11ops", {}).get("gate", {})
    if not run.get("branch") or not {"subprocess", "_exit"} <= set(run.get("patch", [])):
        session.error(
            "pyproject.toml needs [tool.coverage.run] with branch = true and "
            'patch = ["subprocess", "_exit"] (see the comment in noxfile.py\'s gate session)'
        )
    if not {"line-coverage", "branch-coverage"} <= gate.keys():
        session.error("pyproject.toml needs [tool.v11ops.gate] line-coverage and branch-coverage")


@nox.session
@timed
def perf(session: nox.Session) -> None:
    """A few seconds of signed transactions against a real node; any failed request fails."""
    install(session, ".")
    report_path = BUILD / "perf.json"
    with running_node(session, [tool(session, "v11ops")], BUILD / "perf-node.log") as url:
        output = session.run(
            "v11ops", "load", "--target", url, "--rate", str(PERF_RATE),
            "--batch", str(PERF_BATCH), "--duration", str(PERF_DURATION_S), "--json",
            silent=True,
        )  # fmt: skip
    report = json.loads(str(output))
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    latency = report["latency"]
    session.log(
        f"accepted {report['accepted']} of {report['transactions']} transactions, "
        f"{report['achieved_tps']} tx/s, p50 {latency['p50_ms']} ms, p99 {latency['p99_ms']} ms, "
        f"errors {report['errors'] or 'none'} (report: {report_path})"
    )
    if report["accepted"] == 0:
        session.error("the node accepted no transaction")


@nox.session
@timed
def gate(session: nox.Session) -> None:
    """The quality gate: the suites' results, combined coverage thresholds, ruff, ruff format
    and mypy --strict. Writes reports/gate.json, which `v11ops preflight` reads.

    pyproject.toml holds the thresholds and the coverage settings:

        [tool.coverage.run]
        branch = true
        source_pkgs = ["v11ops", "v11node"]
        parallel = true
        patch = ["subprocess", "_exit"]   # child processes, and those ending with os._exit
        sigterm = true                    # and those SIGTERM ends without a handler of theirs
        [tool.v11ops.gate]
        line-coverage = 95
        branch-coverage = 90
    """
    require_coverage_config(session)
    install(session, "-e", ".[dev]")
    # Every check runs before the verdict, so one run lists everything that is wrong.
    checks = [tests_check(), *coverage_checks(session)]
    commands = {
        "ruff": ["ruff", "check", *LINT_PATHS],
        "ruff_format": ["ruff", "format", "--check", *LINT_PATHS],
        "mypy": ["mypy"],
    }
    for name, command in commands.items():
        checks.append({"name": name, "passed": succeeded(session, command)})
    session.run(
        "python", "-c", WRITE_GATE_REPORT, str(GATE_REPORT), json.dumps(checks), git_revision()
    )
    failed = [check["name"] for check in checks if not check["passed"]]
    if failed:
        session.error("the gate failed: " + ", ".join(failed))


def succeeded(session: nox.Session, command: list[str]) -> bool:
    try:
        session.run(*command)
    except nox.command.CommandFailed:
        return False
    return True


def tests_check() -> dict[str, Any]:
    """Every suite's JUnit XML (build/junit) summed up: passed when each ran and none failed."""
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    missing = [suite for suite in SUITES if not (BUILD / "junit" / f"{suite}.xml").exists()]
    for suite in set(SUITES) - set(missing):
        # Our own pytest wrote it: not untrusted input.
        root = ElementTree.parse(BUILD / "junit" / f"{suite}.xml").getroot()  # noqa: S314
        for element in root.iter("testsuite"):
            for key in counts:
                counts[key] += int(element.get(key, 0))
    failed = counts["failures"] + counts["errors"]
    passed = counts["tests"] - failed - counts["skipped"]
    observed = f"{passed} passed, {failed} failed, {counts['skipped']} skipped"
    if missing:
        observed += f"; no JUnit XML for {', '.join(missing)}"
    return {"name": "tests", "passed": not missing and failed == 0, "observed": observed}


def coverage_checks(session: nox.Session) -> list[dict[str, Any]]:
    """Lines and branches of the suites' combined coverage, judged by tools/coverage_gate.py
    (which `make test` runs too) against the thresholds in pyproject.toml."""
    patterns = [f"{suite}.cov.*" for suite in SUITES]
    if not any(COVERAGE_DATA.glob(pattern) for pattern in patterns):
        session.error(f"no coverage data in {COVERAGE_DATA}: run `nox -s tests` first")
    data = [str(COVERAGE_DATA / pattern) for pattern in patterns]  # expanded by the script
    succeeded(session, ["python", str(COVERAGE_GATE), *data])
    verdict = BUILD / "coverage-gate.json"  # absent when the script could not combine the data
    figures = json.loads(verdict.read_text()) if verdict.exists() else {}
    return [
        {"name": f"coverage_{name}", "passed": False, **figures.get(name, {})}
        for name in ("lines", "branches")
    ]


@nox.session
@timed
def scan(session: nox.Session) -> None:
    """bandit on src, pip-audit on the wheel's installed dependencies, a CycloneDX SBOM.

    `-- --skip-audit` leaves pip-audit out on a machine that cannot reach its vulnerability
    service (it says so loudly); CI refuses it.
    """
    install(session, "bandit", "pip-audit", "cyclonedx-bom")
    out = BUILD / "scan"
    out.mkdir(parents=True, exist_ok=True)
    session.run(
        "bandit", "--recursive", "src", "--quiet",
        f"--severity-level={BANDIT_SEVERITY}", f"--confidence-level={BANDIT_CONFIDENCE}",
    )  # fmt: skip
    wheel = built_wheel(session)
    python = runtime_environment(session, wheel, out / "runtime")
    requirements = out / "requirements.txt"
    frozen = session.run(
        "python", "-m", "pip", "--python", python, "freeze", "--exclude", "v11ops", silent=True
    )
    requirements.write_text(str(frozen))
    audit(session, requirements, out / "pip-audit.json")
    sbom = out / "sbom.cdx.json"
    session.run(
        "cyclonedx-py", "environment", python, "--pyproject", "pyproject.toml",
        "--output-reproducible", "--output-format", "JSON", "--output-file", str(sbom),
    )  # fmt: skip
    # --pyproject names the root component, but its version is computed by hatch-vcs.
    document = json.loads(sbom.read_text())
    document["metadata"]["component"]["version"] = wheel_version(wheel)
    sbom.write_text(json.dumps(document, indent=2) + "\n")
    session.log(f"reports in {out}")


def runtime_environment(session: nox.Session, wheel: Path, venv: Path) -> str:
    """A virtualenv with only the wheel and its dependencies (what a user installs); its python.

    It has no pip of its own, so pip and setuptools stay out of the audit and the SBOM.
    """
    session.run("python", "-m", "venv", "--clear", "--without-pip", str(venv))
    python = str(venv / "bin" / "python")
    session.run("python", "-m", "pip", "--python", python, "install", "--quiet", str(wheel))
    return python


def audit(session: nox.Session, requirements: Path, report: Path) -> None:
    if "--skip-audit" in session.posargs:
        if in_ci():
            session.error("--skip-audit is refused in CI: the audit must run")
        session.warn("SKIPPED pip-audit (--skip-audit): the dependencies were NOT audited")
        return
    # pip-audit asks PyPI's JSON API for each release's vulnerabilities. A machine that reaches
    # the package index but not that API (a mirror, a proxy) cannot audit: that must fail, with
    # this reason, rather than pass unaudited. pip 24.0 is a release that exists for sure.
    probe = "https://pypi.org/pypi/pip/24.0/json"
    try:
        with urllib.request.urlopen(probe, timeout=15) as response:
            reachable = "vulnerabilities" in json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        session.log(f"{probe}: {exc}")
        reachable = False
    if not reachable:
        session.error(
            f"pip-audit cannot reach PyPI's vulnerability data ({probe}): the dependencies "
            "cannot be audited from this machine, so the scan fails"
        )
    session.run(
        "pip-audit", "--requirement", str(requirements), "--no-deps", "--disable-pip",
        "--strict", "--progress-spinner=off", "--format=json", f"--output={report}",
    )  # fmt: skip


@nox.session
@timed
def native(session: nox.Session) -> None:
    """dist/v11ops.pyz, one file with every dependency (shiv), then a smoke check of it."""
    install(session, "shiv")
    wheel = built_wheel(session)
    pyz = DIST / "v11ops.pyz"
    python = session.run(
        "python", "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        silent=True,
    )  # fmt: skip
    # The zipapp holds compiled wheels (uvloop, PyNaCl, psycopg) for this Python version, so its
    # shebang names that version. --extend-pythonpath: the node starts `python -m
    # v11node.verifier` children, which find the zipapp's packages through PYTHONPATH.
    # --compile-pyc: the first run unpacks and compiles once; without it, where
    # PYTHONDONTWRITEBYTECODE is set (CI images, containers), every start compiles everything.
    session.run(
        "shiv", "--console-script", "v11ops", "--output-file", str(pyz),
        "--python", f"/usr/bin/env python{str(python).strip()}",
        "--extend-pythonpath", "--compile-pyc", "--reproducible", str(wheel),
    )  # fmt: skip
    smoke_native(session, pyz)


def smoke_native(session: nox.Session, pyz: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="v11ops-shiv-") as shiv_root:
        # A fresh SHIV_ROOT: the first run unpacks the zipapp (cold), later runs reuse it.
        env = {**os.environ, "SHIV_ROOT": shiv_root}
        timings = [time_version(session, pyz, env) for _ in range(4)]
        cold, warm = timings[0], min(timings[1:])
        verdict = "within" if warm < STARTUP_TARGET_S else "OVER"
        session.log(
            f"`v11ops.pyz --version` starts in {warm:.2f} s warm ({verdict} the "
            f"{STARTUP_TARGET_S:g} s target), {cold:.2f} s on the first run (unpacking)"
        )
        if warm >= STARTUP_TARGET_S:
            session.warn(f"startup {warm:.2f} s is over the {STARTUP_TARGET_S:g} s target")
        with running_node(session, [str(pyz)], BUILD / "native-node.log", env) as url:
            # A few transactions: the node verifies them in child processes, which must find
            # the zipapp's packages too; the load generator is the zipapp's own.
            load = [str(pyz), "load", "--target", url, "--rate", "50", "--batch", "5"]
            result = subprocess.run(
                [*load, "--duration", "1"], env=env, capture_output=True, text=True, timeout=120
            )
            if result.returncode != 0:
                session.error(f"`v11ops.pyz load` against it failed: {result.stdout[-2000:]}")
            session.log("the node from v11ops.pyz became ready and accepted transactions")


def time_version(session: nox.Session, pyz: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [str(pyz), "--version"], env=env, capture_output=True, text=True, timeout=120
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or not result.stdout.startswith("v11ops "):
        session.error(f"`v11ops.pyz --version` failed ({result.returncode}): {result.stderr}")
    return elapsed


@nox.session(venv_backend="none")
@timed
def image(session: nox.Session) -> None:
    """The container image from the wheel in dist/ (Dockerfile); `-- --push` pushes it."""
    problem = docker_engine_problem()
    if problem:
        skip_or_fail(session, f"no Docker engine answers `docker info` ({problem})")
    wheel = built_wheel(session)
    version = wheel_version(wheel)
    name = os.environ.get("V11OPS_IMAGE", "v11ops").lower()
    tag = f"{name}:{version.replace('+', '-')}"  # an image tag may not hold a '+'
    session.run(
        "docker", "build", "--pull", "--tag", tag,
        "--build-arg", f"VERSION={version}",
        "--build-arg", f"REVISION={git_revision()}",
        "--build-arg", f"CREATED={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}",
        "--build-arg", f"SOURCE={source_url()}",
        ".", external=True,
    )  # fmt: skip
    session.log(f"built {tag}")
    if "--push" in session.posargs:
        session.run("docker", "push", tag, external=True)


def docker_engine_problem() -> str:
    """Why no Docker engine can build here, or "" when one answers."""
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if result.returncode == 0:
        return ""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {result.returncode}"


def source_url() -> str:
    """The repository's address for the image's source label (GitHub Actions names it)."""
    server, repository = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    return f"{server}/{repository}" if server and repository else "unknown"


def git_revision() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=ROOT
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() or "unknown"


@nox.session(venv_backend="none")
@timed
def deploy(session: nox.Session) -> None:
    """`v11ops deploy VERSION` on V11OPS_DEPLOY_HOST over SSH; the exit code is the outcome.

    V11OPS_DEPLOY_VERSION (default: the wheel's version) must be a release listed in the host's
    config, V11OPS_DEPLOY_CONFIG (default v11ops.yaml in the SSH user's home).
    """
    host = os.environ.get("V11OPS_DEPLOY_HOST", "")
    if not host:
        skip_or_fail(session, "V11OPS_DEPLOY_HOST is not set: there is no host to deploy to")
    version = os.environ.get("V11OPS_DEPLOY_VERSION") or wheel_version(built_wheel(session))
    config = os.environ.get("V11OPS_DEPLOY_CONFIG", "v11ops.yaml")
    remote = shlex.join(["v11ops", "deploy", "--file", config, "--json", version])
    session.log(f"deploying {version} on {host}")
    session.run(
        "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", host, remote,
        external=True,
    )  # fmt: skip
