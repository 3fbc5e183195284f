"""Browser fixtures: Debian's /usr/bin/chromium driven by Playwright against the real app.

The app runs in uvicorn on a thread, on a free loopback port, over a temporary migrated SQLite database
with the Nanshan areas, the demo accounts, the event types and the 1+8+N units loaded, plus one building
address (with a dwelling) in 粤海街道 for the report form's address type-ahead. SQLite only: the pages do
not depend on the backend, and the API tests already cover PostgreSQL. (The root conftest's
``live_server`` follows its sqlite/postgresql parameter, which would run every browser test twice.)

``tasks_world`` is a second server, for the verification-task test (issue 6): its own SQLite database with
the demo world's address library, the demo accounts (made after the library, so the grid worker gets the
demo community's grids that hold addresses), the registry filled through the import pipeline from the
``registry_feeds`` copies, and the detection rules run. It is separate so that the registry data does not
change what the other pages' tests see.

No browser is downloaded (``playwright install`` would fetch one from the internet): Debian's chromium
is launched by path. Where it is missing the tests skip with the reason, except under CI, where a
missing browser is a broken setup and fails.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page

from gridgov.demo.accounts import DemoAccount

CHROMIUM = Path(os.environ.get("GRIDGOV_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Schemes that never leave the machine.
LOCAL_SCHEMES = {"data", "blob", "about"}
# A phone's browser context: small touch screen, Chinese.
PHONE: dict[str, Any] = {
    "locale": "zh-CN",
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


DEMO_STREET = "440305007000"  # 粤海街道: the demo street operator's scope
# The building the report form's type-ahead finds (part of its text typed), and a dwelling of it, which
# the type-ahead must never offer.
REPORT_BUILDING = "南山区粤海街道随手拍试验路8号试验大厦"
REPORT_DWELLING = "南山区粤海街道随手拍试验路8号试验大厦1单元501"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Place:
    """A seeded address: its text and its WGS84 point."""

    text: str
    lon: float
    lat: float


@dataclass(frozen=True)
class ServedWorld:
    """What the shared browser server serves, for the tests that need more than its address."""

    base_url: str
    logins: dict[str, tuple[str, str]]
    street_point: tuple[float, float]  # (lon, lat) inside 粤海街道: it locates to a grid of the street
    report_building: Place  # a building address in 粤海街道, at another grid's point


def _street_points(session: Any, street: str, count: int) -> list[tuple[float, float]]:
    """Centroids of the street's first grids that locate to their own grid (a concave grid's may not)."""
    from sqlalchemy import select

    from gridgov.areas.models import Grid
    from gridgov.areas.service import area_index

    index = area_index(session)
    points = []
    for grid in session.scalars(select(Grid).where(Grid.code.startswith(street[:9])).order_by(Grid.code)):
        located = index.locate(grid.centroid_lon, grid.centroid_lat)
        if located.grid is not None and located.grid.code == grid.code:
            points.append((grid.centroid_lon, grid.centroid_lat))
            if len(points) == count:
                return points
    raise AssertionError(f"fewer than {count} grid centroids inside street {street}")


def _seed(session: Any) -> tuple[list[Any], tuple[float, float], Place]:
    """Areas, demo accounts, event types, the 1+8+N units and the type-ahead's building (with a dwelling)."""
    from gridgov.address import service as addresses
    from gridgov.areas.scope import WHOLE_DISTRICT
    from gridgov.areas.service import load_nanshan_areas
    from gridgov.demo.accounts import create_demo_accounts
    from gridgov.events import service as events

    load_nanshan_areas(session)
    accounts = create_demo_accounts(session)
    events.seed_org_units(session)
    events.seed_categories(session)
    pin, (lon, lat) = _street_points(session, DEMO_STREET, 2)
    editor = addresses.Editor(name="browser-test seed", scope=WHOLE_DISTRICT)
    building = addresses.create_address(
        session,
        fields={"level": "building", "text": REPORT_BUILDING, "road": "随手拍试验路", "lon": lon, "lat": lat},
        editor=editor,
    )
    addresses.create_address(
        session,
        fields={
            "level": "dwelling",
            "text": REPORT_DWELLING,
            "parent_code": building.code,
            "unit": "1单元",
            "room": "501",
        },
        editor=editor,
    )
    return accounts, pin, Place(REPORT_BUILDING, lon, lat)


