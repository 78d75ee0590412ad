"""Durable instance records: one JSON file per instance under {state_dir}/instances/.

Why files and not a SQLite table: a record is written once when an instance starts and removed
when it stops, never queried; write-temp + fsync + rename makes each write atomic without a
schema, and it keeps the runtime off the controller journal's write lock. An operator can read
them with `cat`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from v11ops.runtime._instance import Instance


class InstanceRecords:
    """The folder of instance records."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, instance_id: str) -> Path:
        return self.folder / f"{instance_id}.json"

    def save(self, instance: Instance) -> None:
        """Write the record atomically and durably (file and folder fsynced)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = json.dumps(instance.to_record(), indent=1).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{instance.id}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path(instance.id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._fsync_folder()

    def remove(self, instance_id: str) -> None:
        """Remove a record (no error when it is already gone)."""
        self._path(instance_id).unlink(missing_ok=True)
        self._fsync_folder()

    def load_all(self) -> tuple[list[Instance], list[Path]]:
        """(valid records, unreadable files). Leftover temporary files are removed."""
        if not self.folder.is_dir():
            return [], []
        instances: list[Instance] = []
        broken: list[Path] = []
        for path in sorted(self.folder.iterdir()):
            if path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write that never got renamed into place
                continue
            if path.suffix != ".json":
                continue
            try:
                instances.append(Instance.from_record(json.loads(path.read_text())))
            except (OSError, ValueError, KeyError, TypeError):
                broken.append(path)
        return instances, broken

    def _fsync_folder(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
