"""Accessibility (WCAG 2.1 AA, which GB/T 37668 follows) in a real browser (Debian chromium via Playwright).

axe-core, pinned in package-lock.json (a dev dependency; ``make install`` runs ``npm ci``), is read from
node_modules and evaluated in each page, then ``axe.run`` with the WCAG 2.0/2.1 A and AA rules: no
violation of impact serious or critical may remain, on every HTML page of the app, as each role that can
see it, with data present, at a desktop (1440 px) and a phone (390 px) width. Evaluating the script
through the DevTools protocol keeps the page's strict Content-Security-Policy in force (an injected
``<script>`` would be refused by it).

What axe does not measure is tested by hand: the focus ring of text fields against their background
(WCAG 1.4.11, at least 3:1), Leaflet's controls in Chinese on a Chinese page, and where the keyboard focus
goes after a street is chosen on the map (WCAG 2.4.3).

The pages come from the two shared servers of tests/browser/conftest.py: ``browser_world`` (event types,
units, a building address; events are filed here through the API) and ``tasks_world`` (address library,
the registry imported through the pipeline, detection rules run, verification tasks).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, Page

if TYPE_CHECKING:
    from conftest import ServedWorld, TasksWorld

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
AXE_SCRIPT = REPO / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SHAHE = "440305003000"  # 沙河街道


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE_SCRIPT.is_file():
        message = f"{AXE_SCRIPT} is missing: run `make install` (npm ci installs axe-core from the lock file)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE_SCRIPT.read_text(encoding="utf-8")


def axe_violations(page: Page, axe_source: str, label: str) -> list[str]:
    """Serious and critical WCAG 2.1 A/AA violations on the page as it is now, one line per rule."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source)
    violations: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
            });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ") + " ("
                    + (n.failureSummary || "").split("\\n").slice(1).join(" ").trim() + ")"),
            }));
        }""",
        AXE_TAGS,
    )
    return [
        f"{label}: [{v['impact']}] {v['id']} — {v['help']}; {len(v['nodes'])} element(s): "
        + "; ".join(v["nodes"][:4])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def settle(page: Page) -> None:
    """Wait until the page's scripts have done their first work (htmx fragments, maps)."""
    page.wait_for_load_state("networkidle")
    if page.locator("#map").count():
        page.wait_for_selector("#map[data-state=ready]")
    if page.locator("#report-map, #event-map, #address-map").count():
        page.wait_for_selector(".leaflet-container")


@pytest.fixture
def context_for(chromium_browser: Browser) -> Iterator[Any]:
    """``context_for(base_url, role, width)``: a new logged-in (role None: anonymous) Chinese page."""
    from conftest import log_in

    contexts = []

    def open_page(base_url: str, role: str | None, width: str) -> Page:
        context = chromium_browser.new_context(locale="zh-CN", viewport=WIDTHS[width])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        if role is not None:
            log_in(page, base_url, role)
        return page

    yield open_page
    for context in contexts:
        context.close()


