"""Runtime: how instances are started, stopped, adopted after a restart, and supervised.

runtime = ProcessRuntime(config.state_path)
await runtime.adopt()                               # after a controller (re)start
instance = await runtime.start("green", release, port)
result = await runtime.stop(instance, drain_timeout_s=30)   # StopResult
"""

from v11ops.runtime._instance import AdoptResult, Instance, StopOutcome, StopResult
from v11ops.runtime._ports import PortRangeError, free_port
from v11ops.runtime._process import MARKER_ENV, InstanceStartError, ProcessRuntime
from v11ops.runtime._protocol import Runtime
from v11ops.runtime._supervisor import INSTANCE_RESTARTS, BackoffPolicy, EventSink, Supervisor

__all__ = [
    "INSTANCE_RESTARTS",
    "MARKER_ENV",
    "AdoptResult",
    "BackoffPolicy",
    "EventSink",
    "Instance",
    "InstanceStartError",
    "PortRangeError",
    "ProcessRuntime",
    "Runtime",
    "StopOutcome",
    "StopResult",
    "Supervisor",
    "free_port",
]
