"""The acceptance flow of issue 5 in a real browser (Debian chromium via Playwright): an anonymous visitor
files a snap report (随手拍) by clicking the map, and the 粤海街道 street operator takes it from the desk to
an evaluated close through the page's buttons; the public ticket page then shows it evaluated.

The session's shared browser server has no event types or org units, so this module serves its own: the
same app over a migrated SQLite database with the areas, the demo accounts, the event types and the 1+8+N
units loaded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select

pytestmark = pytest.mark.browser

DEMO_STREET = "440305007000"  # 粤海街道: the demo street operator's scope


class EventsServer:
    def __init__(self, base_url: str, logins: dict[str, tuple[str, str]], point: tuple[float, float]) -> None:
        self.base_url = base_url
        self.logins = logins
        self.point = point  # (lon, lat) inside 粤海街道


class PageWatch:
    """What a page did (as tests/browser/conftest.py's PageWatch): requests, console errors."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []

    def foreign_requests(self) -> list[str]:
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in ("data", "blob", "about")
            and (urlsplit(url).hostname or "") not in ("127.0.0.1", "localhost")
        ]

    def assert_clean(self) -> None:
        """Nothing from the internet (air-gapped), and a quiet console (CSP violations show there)."""
        assert self.foreign_requests() == [], "requests left the machine"
        assert self.errors == [], "console errors"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def events_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsServer]:
    import uvicorn

    from gridgov.areas.models import Grid
    from gridgov.areas.service import area_index, load_nanshan_areas
    from gridgov.core.db import make_engine, session_factory
    from gridgov.core.migrate import upgrade
    from gridgov.demo.accounts import create_demo_accounts
    from gridgov.events import service
    from gridgov.web.app import create_app

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('events-browser') / 'gridgov.sqlite3'}")
    upgrade(engine)
    with session_factory(engine)() as session:
        load_nanshan_areas(session)
        accounts = create_demo_accounts(session)
        service.seed_org_units(session)
        service.seed_categories(session)
        index = area_index(session)
        point = None
        for grid in session.scalars(select(Grid).order_by(Grid.code)):
            if not grid.code.startswith(DEMO_STREET[:9]):
                continue
            located = index.locate(grid.centroid_lon, grid.centroid_lat)
            if located.grid is not None and located.grid.code == grid.code:
                point = (grid.centroid_lon, grid.centroid_lat)
                break
        assert point is not None, "no grid centroid inside 粤海街道"
        session.commit()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="events-browser-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 20 s")
        time.sleep(0.05)
    yield EventsServer(
        f"http://127.0.0.1:{port}", {a.role: (a.username, a.password) for a in accounts}, point
    )
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def watched(page: Page, watch: PageWatch) -> Page:
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
    page.set_default_timeout(30_000)
    return page


def act(page: Page, button: str, *, open_details: str | None = None) -> None:
    """Press an action button and wait for the reload that follows success."""
    if open_details:
        page.click(f"#details-{open_details} > summary")
    with page.expect_navigation():
        page.click(button)
    page.wait_for_selector("#event-detail")


