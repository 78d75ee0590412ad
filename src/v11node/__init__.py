"""The Aurigraph V11 reference node: the workload that v11ops deploys, watches and backs up."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("v11ops")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

NODE_NAME = "aurigraph-v11-node"
