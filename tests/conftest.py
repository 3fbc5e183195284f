"""Shared fixtures: every database test runs on SQLite **and** PostgreSQL.

PostgreSQL comes from ``GRIDGOV_TEST_POSTGRES_URL`` (default: the local server, user ``postgres``);
each run creates its own database and drops it afterwards. Where PostgreSQL cannot be reached, its
tests skip with one clear reason, unless ``GRIDGOV_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tests use their own working directory (database files, the synthesis cache) inside the checkout.
os.environ.setdefault("GRIDGOV_VAR_DIR", str(REPO / "var" / "test"))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from gridgov.core.db import make_engine, session_factory  # noqa: E402
from gridgov.core.migrate import upgrade  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "GRIDGOV_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("GRIDGOV_REQUIRE_POSTGRES") == "1"
POSTGRES_SKIP_REASON = (
    f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: PostgreSQL tests skipped "
    "(set GRIDGOV_TEST_POSTGRES_URL, or GRIDGOV_REQUIRE_POSTGRES=1 to fail instead)"
)


def _postgres_error() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means "no PostgreSQL here"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


_POSTGRES_ERROR = _postgres_error()


def pytest_report_header(config: pytest.Config) -> str:
    if _POSTGRES_ERROR is None:
        return f"gridgov: database tests run on SQLite and PostgreSQL ({POSTGRES_ADMIN_URL})"
    if REQUIRE_POSTGRES:
        return f"gridgov: PostgreSQL REQUIRED but unreachable ({_POSTGRES_ERROR}): its tests will fail"
    return f"gridgov: {POSTGRES_SKIP_REASON}"


class PostgresDatabases:
    """Creates throw-away PostgreSQL databases and drops them all at the end of the session."""

    def __init__(self) -> None:
        self.admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self) -> str:
        name = f"gridgov_test_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        with self.admin.connect() as connection:
            for name in self.names:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    if _POSTGRES_ERROR is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"GRIDGOV_REQUIRE_POSTGRES=1 but PostgreSQL is unreachable: {_POSTGRES_ERROR}")
        pytest.skip(POSTGRES_SKIP_REASON)
    databases = PostgresDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()


def _sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'gridgov.sqlite3'}"


def _new_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if backend == "sqlite":
        return _sqlite_url(tmp_path_factory)
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return databases.create()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_engine_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Engine]]:
    """Makes new, migrated, empty databases on a backend (each its own; disposed after the test)."""
    engines: list[Engine] = []

    def make(backend_name: str) -> Engine:
        engine = make_engine(_new_database_url(backend_name, request, tmp_path_factory))
        upgrade(engine)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture(scope="session")
def engine(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    """A migrated database on ``backend`` with the Nanshan areas loaded (read-only for tests)."""
    from gridgov.areas.service import load_nanshan_areas

    engine = make_engine(_new_database_url(backend, request, tmp_path_factory))
    upgrade(engine)
    with session_factory(engine)() as session:
        load_nanshan_areas(session)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session
        session.rollback()


@pytest.fixture(scope="session")
def client(engine: Engine) -> Iterator[TestClient]:
    from gridgov.web.app import create_app

    with TestClient(create_app(engine)) as test_client:
        yield test_client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(engine: Engine) -> Iterator[str]:
    """The real app served by uvicorn on a loopback port, for the browser tests."""
    import uvicorn

    from gridgov.web.app import create_app

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