def test_a_public_snap_report_goes_from_submission_to_evaluated_close_in_the_browser(
    chromium_browser: Browser, events_server: EventsServer
) -> None:
    base = events_server.base_url
    lon, lat = events_server.point

    # 1. An anonymous visitor on a phone: type, pin on the map, a description, submit, the ticket.
    phone = chromium_browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    public_watch = PageWatch()
    page = watched(phone.new_page(), public_watch)
    page.goto(f"{base}/report")
    assert page.locator(".site-nav a").all_inner_texts() == ["随手拍"]
    page.wait_for_selector("#report-map[data-state=ready]")
    page.select_option("#report-type", "0101")  # 暴露垃圾
    page.locator("#report-map").scroll_into_view_if_needed()
    x, y = page.evaluate(
        "([lat, lon]) => { const m = document.getElementById('report-map').gridgovMap;"
        " const p = m.latLngToContainerPoint([lat, lon]); return [p.x, p.y]; }",
        [lat, lon],
    )
    page.locator("#report-map").click(position={"x": x, "y": y})
    page.wait_for_selector("#report-pin-status[data-pinned=true]")
    page.fill("#report-title", "科技园路边垃圾堆积")
    page.fill("#report-description", "路边绿化带旁堆了很多生活垃圾，已经好几天了")
    page.fill("#report-phone", "13812345678")
    with page.expect_navigation():
        page.click("#report-submit")
    ticket = page.inner_text("#report-ticket")
    assert ticket.startswith("NS")
    page.click("#report-ticket-link")
    page.wait_for_selector("#ticket-status[data-state=reported]")
    assert page.inner_text("#ticket-state") == "待受理"
    assert "13812345678" not in page.content() and "5678" not in page.inner_text("main")
    public_watch.assert_clean()

    # 2. The street operator of 粤海街道 runs the loop from the desk, through the page's buttons.
    desk = chromium_browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    desk_watch = PageWatch()
    page = watched(desk.new_page(), desk_watch)
    username, password = events_server.logins["street_operator"]
    page.goto(f"{base}/login")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    with page.expect_navigation():
        page.click("form.login-form button[type=submit]")
    page.click(".site-nav >> text=事件受理")
    page.wait_for_selector(f'.desk-row[data-ticket="{ticket}"]')
    page.click(f'.desk-row[data-ticket="{ticket}"] a.ticket-link')
    page.wait_for_selector("#event-detail[data-state=reported]")
    page.wait_for_selector("#event-map[data-state=ready]")
    assert page.locator("#event-map .leaflet-marker-icon").count() == 1

    act(page, "#action-accept")
    page.wait_for_selector("#event-detail[data-state=accepted]")
    suggested = page.locator("#dispatch-unit option[selected]").get_attribute("value")
    assert suggested and page.input_value("#dispatch-unit") == suggested
    act(page, "#submit-dispatch", open_details="dispatch")
    page.wait_for_selector("#event-detail[data-state=dispatched]")
    assert page.get_attribute("#event-unit", "data-unit") == suggested
    act(page, "#action-sign")
    page.wait_for_selector("#event-detail[data-state=signed]")
    page.fill("#action-note", "已清运完毕")
    act(page, "#action-handle")
    page.wait_for_selector("#event-detail[data-state=handled]")
    act(page, "#action-verify")
    page.wait_for_selector("#event-detail[data-state=verified]")
    act(page, "#action-close")
    page.wait_for_selector("#event-detail[data-state=closed]")
    page.click("#details-evaluate > summary")
    page.select_option("#evaluate-rating", "4")
    act(page, "#submit-evaluate")
    page.wait_for_selector("#event-detail[data-state=evaluated]")
    steps = page.locator("#event-timeline .timeline-step").evaluate_all(
        "items => items.map(i => i.dataset.action)"
    )
    assert steps == ["report", "accept", "dispatch", "sign", "handle", "verify", "close", "evaluate"]
    assert "已清运完毕" in page.inner_text("#event-timeline")

    desk_watch.assert_clean()

    # 3. The public ticket page shows it evaluated, with the rating and the public steps only.
    page = watched(phone.new_page(), public_watch)
    page.goto(f"{base}/report/{ticket}")
    page.wait_for_selector("#ticket-status[data-state=evaluated]")
    assert page.inner_text("#ticket-state") == "已评价"
    assert page.get_attribute("#ticket-rating", "data-rating") == "4"
    public_steps = page.locator("#ticket-steps .timeline-step").evaluate_all(
        "items => items.map(i => i.dataset.action)"
    )
    assert public_steps == ["report", "accept", "dispatch", "sign", "handle", "verify", "close", "evaluate"]
    text = page.inner_text("main")
    assert username not in text and "粤海街道指挥中心" not in text and "已清运完毕" not in text
    public_watch.assert_clean()
    phone.close()
    desk.close()


def test_a_stale_action_is_shown_as_a_message(chromium_browser: Browser, events_server: EventsServer) -> None:
    """Two operators on one event: the second click acts on an old version and is told so (409)."""
    base = events_server.base_url
    context = chromium_browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900})
    watch = PageWatch()
    page = watched(context.new_page(), watch)
    username, password = events_server.logins["admin"]
    page.goto(f"{base}/login")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    with page.expect_navigation():
        page.click("form.login-form button[type=submit]")
    csrf = page.request.get(f"{base}/api/me").json()["csrf_token"]
    lon, lat = events_server.point
    created = page.request.post(
        f"{base}/api/events",
        data={"subtype_code": "0101", "title": "并发测试", "lon": lon, "lat": lat},
        headers={"X-CSRF-Token": csrf},
    ).json()
    page.goto(f"{base}/events/{created['ticket']}")
    page.wait_for_selector("#event-detail[data-state=reported]")
    # Someone else accepts meanwhile.
    answer = page.request.post(
        f"{base}/api/events/{created['ticket']}/actions",
        data={"action": "accept", "version": created["version"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.ok
    page.click("#action-accept")
    page.wait_for_selector("#event-message.is-error")
    assert "已被他人更新" in page.inner_text("#event-message")
    assert page.get_attribute("#event-detail", "data-state") == "reported"  # the page did not reload
    # The 409 shows in the console as a failed request; nothing else may.
    assert [e for e in watch.errors if "409" not in e] == []
    assert watch.foreign_requests() == []
    context.close()
