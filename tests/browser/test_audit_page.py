"""The auditor page in a real browser, under the real Content-Security-Policy: htmx fills the chain status,
the filters and paging work, and nothing leaves the machine.

The app here is small (the audit routers behind a stand-in for the authentication middleware that makes
every caller an auditor) so the test does not depend on the login flow.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from playwright.sync_api import Browser, Page, expect
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from gridgov.accounts.permissions import Role, permissions_of
from gridgov.accounts.scoping import AreaScope, Principal
from gridgov.audit import service
from gridgov.audit.context import ActorInfo, actor_context
from gridgov.core.db import make_engine, session_factory
from gridgov.core.migrate import upgrade
from gridgov.core.templating import STATIC_DIR
from gridgov.web.app import SecurityHeaders, content_security_policy

pytestmark = pytest.mark.browser


class _Auditor(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        request.state.principal = Principal(
            user_id=1,
            username="shenji",
            role=Role.auditor,
            scope=AreaScope.of("district", ["440305000000"]),
            permissions=permissions_of(Role.auditor),
        )
        return await call_next(request)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def audit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from gridgov.audit.api import router as api_router
    from gridgov.audit.pages import router as pages_router

    database: Path = tmp_path_factory.mktemp("audit-browser") / "gridgov.sqlite3"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    with session_factory(engine)() as session, actor_context(ActorInfo("wangfang", "street_operator")):
        for n in range(55):
            service.record(session, action="user.update", object_type="user_account", object_id=n)
        service.record(session, action="data.export", object_type="rental", details={"rows": 12})
        session.commit()

    app = FastAPI()
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.add_middleware(_Auditor)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(""))
    app.include_router(api_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="audit-browser-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture
def audit_page(chromium_browser: Browser, audit_server: str) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A Chinese desktop page, with every request URL and every console error it produced."""
    context = chromium_browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(15_000)
    try:
        yield page, requests, errors
    finally:
        context.close()


def test_the_status_loads_and_filters_and_paging_work(
    audit_page: tuple[Page, list[str], list[str]], audit_server: str
) -> None:
    page, requests, errors = audit_page
    page.goto(f"{audit_server}/audit")
    expect(page.locator('[data-chain="intact"]')).to_contain_text("56")
    expect(page.locator("tr[data-entry-id]")).to_have_count(50)
    expect(page.locator("tr[data-entry-id]").first).to_have_attribute("data-entry-id", "56")

    page.get_by_role("link", name="更早的记录").click()
    expect(page.locator("tr[data-entry-id]")).to_have_count(6)
    page.get_by_role("link", name="回到最新").click()
    expect(page.locator("tr[data-entry-id]")).to_have_count(50)

    page.get_by_label("操作", exact=True).fill("data.*")
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("tr[data-entry-id]")).to_have_count(1)
    expect(page.locator("tr[data-entry-id]")).to_contain_text("data.export")
    assert [url for url in requests if not url.startswith(audit_server)] == []  # air-gapped
    assert errors == []  # a CSP violation would show here