@pytest.fixture(scope="session")
def browser_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWorld]:
    """The real app over a migrated SQLite database with the seeded world (see the module notes)."""
    import uvicorn

    from gridgov.core.db import make_engine, session_factory
    from gridgov.core.migrate import upgrade
    from gridgov.web.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'gridgov.sqlite3'}")
    upgrade(engine)
    with session_factory(engine)() as session:
        accounts, street_point, building = _seed(session)
        session.commit()
    port = _free_port()
    config = uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="browser-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 20 s")
        time.sleep(0.05)
    base_url = f"http://127.0.0.1:{port}"
    LOGINS[base_url] = {a.role: (a.username, a.password) for a in accounts}
    yield ServedWorld(base_url, LOGINS[base_url], street_point, building)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _serve(engine: Any) -> tuple[Any, threading.Thread, str]:
    """The real app over ``engine`` in uvicorn on a thread, on a free loopback port."""
    import uvicorn

    from gridgov.web.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="browser-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 20 s")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class TasksWorld:
    """The verification-task server: its URL, the grid worker's grids, and the tasks the rules made."""

    base_url: str
    grids: frozenset[str]
    task_id: int  # an open task about a resident of the grid worker's first grid
    person_id: int  # that resident
    outside_task_id: int | None  # a task outside her grids (None if the rules found none)


@pytest.fixture(scope="session")
def tasks_world(
    tmp_path_factory: pytest.TempPathFactory, demo_world: Path, registry_feeds: dict[str, Path]
) -> Iterator[TasksWorld]:
    """Areas, address library, demo accounts, the registry through the pipeline, the rules run. The small
    world plants no problem inside the demo grids, so one resident there gets an address matched in the
    review band (as a loose self-declared address would be): the ``address_review`` rule finds it."""
    from sqlalchemy import select

    from gridgov.address.service import import_file
    from gridgov.areas.service import load_nanshan_areas
    from gridgov.core.db import make_engine, session_factory
    from gridgov.core.migrate import upgrade
    from gridgov.demo.accounts import create_demo_accounts
    from gridgov.ingest.service import ingest_file
    from gridgov.registry.models import Person
    from gridgov.rules.service import run_rules
    from gridgov.tasks.models import Task

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser-tasks') / 'gridgov.sqlite3'}")
    upgrade(engine)
    factory = session_factory(engine)
    with factory() as session:
        load_nanshan_areas(session)
        for feed in ("standard_addresses.csv", "dwellings.csv"):
            import_file(session, demo_world / "addresses" / feed, source="browser-tests")
        accounts = create_demo_accounts(session)
        session.commit()
    worker = next(a for a in accounts if a.role == "grid_worker")
    grids = frozenset(str(c) for c in worker.scope["codes"])  # type: ignore[union-attr]
    for source, path in registry_feeds.items():
        ingest_file(factory, path, source=source)
    with factory() as session:
        person = session.scalars(
            select(Person).where(Person.grid_code == sorted(grids)[0]).order_by(Person.id)
        ).first()
        assert person is not None, "no resident in the demo grid worker's first grid"
        person.address_score = 0.62
        run_rules(session)
        session.commit()
        task_id = session.scalars(
            select(Task.id).where(Task.rule == "address_review", Task.target_id == person.id)
        ).one()
        outside = session.scalars(
            select(Task.id).where(Task.grid_code.not_in(grids)).order_by(Task.id)
        ).first()
        person_id = person.id
    server, thread, base_url = _serve(engine)
    LOGINS[base_url] = {a.role: (a.username, a.password) for a in accounts}
    yield TasksWorld(base_url, grids, task_id, person_id, outside)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="session")
def browser_server(browser_world: ServedWorld) -> str:
    """Base URL of the shared browser server."""
    return browser_world.base_url


@pytest.fixture(scope="session")
def street_point(browser_world: ServedWorld) -> tuple[float, float]:
    """(lon, lat) inside 粤海街道, the demo street operator's scope."""
    return browser_world.street_point


@pytest.fixture(scope="session")
def report_building(browser_world: ServedWorld) -> Place:
    """The building address in 粤海街道 the report form's type-ahead finds (``REPORT_BUILDING``)."""
    return browser_world.report_building


