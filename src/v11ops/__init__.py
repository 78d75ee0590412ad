"""v11ops: build, deploy, monitor and recover the Aurigraph V11 node (or any HTTP service)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("v11ops")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
