"""The coverage gate: combine the data of a test run, report it, check it against the thresholds.

    python tools/coverage_gate.py [--enforce] DATA_FILE_OR_PATTERN...

One implementation for `make test` (.ci/run) and nox's `gate` session. It combines the data
files (the test process and every process the tests started), writes build/.coverage,
build/coverage.xml and build/coverage.json, prints the files with missing lines, a table per
package and the totals against [tool.v11ops.gate] in pyproject.toml, and records that verdict
in build/coverage-gate.json. With --enforce it exits 1 when lines or branches are below their
threshold; without, it only reports.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

import coverage

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


def thresholds() -> tuple[float, float]:
    """Percent of lines and of branches the gate requires."""
    gate = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["v11ops"]["gate"]
    return float(gate["line-coverage"]), float(gate["branch-coverage"])


def combine(data_files: list[str]) -> dict[str, Any]:
    """Combine into build/.coverage (the inputs stay), write the reports; the JSON report."""
    cov = coverage.Coverage(
        data_file=str(BUILD / ".coverage"),
        data_suffix=False,
        config_file=str(ROOT / "pyproject.toml"),
    )
    cov.combine(data_files, strict=True, keep=True)
    cov.save()
    cov.report(skip_covered=True, show_missing=True)
    cov.xml_report(outfile=str(BUILD / "coverage.xml"))
    cov.json_report(outfile=str(BUILD / "coverage.json"))
    report: dict[str, Any] = json.loads((BUILD / "coverage.json").read_text())
    return report


def expand(patterns: list[str]) -> list[str]:
    """Data files named or matched by glob patterns (quoted, so a long list stays out of logs)."""
    files = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise coverage.exceptions.NoDataError(f"no coverage data matches {pattern}")
        files += matched
    return files


def package_of(path: str) -> str:
    """`src/v11ops/router/table.py` -> `v11ops.router`; `src/v11node/node.py` -> `v11node`."""
    parts = Path(path).parts
    parts = parts[parts.index("src") + 1 :] if "src" in parts else parts
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def percent(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 100.0


def package_table(files: dict[str, dict[str, dict[str, int]]]) -> str:
    """Lines and branches covered per package, the weakest first."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for path, data in files.items():
        summary = data["summary"]
        row = sums[package_of(path)]
        row[0] += summary["covered_lines"]
        row[1] += summary["num_statements"]
        row[2] += summary["covered_branches"]
        row[3] += summary["num_branches"]
    rows = sorted(sums.items(), key=lambda item: percent(item[1][0], item[1][1]))
    out = [f"{'package':<24} {'lines':>8} {'missed':>6} {'branches':>9} {'missed':>6}"]
    for name, (lines, stmts, branches, nbranches) in rows:
        out.append(
            f"{name:<24} {percent(lines, stmts):6.2f} % {stmts - lines:6d} "
            f"{percent(branches, nbranches):7.2f} % {nbranches - branches:6d}"
        )
    return "\n".join(out)


def verdict(totals: dict[str, float], thresholds: tuple[float, float]) -> dict[str, Any]:
    """Each figure against its threshold, as build/coverage-gate.json records it."""
    figures = zip(
        ("lines", "branches"),
        (totals["percent_statements_covered"], totals["percent_branches_covered"]),
        thresholds,
        strict=True,
    )
    return {
        name: {"observed": round(got, 2), "threshold": want, "passed": got >= want}
        for name, got, want in figures
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enforce", action="store_true", help="exit 1 below a threshold")
    parser.add_argument("data", nargs="+", help="coverage data files (or glob patterns)")
    args = parser.parse_args(argv)
    (BUILD / "coverage-gate.json").unlink(missing_ok=True)  # no verdict of an earlier run
    try:
        report = combine(expand(args.data))
    except coverage.exceptions.NoDataError as exc:
        print(f"coverage gate: {exc}", file=sys.stderr)
        return 2
    print("\n" + package_table(report["files"]))
    figures = verdict(report["totals"], thresholds())
    (BUILD / "coverage-gate.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("\ncoverage: " + ", ".join(
        f"{name} {f['observed']:.2f} % (gate {f['threshold']:g} %)" for name, f in figures.items()
    ))  # fmt: skip
    below = [name for name, figure in figures.items() if not figure["passed"]]
    for name in below:
        note = "" if args.enforce else " (not enforced)"
        print(f"coverage gate: {name} below {figures[name]['threshold']:g} %{note}")
    return 1 if below and args.enforce else 0


if __name__ == "__main__":
    sys.exit(main())
