"""The smoke gate: configured HTTP checks (and a signed transaction) against a new slot."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from v11ops.config import ConfigError, HttpCheck, SmokeCheck, resolve_mapping
from v11ops.gates._http import client_or, describe_failure, excerpt
from v11ops.gates._json_match import MISSING, json_equal, lookup, substitute
from v11ops.gates._result import Evidence, GateResult
from v11ops.gates._signed_transaction import signed_transaction_check


async def smoke(
    base_url: str,
    checks: Sequence[SmokeCheck],
    *,
    version: str,
    client: httpx.AsyncClient | None = None,
    config_dir: Path | None = None,
) -> GateResult:
    """Run every check in order (all of them, so the evidence is complete); the gate passes
    when all pass. `{version}` in paths and expected values is the release being deployed;
    `env:`/`file:` header references resolve against `config_dir`."""
    began = time.monotonic()
    evidence: list[Evidence] = []
    async with client_or(client) as http:
        for index, check in enumerate(checks):
            try:
                headers = resolve_mapping(
                    check.headers, config_dir or Path.cwd(), f"gates.smoke[{index}].headers"
                )
            except ConfigError as exc:
                evidence.append(Evidence(f"{check.name}: headers", str(exc), "resolved", False))
                continue
            if isinstance(check, HttpCheck):
                evidence += await _http_check(http, base_url, check, version, headers)
            else:
                evidence += await signed_transaction_check(http, base_url, check, version, headers)
    passed = all(e.passed for e in evidence)
    return GateResult("smoke", passed, evidence, time.monotonic() - began)


async def _http_check(
    http: httpx.AsyncClient,
    base_url: str,
    check: HttpCheck,
    version: str,
    headers: dict[str, str],
) -> list[Evidence]:
    path = check.path.replace("{version}", version)
    label = f"{check.name}: {check.method} {path}"
    try:
        response = await http.request(
            check.method,
            f"{base_url}{path}",
            headers=headers,
            json=check.body,
            timeout=check.timeout_s,
        )
    except httpx.HTTPError as exc:
        return [Evidence(f"{label} status", describe_failure(exc), check.expect_status, False)]
    status_ok = response.status_code == check.expect_status
    evidence = [
        Evidence(
            f"{label} status",
            response.status_code,
            check.expect_status,
            status_ok,
            note="" if status_ok else excerpt(response.text),
        )
    ]
    if not check.expect_json:
        return evidence
    try:
        document: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        evidence.append(
            Evidence(f"{label} body", f"not JSON: {excerpt(response.text, 80)}", "JSON", False)
        )
        return evidence
    for dotted, raw_expected in check.expect_json.items():
        expected = substitute(raw_expected, version)
        observed = lookup(document, dotted)
        if observed is MISSING:
            evidence.append(Evidence(f"{label} json {dotted}", None, expected, False, "missing"))
        else:
            passed = json_equal(observed, expected)
            evidence.append(Evidence(f"{label} json {dotted}", observed, expected, passed))
    return evidence
