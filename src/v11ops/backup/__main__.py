"""`python -m v11ops.backup ...`: the `v11ops backup` commands without the rest of the CLI.

PostgreSQL runs archive_command once per WAL segment and restore_command once per segment it
replays, so their start-up time adds to archiving lag (RPO) and to recovery time (RTO).
"""

from v11ops.cli.backup import app

app(prog_name="v11ops backup")
