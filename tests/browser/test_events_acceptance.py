"""The acceptance flow of issue 5 in a real browser (Debian chromium via Playwright): an anonymous visitor
files a snap report (随手拍) on a phone — pins the map, then picks the address from the type-ahead, which
moves the pin to it — and the 粤海街道 street operator takes it from the desk to an evaluated close through
the page's buttons; the public ticket page then shows it evaluated. Also: the type-ahead by keyboard, a
stale action shown as a message, and merging a likely duplicate from the detail page.

All of it runs on the session's shared browser server (tests/browser/conftest.py), which has the event
types, the 1+8+N units and a building address in 粤海街道 for the type-ahead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Page

if TYPE_CHECKING:
    from conftest import BrowserPage, Place  # tests/browser/conftest.py; pytest provides the fixtures

pytestmark = pytest.mark.browser

# What the visitor types into the address field: part of the seeded building's text (conftest.py).
TYPED = "随手拍试验"
REPORT_DWELLING = "南山区粤海街道随手拍试验路8号试验大厦1单元501"  # conftest.py's: never offered


def act(page: Page, button: str, *, open_details: str | None = None) -> None:
    """Press an action button and wait for the reload that follows success."""
    if open_details:
        page.click(f"#details-{open_details} > summary")
    with page.expect_navigation():
        page.click(button)
    page.wait_for_selector("#event-detail")


def api_post(browser_page: BrowserPage, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call the API as the logged-in browser session does (cookie + CSRF header)."""
    request = browser_page.page.request
    csrf = request.get(f"{browser_page.base_url}/api/me").json()["csrf_token"]
    response = request.post(f"{browser_page.base_url}{path}", data=body, headers={"X-CSRF-Token": csrf})
    assert response.ok, response.text()
    return dict(response.json())


def pin_position(page: Page) -> tuple[str, str]:
    return page.input_value("#report-lon"), page.input_value("#report-lat")


def suggestions(page: Page) -> list[str]:
    """Type the start of the seeded building's address and wait for the list of suggestions."""
    page.locator("#report-address").press_sequentially(TYPED, delay=40)
    page.wait_for_selector("#report-address-list:not([hidden]) [role=option]")
    assert page.get_attribute("#report-address", "aria-expanded") == "true"
    return page.locator("#report-address-list [role=option]").all_inner_texts()


def test_a_public_snap_report_goes_from_submission_to_evaluated_close_in_the_browser(
    public_phone_page: BrowserPage,
    street_page: BrowserPage,
    street_point: tuple[float, float],
    report_building: Place,
) -> None:
    base = public_phone_page.base_url
    lon, lat = street_point

    # 1. An anonymous visitor on a phone: type, pin on the map, pick the address (the pin moves to it),
    #    a description, submit, the ticket.
    page = public_phone_page.page
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
    clicked = pin_position(page)
    assert abs(float(clicked[0]) - lon) < 1e-3 and abs(float(clicked[1]) - lat) < 1e-3

    offered = suggestions(page)
    assert report_building.text in offered and REPORT_DWELLING not in offered
    page.locator("#report-address-list [role=option]", has_text=report_building.text).first.tap()
    assert page.input_value("#report-address") == report_building.text
    assert page.locator("#report-address-list").is_hidden()
    assert page.get_attribute("#report-address", "aria-expanded") == "false"
    assert pin_position(page) == (f"{report_building.lon:.6f}", f"{report_building.lat:.6f}")
    assert page.get_attribute("#report-pin-status", "data-pinned") == "true"
    assert page.locator("#report-map .leaflet-marker-icon").count() == 1  # moved, not a second pin

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
    public_phone_page.watch.assert_clean()

    # 2. The street operator of 粤海街道 runs the loop from the desk, through the page's buttons.
    page = street_page.page
    page.goto(f"{base}/")
    page.click(".site-nav >> text=事件受理")
    page.wait_for_selector(f'.desk-row[data-ticket="{ticket}"]')
    page.click(f'.desk-row[data-ticket="{ticket}"] a.ticket-link')
    page.wait_for_selector("#event-detail[data-state=reported]")
    page.wait_for_selector("#event-map[data-state=ready]")
    assert page.locator("#event-map .leaflet-marker-icon").count() == 1
    fields = page.inner_text(".event-fields")
    assert report_building.text in fields  # the address picked, and its point, where the pin was put
    assert f"{report_building.lon:.6f}, {report_building.lat:.6f}" in fields

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
    street_page.watch.assert_clean()

    # 3. The public ticket page shows it evaluated, with the rating and the public steps only.
    page = public_phone_page.page
    page.goto(f"{base}/report/{ticket}")
    page.wait_for_selector("#ticket-status[data-state=evaluated]")
    assert page.inner_text("#ticket-state") == "已评价"
    assert page.get_attribute("#ticket-rating", "data-rating") == "4"
    public_steps = page.locator("#ticket-steps .timeline-step").evaluate_all(
        "items => items.map(i => i.dataset.action)"
    )
    assert public_steps == ["report", "accept", "dispatch", "sign", "handle", "verify", "close", "evaluate"]
    text = page.inner_text("main")
    username = street_page.page.request.get(f"{base}/api/me").json()["username"]
    assert username not in text and "粤海街道指挥中心" not in text and "已清运完毕" not in text
    public_phone_page.watch.assert_clean()


