"""SQLAlchemy 2 engine and sessions; SQLite in WAL mode as the embedded default, PostgreSQL in production."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from gridgov.core.private_files import FILE_MODE, make_private, private_dir
from gridgov.core.settings import get_settings

# One naming convention so Alembic produces the same constraint names on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # SQLite has one writer at a time and wakes waiting writers in no particular order: under a burst of
    # concurrent writes an unlucky one can wait several seconds. Waiting is better than failing the write.
    cursor.execute("PRAGMA busy_timeout=30000")
    # The default page cache is 2 MB per connection: at district scale (2 million people, each table with
    # several indexes on random keys such as ID hashes) an import spends its time re-reading index pages.
    # Up to 256 MB of cache (taken only as used) and reads through a memory map shared by all connections.
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.execute("PRAGMA mmap_size=1073741824")
    # Copy the write-ahead log back into the database after 40 MB rather than 4 MB: a bulk import commits
    # thousands of pages at a time, and each checkpoint writes a page touched by several commits once.
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


def _private_database_file(path: Path) -> None:
    """The SQLite file holds personal data: mode 0600 from its creation (SQLite gives its -wal and -shm
    files the database file's mode), in a folder of mode 0700 — one made here, or the working directory
    (``var``). A folder of the operator's own choosing that exists already keeps its mode."""
    folder = path.parent
    if not folder.exists() or folder.resolve() == get_settings().var_dir.resolve():
        private_dir(folder)
    if not path.exists():
        # Created 0600 before SQLite opens it. Never open (and close) a database file that exists: closing
        # any descriptor of a file drops every POSIX lock this process holds on it, SQLite's included, and
        # another engine of this process may have it open (a "disk I/O error" follows).
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        make_private(part)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if "///" in url and database and database != ":memory:" and not database.startswith("file:"):
            _private_database_file(Path(database.split("?", 1)[0]))
        # An in-memory database lives in one connection: it keeps SQLAlchemy's single-connection pool.
        pool = _pool_options() if database and database != ":memory:" else {}
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **_pool_options())


def _pool_options() -> dict[str, int]:
    settings = get_settings()
    return {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow}


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().resolved_database_url)


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=engine or get_engine(), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A unit of work on ``engine`` (default: the configured database)."""
    with transaction(session_factory(engine)) as session:
        yield session
