"""What goes wrong in a backup operation, and the exit code the CLI gives it."""

from __future__ import annotations


class BackupError(RuntimeError):
    """An operation failed; the message says what and where. Exit code 1."""

    exit_code = 1


class BackupUsageError(BackupError):
    """A usage or configuration mistake (missing key, bad URL, non-empty target). Exit code 2."""

    exit_code = 2


class IntegrityError(BackupError):
    """A backup file is corrupted, truncated, reordered or was written with another key."""
