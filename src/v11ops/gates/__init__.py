"""Gates: checks that must pass before the next step of a deploy.

Each returns a GateResult(name, passed, evidence, duration_s); every Evidence says what was
checked, what was observed and what was expected, as JSON values.

    await readiness(base_url, "/q/health/ready", consecutive_passes=3, interval_s=0.2,
                    deadline_s=30, is_alive=lambda: runtime.is_alive(instance))
    await smoke(base_url, config.gates.smoke, version="1.1.0")
    await run_hooks("pre_switch", config.hooks.pre_switch, HookContext(...))
"""

from v11ops.gates._hooks import HookContext, command_hook, http_hook, run_hooks
from v11ops.gates._readiness import readiness
from v11ops.gates._result import Evidence, GateResult
from v11ops.gates._signed_transaction import next_nonce, signed_transaction_check
from v11ops.gates._smoke import smoke

__all__ = [
    "Evidence",
    "GateResult",
    "HookContext",
    "command_hook",
    "http_hook",
    "next_nonce",
    "readiness",
    "run_hooks",
    "signed_transaction_check",
    "smoke",
]
