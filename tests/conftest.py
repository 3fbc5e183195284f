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
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# Tests use their own working directory (database files, the synthesis cache) inside the checkout.
os.environ.setdefault("GRIDGOV_VAR_DIR", str(REPO / "var" / "test"))
# Rate limits (core/ratelimit.py) are generous in the shared test app, which logs in and files events many
# times from one address; the tests of the limits give their app a limiter with tight ones.
for _limit in ("REPORT", "OPEN311_POST", "OPEN311_GET", "TICKET_PAGE", "LOGIN", "KEY_FAILURES"):
    os.environ.setdefault(f"GRIDGOV_RATE_LIMITS_{_limit}", "100000/minute")

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from gridgov.audit.service import install_write_auditing  # noqa: E402
from gridgov.core.db import make_engine, session_factory  # noqa: E402
from gridgov.core.migrate import upgrade  # noqa: E402
from gridgov.demo.accounts import DemoAccount  # noqa: E402

install_write_auditing()

POSTGRES_ADMIN_URL = os.environ.get(
    "GRIDGOV_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("GRIDGOV_REQUIRE_POSTGRES") == "1"
POSTGRES_SKIP_REASON = (
    f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: PostgreSQL tests skipped "
    "(set GRIDGOV_TEST_POSTGRES_URL, or GRIDGOV_REQUIRE_POSTGRES=1 to fail instead)"
)


#: The shared data beside the checkout (``../shared/data``): the Shenzhen pairs, the NAACL 2019 corpus, …
SHARED_DATA = REPO.parent / "shared" / "data"


def require(present: bool, message: str) -> None:
    """The one rule for a test that needs something outside the checkout (a data file under
    ``../shared/data``, a Debian tool): skip with ``message`` where it is missing, FAIL under CI."""
    if present:
        return
    if os.environ.get("CI"):  # under CI (``.ci/run`` exports CI=true) every test runs
        pytest.fail(f"{message} (CI is set: it must be present)")
    pytest.skip(message)


def require_file(path: Path) -> Path:
    """``path`` if it is a file; else skip (fail under CI), naming the missing file."""
    require(path.is_file(), f"{path} is missing (the shared data is not beside the checkout)")
    return path


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


def _order_seed(config: pytest.Config) -> str | None:
    """pytest-randomly's seed as a command-line hint, when the suite runs in random order."""
    seed = getattr(config.option, "randomly_seed", None)
    if not config.pluginmanager.hasplugin("randomly") or not isinstance(seed, int):
        return None
    return f"random order: repeat it with -p randomly --randomly-seed={seed}"


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Say the seed at the start even under ``-q`` (pytest-randomly's own header line is hidden there)."""
    hint = _order_seed(session.config)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if hint and reporter is not None and not hasattr(session.config, "workerinput"):
        reporter.write_line(hint)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """… and again at the end, beside the failures."""
    hint = _order_seed(config)
    if hint:
        terminalreporter.write_line(hint)


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


@pytest.fixture(name="require", scope="session")
def require_fixture() -> Callable[[bool, str], None]:
    """``require(present, message)`` (see ``require``): skip where something is missing, fail under CI."""
    return require


@pytest.fixture(name="require_file", scope="session")
def require_file_fixture() -> Callable[[Path], Path]:
    """``require_file(path)`` (see ``require_file``): a data file, or skip — fail under CI."""
    return require_file


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
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic world (scale 0.01, seed 1), generated once for the session."""
    from gridgov.demo.generate import generate_world

    target = tmp_path_factory.mktemp("world")
    generate_world(target, scale=0.01, seed=1)
    return target


@pytest.fixture(scope="session")
def engine(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, demo_world: Path
) -> Iterator[Engine]:
    """A migrated database on ``backend`` with the Nanshan areas and the demo address library loaded."""
    from gridgov.address.service import import_file
    from gridgov.areas.service import load_nanshan_areas

    engine = make_engine(_new_database_url(backend, request, tmp_path_factory))
    upgrade(engine)
    with session_factory(engine)() as session:
        load_nanshan_areas(session)
        for feed in ("standard_addresses.csv", "dwellings.csv"):
            import_file(session, demo_world / "addresses" / feed, source="tests")
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session
        session.rollback()


@pytest.fixture(scope="session")
def demo_accounts(engine: Engine) -> dict[str, DemoAccount]:
    """The demo accounts of this database, by role (one per role; passwords known)."""
    from gridgov.demo.accounts import create_demo_accounts

    with session_factory(engine)() as session:
        accounts = create_demo_accounts(session)
        session.commit()
    return {a.role: a for a in accounts}


@pytest.fixture(scope="session")
def role_tokens(engine: Engine, demo_accounts: dict[str, DemoAccount]) -> dict[str, str]:
    """A bearer token per role, issued directly (the login route has its own tests)."""
    from gridgov.accounts import service

    tokens: dict[str, str] = {}
    with session_factory(engine)() as session:
        for role, account in demo_accounts.items():
            user = service.get_user_by_name(session, account.username)
            tokens[role] = service.issue_token(session, user, name="tests").token
        session.commit()
    return tokens


@pytest.fixture(scope="session")
def app(engine: Engine) -> FastAPI:
    from gridgov.web.app import create_app

    return create_app(engine)


@pytest.fixture(scope="session")
def anonymous_client(app: FastAPI) -> Iterator[TestClient]:
    # https so that Secure cookies travel, as they do in a browser on 127.0.0.1.
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


@pytest.fixture(scope="session")
def client_for(app: FastAPI, role_tokens: dict[str, str]) -> Iterator[Callable[[str], TestClient]]:
    """``client_for("grid_worker")``: a client carrying that role's bearer token."""
    clients: dict[str, TestClient] = {}

    def make(role: str) -> TestClient:
        if role not in clients:
            test_client = TestClient(app, base_url="https://testserver")
            test_client.headers["Authorization"] = f"Bearer {role_tokens[role]}"
            clients[role] = test_client
        return clients[role]

    yield make
    for test_client in clients.values():
        test_client.close()


@pytest.fixture(scope="session")
def client(client_for: Callable[[str], TestClient]) -> TestClient:
    """An administrator's client (district-wide scope, every permission)."""
    return client_for("admin")


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


@pytest.fixture(autouse=True)
def _fresh_audit_actor() -> Iterator[None]:
    """Each test starts as the ``system`` actor (a CLI run in-process sets ``cli:<user>`` for the thread)."""
    from gridgov.audit.context import SYSTEM, actor_context

    with actor_context(SYSTEM):
        yield


@pytest.fixture
def cli_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the CLI's settings (database URL) at the test database of ``engine``."""
    from gridgov.core.db import get_engine
    from gridgov.core.settings import get_settings

    monkeypatch.setenv("GRIDGOV_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.fixture
def world_db(
    backend: str, empty_engine_factory: Callable[[str], Engine], demo_world: Path
) -> Iterator[sessionmaker[Session]]:
    """A fresh database with the areas and the demo world's address library (for the import pipeline)."""
    from gridgov.address.service import import_file
    from gridgov.areas.service import load_nanshan_areas

    engine = empty_engine_factory(backend)
    factory = session_factory(engine)
    with factory() as session:
        load_nanshan_areas(session)
        import_file(session, demo_world / "addresses" / "standard_addresses.csv", source="demo-world")
        import_file(session, demo_world / "addresses" / "dwellings.csv", source="demo-world")
        session.commit()
    yield factory


# The feeds of the demo world and the truth files that say where each row really lies.
_FEEDS = (
    ("population.self_declared", "population/residents_self_declared.csv", "population/residents_truth.csv"),
    ("housing.rentals", "housing/rentals.xlsx", "housing/rentals_truth.csv"),
    ("entities.business_register", "entities/business_register.csv", "entities/business_register_truth.csv"),
)


@pytest.fixture(scope="session")
def registry_feeds(demo_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small copies of the demo world's three feeds (CSV): every row that truly lies in the demo community
    (科技园社区, where the demo community and grid accounts work) plus the first 600 rows of each feed, so
    that registry and task tests get realistic, messy data inside and outside a scope in seconds."""
    import csv

    from gridgov.demo.accounts import DEMO_COMMUNITY
    from gridgov.ingest.readers import read_rows

    target = tmp_path_factory.mktemp("registry_feeds")
    feeds: dict[str, Path] = {}
    for source, feed, truth_file in _FEEDS:
        with (demo_world / truth_file).open(encoding="utf-8-sig") as handle:
            truth = list(csv.DictReader(handle))
        grid_column = next(c for c in truth[0] if c.endswith("grid_code"))
        inside = {row["record_id"] for row in truth if row[grid_column].startswith(DEMO_COMMUNITY)}
        rows = list(read_rows(demo_world / feed))
        header = list(rows[0].cells)
        kept = [raw for raw in rows if raw.number <= 600 or str(raw.cells.get(header[0])) in inside]
        out = target / (Path(feed).stem + ".csv")
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for raw in kept:
                writer.writerow(raw.raw if raw.raw is not None else [raw.cells.get(c) for c in header])
        feeds[source] = out
    return feeds


@pytest.fixture(scope="session")
def registry_world(engine: Engine, registry_feeds: dict[str, Path]) -> dict[str, object]:
    """The shared test database (``engine``) with the registry filled from ``registry_feeds`` through the
    import pipeline (people first, so rental tenants link to them); the batch reports by source."""
    from gridgov.ingest.service import ingest_file

    factory = session_factory(engine)
    return {
        source: ingest_file(factory, path, source=source).as_dict() for source, path in registry_feeds.items()
    }