def _api(page: Page, base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    csrf = page.request.get(f"{base}/api/me").json()["csrf_token"]
    response = page.request.post(f"{base}{path}", data=body, headers={"X-CSRF-Token": csrf})
    assert response.ok, response.text()
    return dict(response.json())


@pytest.fixture(scope="module")
def desk_events(chromium_browser: Browser, browser_world: ServedWorld) -> list[str]:
    """Events in 粤海街道 for the desk and detail pages: an urgent one, one accepted, one plain."""
    from conftest import log_in

    base = browser_world.base_url
    lon, lat = browser_world.street_point
    context = chromium_browser.new_context(locale="zh-CN")
    page = context.new_page()
    log_in(page, base, "street_operator")
    tickets = []
    for n, (code, title, urgent) in enumerate(
        [("0103", "井盖缺失（无障碍测试）", True), ("0104", "路灯不亮（无障碍测试）", False)]
    ):
        body = {"subtype_code": code, "title": title, "lon": lon + n * 0.001, "lat": lat, "urgent": urgent}
        created = _api(page, base, "/api/events", body)
        tickets.append(created["ticket"])
    _api(page, base, f"/api/events/{tickets[1]}/actions", {"action": "accept", "version": 1})
    context.close()
    return tickets


def _links(page: Page, base: str, path: str, pattern: str) -> str:
    """The first link on ``path`` whose href matches ``pattern`` (for detail pages of seeded records)."""
    page.goto(f"{base}{path}")
    for href in page.eval_on_selector_all("a[href]", "links => links.map((a) => a.getAttribute('href'))"):
        if re.search(pattern, href or ""):
            return str(href)
    raise AssertionError(f"no link matching {pattern} on {path}")


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_every_page_has_no_serious_axe_violation(
    context_for: Any,
    axe_source: str,
    browser_world: ServedWorld,
    tasks_world: TasksWorld,
    desk_events: list[str],
    width: str,
) -> None:
    found: list[str] = []
    checked: list[str] = []

    def check(page: Page, base: str, path: str, label: str) -> None:
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == (404 if "999999999" in path else 200), label
        settle(page)
        checked.append(label)
        found.extend(axe_violations(page, axe_source, label))

    # Anonymous: the login page, the public snap-report form and its receipt (ticket) page.
    base = browser_world.base_url
    anonymous = context_for(base, None, width)
    check(anonymous, base, "/login", "login")
    check(anonymous, base, "/report", "report form (public)")
    check(anonymous, base, f"/report/{desk_events[0]}", "report ticket (public)")
    # The receipt after filing a report through the form (the pin placed as the map would place it).
    lon, lat = browser_world.street_point
    anonymous.goto(f"{base}/report")
    settle(anonymous)
    anonymous.select_option("#report-type", "0105")
    anonymous.fill("#report-title", "无障碍测试：人行道破损")
    anonymous.evaluate(
        "([lon, lat]) => { document.getElementById('report-lon').value = lon;"
        " document.getElementById('report-lat').value = lat; }",
        [f"{lon:.6f}", f"{lat:.6f}"],
    )
    with anonymous.expect_navigation():
        anonymous.click("#report-submit")
    settle(anonymous)
    anonymous.wait_for_selector("#report-ticket")
    checked.append("report receipt (public)")
    found.extend(axe_violations(anonymous, axe_source, "report receipt (public)"))

    # The street operator's desk and an event's detail page (events of her street).
    street = context_for(base, "street_operator", width)
    check(street, base, "/events", "desk (new)")
    check(street, base, "/events?state=accepted", "desk (accepted)")
    check(street, base, f"/events/{desk_events[0]}", "event detail (reported)")
    check(street, base, f"/events/{desk_events[1]}", "event detail (accepted)")

    # The auditor: the audit trail has the logins and event records of this server.
    auditor = context_for(base, "auditor", width)
    check(auditor, base, "/audit", "audit")

    # The administrator on the world with the registry: every page of the navigation.
    tbase = tasks_world.base_url
    admin = context_for(tbase, "admin", width)
    for path, label in [
        ("/", "home"),
        ("/map", "map"),
        (f"/map?focus={SHAHE}", "map (street)"),
        ("/addresses", "addresses"),
        ("/addresses/admin", "address admin"),
        ("/registry", "registry search"),
        ("/registry?kind=address&q=南山", "registry search results"),
        ("/registry/stats", "registry stats"),
        (f"/registry/people/{tasks_world.person_id}", "person"),
        ("/ingest", "ingest centre"),
        ("/ingest/reviews", "identity review"),
        ("/users", "accounts (users admin)"),
        ("/docs", "API docs"),
        ("/registry/people/999999999", "error page (not found)"),
    ]:
        check(admin, tbase, path, label)
    person_path = f"/registry/people/{tasks_world.person_id}"
    dwelling = _links(admin, tbase, person_path, r"/registry/dwellings/")
    check(admin, tbase, dwelling, "dwelling")
    building = _links(admin, tbase, dwelling, r"/registry/buildings/")
    check(admin, tbase, building, "building")
    entity = _links(admin, tbase, "/registry?kind=entity&q=公司", r"/registry/entities/\d+")
    check(admin, tbase, entity, "entity")
    check(admin, tbase, "/registry/rentals/1", "rental")  # the first rental the import recorded
    check(admin, tbase, "/audit", "audit (administrator, registry imported)")

    # The grid worker's task list and a task form (made for her phone, checked at both widths).
    worker = context_for(tbase, "grid_worker", width)
    check(worker, tbase, "/tasks", "tasks list")
    check(worker, tbase, f"/tasks/{tasks_world.task_id}", "task form")
    check(worker, tbase, "/", "home (grid worker)")
    check(worker, tbase, "/map", "map (grid worker)")

    assert found == [], (
        f"{len(found)} serious/critical axe violation(s) on {len(checked)} pages:\n" + "\n".join(found)
    )


# Contrast in the page itself (WCAG 2.x relative luminance), for what axe leaves alone: focus rings and
# text drawn with opacity. ``background(el)`` is the first opaque background colour at or above ``el``.
CONTRAST_JS = """
const parse = (c) => { const m = (c.match(/[\\d.]+/g) || ["0", "0", "0", "0"]).map(Number);
    return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
const background = (el) => {
    for (; el; el = el.parentElement) {
        const c = parse(getComputedStyle(el).backgroundColor); if (c.a > 0) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1}; };
const blend = (fg, bg, alpha) => ({r: fg.r * alpha + bg.r * (1 - alpha), g: fg.g * alpha + bg.g * (1 - alpha),
    b: fg.b * alpha + bg.b * (1 - alpha), a: 1});
"""

# The strongest focus indicator of each visible text field, focused, against what surrounds the field.
FOCUS_RINGS_JS = (
    "() => {"
    + CONTRAST_JS
    + """
    const fields = [...document.querySelectorAll(
        "input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=file]), textarea, select")]
        .filter((el) => el.offsetParent !== null);
    return fields.map((el) => {
        el.focus();
        if (document.activeElement !== el) return null;  // not focusable now (in a closed <details>)
        const style = getComputedStyle(el);
        const around = background(el.parentElement);
        const seen = [0];
        if (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 1) {
            seen.push(ratio(parse(style.outlineColor), around));
        }
        if (style.boxShadow !== "none") {
            const c = parse((style.boxShadow.match(/rgba?\\([^)]*\\)/) || ["rgba(0, 0, 0, 0)"])[0]);
            seen.push(ratio(blend(c, around, c.a), around));
        }
        el.blur();
        return [el.id || el.name || el.outerHTML.slice(0, 60), Math.round(Math.max(...seen) * 100) / 100];
    });
}"""
)


def test_text_fields_show_a_focus_ring_of_at_least_3_to_1(
    context_for: Any, browser_world: ServedWorld, desk_events: list[str]
) -> None:
    base = browser_world.base_url
    weak: list[str] = []
    measured = 0
    for role, paths in [
        (None, ["/login", "/report"]),
        ("admin", ["/map", "/addresses", "/addresses/admin", "/registry"]),
        ("street_operator", ["/events", f"/events/{desk_events[0]}"]),
        ("auditor", ["/audit"]),
    ]:
        page = context_for(base, role, "desktop")
        for path in paths:
            page.goto(f"{base}{path}")
            settle(page)
            for field, contrast in filter(None, page.evaluate(FOCUS_RINGS_JS)):
                measured += 1
                if contrast < 3:
                    weak.append(f"{path} {field}: {contrast}:1")
    assert measured >= 10  # the pages above have many text fields: the check ran on them
    assert weak == [], "focus rings below 3:1 (WCAG 1.4.11):\n" + "\n".join(weak)


def test_the_desk_tab_counts_are_readable(
    context_for: Any, browser_world: ServedWorld, desk_events: list[str]
) -> None:
    """The count badge in each desk tab, with its opacity, against the tab (4.5:1, WCAG 1.4.3)."""
    base = browser_world.base_url
    page = context_for(base, "street_operator", "desktop")
    found = []
    for state in ("reported", "overdue"):
        page.goto(f"{base}/events?state={state}")
        found += page.evaluate(
            "() => {"
            + CONTRAST_JS
            + """
            return [...document.querySelectorAll(".desk-tab .desk-count")].map((count) => {
                let opacity = 1;
                for (let el = count; el; el = el.parentElement) {
                    opacity *= parseFloat(getComputedStyle(el).opacity);
                }
                const bg = background(count), fg = parse(getComputedStyle(count).color);
                const shown = blend(fg, bg, fg.a * opacity);
                return [count.parentElement.dataset.tab, count.parentElement.getAttribute("aria-current"),
                        Math.round(ratio(shown, bg) * 100) / 100];
            });
        }"""
        )
    assert len(found) >= 8 and any(current == "page" for _, current, _ in found)
    assert [f for f in found if f[2] < 4.5] == []


def test_leaflet_controls_speak_chinese_on_a_chinese_page(
    context_for: Any, browser_world: ServedWorld
) -> None:
    base = browser_world.base_url
    page = context_for(base, "admin", "desktop")
    street = page.request.get(f"{base}/api/areas/{SHAHE}").json()
    community = page.request.get(f"{base}/api/areas/{street['children'][0]['code']}").json()
    grid = community["children"][0]["code"]
    # A grid in the URL: the map opens its community, points at the grid with a marker and a popup.
    page.goto(f"{base}/map?focus={grid}")
    page.wait_for_selector("#map[data-state=ready]")
    page.wait_for_selector(".leaflet-popup .leaflet-popup-close-button")
    zoom_in, zoom_out = page.locator(".leaflet-control-zoom-in"), page.locator(".leaflet-control-zoom-out")
    assert (zoom_in.get_attribute("title"), zoom_in.get_attribute("aria-label")) == ("放大", "放大")
    assert (zoom_out.get_attribute("title"), zoom_out.get_attribute("aria-label")) == ("缩小", "缩小")
    assert page.locator(".leaflet-marker-icon").first.get_attribute("alt") == "标记"
    assert page.get_attribute(".leaflet-popup-close-button", "aria-label") == "关闭弹窗"
    # The report form's own map (another script) gets the same labels.
    anonymous = context_for(base, None, "phone")
    anonymous.goto(f"{base}/report")
    anonymous.wait_for_selector(".leaflet-control-zoom-in")
    assert anonymous.get_attribute(".leaflet-control-zoom-in", "title") == "放大"


FOCUSED_JS = """() => { const el = document.activeElement;
    return el === null || el === document.body ? "body" : (el.id || el.className); }"""


def test_choosing_a_street_on_the_map_keeps_the_keyboard_focus_in_the_panel(
    context_for: Any, browser_world: ServedWorld
) -> None:
    base = browser_world.base_url
    page = context_for(base, "admin", "desktop")
    page.goto(f"{base}/map")
    page.wait_for_selector("#map[data-state=ready][data-level=district]")
    # From the list of streets, by keyboard.
    page.focus(f'.child-item[data-code="{SHAHE}"]')
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#map[data-state=ready][data-code='{SHAHE}']")
    assert page.evaluate(FOCUSED_JS) == "map-area-name"  # the chosen street's heading, not the page top
    page.keyboard.press("Tab")  # onwards into the panel: the all-grids switch, then the communities
    assert page.evaluate("() => document.activeElement.closest('.map-panel') !== null")
    # Back through the breadcrumb.
    page.focus("#map-breadcrumb button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#map[data-state=ready][data-level=district]")
    assert page.evaluate(FOCUSED_JS) == "map-area-name"
    # From the search results: the focus stays in the search field.
    page.fill("#map-search", "沙河")
    page.wait_for_selector("#map-search-results:not([hidden]) .search-item")
    page.focus("#map-search-results .search-item")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#map[data-state=ready][data-code='{SHAHE}']")
    assert page.evaluate(FOCUSED_JS) == "map-search"


@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_the_new_pages_fit_the_screen_and_speak_chinese(
    context_for: Any, browser_world: ServedWorld, width: str
) -> None:
    """The accounts page and the public ticket page's access-code form: no horizontal scroll of the page
    (a wide table scrolls inside its own region), roles and levels in Chinese."""
    base = browser_world.base_url
    viewport = WIDTHS[width]["width"]
    admin = context_for(base, "admin", width)
    admin.goto(f"{base}/users")
    settle(admin)
    assert admin.evaluate("document.documentElement.scrollWidth") <= viewport
    row = admin.locator('tr[data-username="demo.grid"]').inner_text()
    assert "网格员" in row and "网格:" in row, row
    assert "grid_worker" not in row and "grids" not in row, row
    anonymous = context_for(base, None, width)
    response = anonymous.goto(f"{base}/report/NS20990101000001")
    assert response is not None and response.status == 404
    settle(anonymous)
    assert anonymous.evaluate("document.documentElement.scrollWidth") <= viewport
    assert anonymous.locator("#access-code").is_visible()
