"""Browser fixtures: Debian's /usr/bin/chromium driven by Playwright against the real app.

The app runs in uvicorn on a thread, on a free loopback port, over a temporary migrated SQLite database
with the Nanshan areas loaded. SQLite only: the pages do not depend on the backend, and the API tests
already cover PostgreSQL. (The root conftest's ``live_server`` follows its sqlite/postgresql
parameter, which would run every browser test twice.)

No browser is downloaded (``playwright install`` would fetch one from the internet): Debian's chromium
is launched by path. Where it is missing the tests skip with the reason, except under CI, where a
missing browser is a broken setup and fails.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def browser_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the real app over a migrated SQLite database with the areas loaded."""
    import uvicorn

    from gridgov.areas.service import load_nanshan_areas
    from gridgov.core.db import make_engine, session_factory
    from gridgov.core.migrate import upgrade
    from gridgov.demo.accounts import create_demo_accounts
    from gridgov.web.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('browser') / 'gridgov.sqlite3'}")
    upgrade(engine)
    with session_factory(engine)() as session:
        load_nanshan_areas(session)
        accounts = create_demo_accounts(session)
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
    yield base_url
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: browser tests need Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
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


def _open_page(
    browser: Browser, base_url: str, role: str = "admin", **context_options: Any
) -> Iterator[BrowserPage]:
    context = browser.new_context(**context_options)
    page = context.new_page()
    watch = PageWatch()
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
    yield from _open_page(
        chromium_browser,
        browser_server,
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )


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
