"""Errors of the monitoring stack; each message is one line that says what to do."""

from __future__ import annotations


class MonitoringError(RuntimeError):
    """A component did not start, stop or answer; the message names its log file."""


class MonitoringConfigError(MonitoringError):
    """The `monitoring:` section points at something that is not there (a usage error)."""


class MissingBinary(MonitoringError):
    """A component's program is not installed; the message gives the install command."""

    def __init__(self, binary: str, package: str) -> None:
        super().__init__(
            f"{binary} is not installed; install it with `sudo apt-get install {package}`"
        )
        self.binary = binary
        self.package = package
