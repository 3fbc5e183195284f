"""The SQLite file is made private without touching the locks of a connection already open on it."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from gridgov.core.db import make_engine

# Another process (the `sqlite3` tool, a second server) opens the database, writes and closes. Closing, it
# checkpoints and deletes the write-ahead log if it believes no one else has the database open — which it
# learns from the POSIX locks the other connections hold on the database file.
OPEN_WRITE_CLOSE = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], timeout=5)
connection.execute("INSERT INTO t VALUES (2)")
connection.commit()
connection.close()
"""


def test_a_second_engine_on_an_open_database_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    database = tmp_path / "var" / "gridgov.sqlite3"
    wal = database.with_name(database.name + "-wal")
    first = make_engine(f"sqlite:///{database}")
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    with first.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        connection.commit()
        # The command line makes an engine of its own on the same file in this process (the tests do too).
        # Opening and closing a descriptor of the file there dropped every lock this process held on it.
        second = make_engine(f"sqlite:///{database}")
        subprocess.run([sys.executable, "-c", OPEN_WRITE_CLOSE, str(database)], check=True)
        assert wal.exists(), "the other process took the log away from under an open connection"
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 2
        second.dispose()
    first.dispose()