@pytest.fixture(scope="session")
def chromium_browser(require: Callable[[bool, str], None]) -> Iterator[Browser]:
    require(
        CHROMIUM.exists(),
        f"{CHROMIUM} is missing: browser tests need Debian's chromium (apt-get install chromium)",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class PageWatch:
    """What a page did: every request URL and every console error or uncaught exception."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        foreign = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in LOCAL_SCHEMES:
                continue
            if (parts.hostname or "") not in LOOPBACK_HOSTS:
                foreign.append(url)
        return foreign

    def assert_clean(self) -> None:
        """Air-gapped rule (nothing from the internet) and a quiet console (CSP violations show there)."""
        assert self.foreign_requests() == [], "requests left the machine"
        assert self.errors == [], "console errors"


@dataclass
class BrowserPage:
    page: Page
    watch: PageWatch
    base_url: str


# Who the pages log in as, per server: (username, password) of its demo administrator.
LOGINS: dict[str, dict[str, tuple[str, str]]] = {}


def log_in(page: Page, base_url: str, role: str = "admin") -> None:
    """Log in through the real form, as an operator would."""
    username, password = LOGINS[base_url][role]
    page.goto(f"{base_url}/login")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    with page.expect_navigation():
        page.click("form.login-form button[type=submit]")
    assert "/login" not in page.url, "login failed"


def watch_page(page: Page, watch: PageWatch) -> Page:
    """Record the page's requests and console errors into ``watch`` (a second page of a context may share
    its watch)."""
    page.on("request", lambda request: watch.requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            watch.errors.append(f"console.{message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: watch.errors.append(f"pageerror: {error}"))
    # Generous for the first load of 1,610 grid polygons on a slow CI machine.
    page.set_default_timeout(30_000)
    return page


def _open_page(
    browser: Browser, base_url: str, role: str | None = "admin", **context_options: Any
) -> Iterator[BrowserPage]:
    """A new browser context and page, watched, logged in as ``role`` (None: an anonymous visitor)."""
    context = browser.new_context(**context_options)
    watch = PageWatch()
    page = watch_page(context.new_page(), watch)
    if role is not None:
        log_in(page, base_url, role)
    try:
        yield BrowserPage(page, watch, base_url)
    finally:
        context.close()


@pytest.fixture
def zh_page(chromium_browser: Browser, browser_server: str) -> Iterator[BrowserPage]:
    """A desktop page whose browser asks for Chinese, as an operator's browser in Shenzhen would."""
    yield from _open_page(
        chromium_browser, browser_server, locale="zh-CN", viewport={"width": 1440, "height": 900}
    )


@pytest.fixture
def zh_page_each_backend(
    chromium_browser: Browser, live_server: str, demo_accounts: dict[str, DemoAccount]
) -> Iterator[BrowserPage]:
    """Like ``zh_page``, served from the root ``live_server``: once on SQLite, once on PostgreSQL."""
    LOGINS[live_server] = {role: (a.username, a.password) for role, a in demo_accounts.items()}
    yield from _open_page(
        chromium_browser, live_server, locale="zh-CN", viewport={"width": 1440, "height": 900}
    )


@pytest.fixture
def phone_page(chromium_browser: Browser, browser_server: str) -> Iterator[BrowserPage]:
    """A grid worker's phone: small touch screen, Chinese."""
    yield from _open_page(chromium_browser, browser_server, **PHONE)


@pytest.fixture
def community_page(chromium_browser: Browser, browser_server: str) -> Iterator[BrowserPage]:
    """The 科技园社区 workstation: a community-scoped account."""
    yield from _open_page(
        chromium_browser,
        browser_server,
        role="community_staff",
        locale="zh-CN",
        viewport={"width": 1440, "height": 900},
    )


@pytest.fixture
def public_phone_page(chromium_browser: Browser, browser_server: str) -> Iterator[BrowserPage]:
    """An anonymous visitor on a phone (the public snap-report form needs no login)."""
    yield from _open_page(chromium_browser, browser_server, role=None, **PHONE)


@pytest.fixture
def street_page(chromium_browser: Browser, browser_server: str) -> Iterator[BrowserPage]:
    """The 粤海街道 street operator at the desk: desktop, Chinese."""
    yield from _open_page(
        chromium_browser,
        browser_server,
        role="street_operator",
        locale="zh-CN",
        viewport={"width": 1440, "height": 900},
    )
