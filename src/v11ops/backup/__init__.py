"""Backups of the ledger and of v11ops itself: encrypted, verified, drilled.

manifest = create_backup(BackupRequest(db=url, repo=repo, key=load_key(key_file)))
scan(repo, key)                                   # every backup and its status
restore_ledger(pick(scan(repo, key), None), key, "sqlite:///restored.db", force=False)
run_drill(repo, key)                              # restore + verify into scratch: measured RTO

Files: archive.py (zstd + chunked AES-256-GCM), manifest.py (layout, manifest, catalog), sources.py
(snapshots), create.py, restore.py, drill.py, retention.py and prune.py, pitr.py (PostgreSQL WAL
archiving and point-in-time restore), metrics.py (textfile collector), schedule.py,
deploy_guard.py (schema-aware deploys and rollbacks), dr.py (`v11ops dr drill`).
"""

from v11ops.backup.errors import BackupError, BackupUsageError, IntegrityError
from v11ops.backup.keys import KEY_ENV, BackupKey, load_key

__all__ = [
    "KEY_ENV",
    "BackupError",
    "BackupKey",
    "BackupUsageError",
    "IntegrityError",
    "load_key",
]