def test_the_address_typeahead_works_by_keyboard(zh_page: BrowserPage, report_building: Place) -> None:
    """Arrow keys and Enter choose a suggestion without submitting the form; Escape closes the list; fewer
    than two characters ask for nothing."""
    page = zh_page.page
    page.goto(f"{zh_page.base_url}/report")
    page.wait_for_selector("#report-map[data-state=ready]")
    asked: list[str] = []
    page.on(
        "request", lambda request: asked.append(request.url) if "/report/addresses" in request.url else None
    )

    page.locator("#report-address").press_sequentially("随", delay=40)
    page.wait_for_timeout(600)  # longer than the typing pause the list waits for
    assert asked == [] and page.locator("#report-address-list").is_hidden()
    page.fill("#report-address", "")

    assert report_building.text in suggestions(page)
    assert len(asked) == 1  # one request for the word typed, not one per key
    page.keyboard.press("Escape")
    assert page.locator("#report-address-list").is_hidden()
    page.locator("#report-address").press_sequentially("路", delay=40)  # typing on opens it again
    page.wait_for_selector("#report-address-list:not([hidden]) [role=option]")
    options = page.locator("#report-address-list [role=option]").all_inner_texts()
    index = options.index(report_building.text)
    for _ in range(index + 1):
        page.keyboard.press("ArrowDown")
    active = page.get_attribute("#report-address", "aria-activedescendant")
    assert active and page.get_attribute(f"#{active}", "aria-selected") == "true"
    page.keyboard.press("Enter")
    assert page.input_value("#report-address") == report_building.text
    assert page.url.endswith("/report")  # Enter chose the address; it did not submit the form
    assert page.locator("#report-address-list").is_hidden()
    assert pin_position(page) == (f"{report_building.lon:.6f}", f"{report_building.lat:.6f}")
    assert "已选择地址" in page.inner_text("#report-address-status")
    zh_page.watch.assert_clean()


def test_a_stale_action_is_shown_as_a_message(
    zh_page: BrowserPage, street_point: tuple[float, float]
) -> None:
    """Two operators on one event: the second click acts on an old version and is told so (409)."""
    page, base = zh_page.page, zh_page.base_url
    lon, lat = street_point
    created = api_post(
        zh_page, "/api/events", {"subtype_code": "0101", "title": "并发测试", "lon": lon, "lat": lat}
    )
    page.goto(f"{base}/events/{created['ticket']}")
    page.wait_for_selector("#event-detail[data-state=reported]")
    # Someone else accepts meanwhile.
    api_post(
        zh_page,
        f"/api/events/{created['ticket']}/actions",
        {"action": "accept", "version": created["version"]},
    )
    page.click("#action-accept")
    page.wait_for_selector("#event-message.is-error")
    assert "已被他人更新" in page.inner_text("#event-message")
    assert page.get_attribute("#event-detail", "data-state") == "reported"  # the page did not reload
    # The 409 shows in the console as a failed request; nothing else may.
    assert [e for e in zh_page.watch.errors if "409" not in e] == []
    assert zh_page.watch.foreign_requests() == []


def test_the_desk_marks_a_likely_duplicate_and_merges_it_from_the_detail_page(
    street_page: BrowserPage, street_point: tuple[float, float]
) -> None:
    page, base = street_page.page, street_page.base_url
    lon, lat = street_point
    body = {"subtype_code": "0102", "lon": lon, "lat": lat}  # 道路不洁: no other browser test files it
    first = api_post(street_page, "/api/events", {**body, "title": "路面油污"})
    again = api_post(street_page, "/api/events", {**body, "title": "路面又见油污", "lon": lon + 0.0003})

    page.goto(f"{base}/events?state=reported")
    row = page.locator(f'.desk-row[data-ticket="{again["ticket"]}"]')
    assert row.get_attribute("data-duplicates") == "1" and "疑似重复 1" in row.inner_text()
    row.locator("a.ticket-link").click()
    page.wait_for_selector("#event-detail[data-state=reported]")
    item = page.locator(f'#event-duplicates .duplicate-item[data-ticket="{first["ticket"]}"]')
    assert "路面油污" in item.inner_text()
    item.locator("summary").click()
    with page.expect_navigation():
        page.click(f"#merge-this_into-{first['ticket']}")
    page.wait_for_selector("#event-detail[data-state=cancelled]")
    assert page.get_attribute("#event-merged-into", "data-ticket") == first["ticket"]
    last = page.locator("#event-timeline .timeline-step").last
    assert last.get_attribute("data-action") == "cancel" and first["ticket"] in last.inner_text()
    assert page.locator("[data-merge-url]").count() == 0
    # The event it repeats stays to be accepted, and lists no duplicate any more.
    page.click("#event-merged-into a")
    page.wait_for_selector("#event-detail[data-state=reported]")
    assert page.locator("#event-duplicates").count() == 0
    street_page.watch.assert_clean()
