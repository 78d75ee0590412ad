"""Hook gates: an HTTP call or a command, with a timeout; a failing required hook fails."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from v11ops.config import CommandHook, ConfigError, Hook, HttpHook, render_env, resolve_mapping
from v11ops.config._templates import placeholders, render
from v11ops.gates._http import client_or, describe_failure, excerpt
from v11ops.gates._result import Evidence, GateResult


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a hook template may refer to. `old*` are None on the first deploy."""

    new: str  # base URL of the new slot
    version: str
    slot: str
    state_dir: str
    old: str | None = None  # base URL of the old slot
    old_version: str | None = None
    old_slot: str | None = None
    python: str = sys.executable

    def values(self) -> dict[str, str]:
        fields = {
            "new": self.new,
            "version": self.version,
            "slot": self.slot,
            "state_dir": self.state_dir,
            "old": self.old,
            "old_version": self.old_version,
            "old_slot": self.old_slot,
            "python": self.python,
        }
        return {k: v for k, v in fields.items() if v is not None}


def _missing(templates: Sequence[str], context: HookContext) -> list[str]:
    values = context.values()
    return sorted({n for t in templates for n in placeholders(t) if n not in values})


def _skipped(hook: Hook, missing: list[str]) -> GateResult:
    note = f"skipped: there is no {', '.join('{' + m + '}' for m in missing)} (first deploy)"
    return GateResult(f"hook {hook.name}", True, [Evidence(hook.name, None, None, True, note)])


def _verdict(hook: Hook, evidence: Evidence, began: float) -> GateResult:
    if not evidence.passed and not hook.required:
        note = "; ".join(filter(None, [evidence.note, "not required: the deploy goes on"]))
        evidence = Evidence(evidence.check, evidence.observed, evidence.expected, False, note)
        return GateResult(f"hook {hook.name}", True, [evidence], time.monotonic() - began)
    return GateResult(f"hook {hook.name}", evidence.passed, [evidence], time.monotonic() - began)


async def http_hook(
    hook: HttpHook,
    context: HookContext,
    *,
    client: httpx.AsyncClient | None = None,
    config_dir: Path | None = None,
) -> GateResult:
    """Call the hook's URL; pass on its expected status (any 2xx by default)."""
    began = time.monotonic()
    if missing := _missing([hook.url], context):
        return _skipped(hook, missing)
    url = render(hook.url, context.values())
    expected: object = hook.expect_status if hook.expect_status is not None else "2xx"
    label = f"{hook.method} {url}"
    try:
        headers = resolve_mapping(hook.headers, config_dir or Path.cwd(), f"hook {hook.name}")
    except ConfigError as exc:
        return _verdict(hook, Evidence(f"{label} headers", str(exc), "resolved", False), began)
    async with client_or(client) as http:
        try:
            response = await http.request(hook.method, url, headers=headers, timeout=hook.timeout_s)
        except httpx.HTTPError as exc:
            return _verdict(hook, Evidence(label, describe_failure(exc), expected, False), began)
    status = response.status_code
    passed = status in hook.expect_status if hook.expect_status else 200 <= status < 300
    note = "" if passed else excerpt(response.text)
    return _verdict(hook, Evidence(label, status, expected, passed, note), began)


async def command_hook(
    hook: CommandHook, context: HookContext, *, config_dir: Path | None = None
) -> GateResult:
    """Run the hook's argv (no shell) with a timeout; exit code 0 passes. On timeout its whole
    process group is killed."""
    began = time.monotonic()
    if missing := _missing([*hook.command, *hook.env.values()], context):
        return _skipped(hook, missing)
    values = context.values()
    argv = [render(arg, values) for arg in hook.command]
    label = " ".join(argv)
    base = config_dir or Path.cwd()
    try:
        env = render_env(hook.env, values, base, f"hook {hook.name}.env")
    except ConfigError as exc:
        return _verdict(hook, Evidence(f"{label} env", str(exc), "resolved", False), began)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=base,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        observed = f"cannot run: {exc.strerror or exc}"
        return _verdict(hook, Evidence(label, observed, "exit code 0", False), began)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), hook.timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        observed = f"timed out after {hook.timeout_s:g} s"
        return _verdict(hook, Evidence(label, observed, "exit code 0", False), began)
    code = process.returncode
    tail = excerpt(output.decode(errors="replace")[-400:])
    passed = code == 0
    return _verdict(hook, Evidence(label, code, 0, passed, "" if passed else tail), began)


async def run_hooks(
    point: str,
    hooks: Sequence[Hook],
    context: HookContext,
    *,
    client: httpx.AsyncClient | None = None,
    config_dir: Path | None = None,
) -> GateResult:
    """Run the hooks of one deploy point in order; stop at the first required failure."""
    began = time.monotonic()
    evidence: list[Evidence] = []
    passed = True
    for hook in hooks:
        if isinstance(hook, HttpHook):
            result = await http_hook(hook, context, client=client, config_dir=config_dir)
        else:
            result = await command_hook(hook, context, config_dir=config_dir)
        evidence += result.evidence
        if not result.passed:
            passed = False
            break
    return GateResult(point, passed, evidence, time.monotonic() - began)
