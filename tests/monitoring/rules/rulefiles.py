"""Read the committed rule files and the metric names their PromQL queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = ROOT / "monitoring" / "prometheus" / "rules"
# Expressions that wrap one other expression.
WRAPPERS = (
    promql_parser.AggregateExpr,
    promql_parser.ParenExpr,
    promql_parser.SubqueryExpr,
    promql_parser.UnaryExpr,
)
TESTS_DIR = ROOT / "monitoring" / "prometheus" / "tests"
SLO_SPEC = ROOT / "monitoring" / "prometheus" / "slo.yaml"
ALERTS_FILE = RULES_DIR / "aurigraph-alerts.yml"


def rules(files: list[Path] | None = None) -> list[dict[str, Any]]:
    """Every rule of the rule files, in order."""
    out: list[dict[str, Any]] = []
    for path in files or sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def alerts(files: list[Path] | None = None) -> list[dict[str, Any]]:
    return [r for r in rules(files) if "alert" in r]


def selectors(expr: str) -> set[str]:
    """Names of the metrics an expression selects (parsed by a real PromQL parser)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                found.add(node.name)
            else:  # {__name__="..."}
                found.update(m.value for m in node.matchers.matchers if m.name == "__name__")
            return
        if isinstance(node, promql_parser.MatrixSelector):
            walk(node.vector_selector)
        elif isinstance(node, promql_parser.BinaryExpr):
            walk(node.lhs)
            walk(node.rhs)
        elif isinstance(node, promql_parser.Call):
            for arg in node.args:
                walk(arg)
        elif isinstance(node, WRAPPERS):
            walk(node.expr)

    walk(promql_parser.parse(expr))
    return found
