"""The grid map and the home page in a real browser (Debian chromium through Playwright).

Besides what each test checks, every test ends with ``watch.assert_clean()``: no request left the
loopback interface (the product runs on air-gapped intranets) and the console stayed free of errors,
which is also where the strict Content-Security-Policy reports any inline script or style.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import BrowserPage  # tests/browser/conftest.py; pytest provides the fixtures

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
# The README's screenshot is refreshed only on request (GRIDGOV_SCREENSHOTS=1), so a test run leaves the
# checkout clean; otherwise the picture is still taken, into the test's temporary folder.
README_SCREENSHOT = REPO / "docs" / "screenshots" / "map.png"
DISTRICT = "440305000000"
SHAHE = "440305003000"  # 沙河街道
TAOYUAN = "440305008000"  # 桃源街道


def map_ready(**attributes: str) -> str:
    """Selector for the map element once it has finished drawing, with the given data-* values."""
    return "#map[data-state=ready]" + "".join(
        f'[data-{name.replace("_", "-")}="{value}"]' for name, value in attributes.items()
    )


def map_data(page: BrowserPage, name: str) -> str:
    value = page.page.get_attribute("#map", f"data-{name}")
    assert value is not None
    return value


def test_map_draws_streets_drills_down_and_shows_all_grids(
    zh_page_each_backend: BrowserPage, tmp_path: Path
) -> None:
    zh_page = zh_page_each_backend
    page, base = zh_page.page, zh_page.base_url
    page.goto(f"{base}/map")
    page.wait_for_selector(map_ready(level="district", code=DISTRICT))
    assert map_data(zh_page, "drawn-streets") == "8"
    # The events layer loads for a user who reads events (this database has none yet: zero points).
    page.wait_for_selector("#map[data-events]")
    assert map_data(zh_page, "events").isdigit()
    assert page.locator(".leaflet-tooltip.area-label-street").count() == 8
    assert page.locator(".child-item").count() == 8
    # Synthetic geometry is labelled as such on the page itself.
    assert "合成边界" in page.inner_text(".legend")

    # Drill into a street: its communities are drawn, the breadcrumb and the URL follow.
    street = page.request.get(f"{base}/api/areas/{SHAHE}").json()
    page.click(f'.child-item[data-code="{SHAHE}"]')
    page.wait_for_selector(map_ready(level="street", code=SHAHE))
    assert map_data(zh_page, "drawn-communities") == str(street["counts"]["communities"])
    assert page.locator(".child-item").count() == street["counts"]["communities"]
    assert page.locator("#map-breadcrumb li").all_inner_texts() == ["南山区", "沙河街道"]
    assert f"focus={SHAHE}" in page.url

    # Then a community: its grids, labelled by their 3-digit sequence.
    community_code = street["children"][0]["code"]
    community = page.request.get(f"{base}/api/areas/{community_code}").json()
    page.click(f'.child-item[data-code="{community_code}"]')
    page.wait_for_selector(map_ready(level="community", code=community_code))
    assert map_data(zh_page, "drawn-grids") == str(community["counts"]["grids"])
    assert page.locator(".leaflet-tooltip.area-label-grid").first.inner_text() == "001"

    # A grid's popup: name, code, level, area and the synthetic marker, plus where the point lies.
    grid_code = community["children"][0]["code"]
    page.click(f'.child-item[data-code="{grid_code}"]')
    popup = page.locator(".leaflet-popup .area-popup")
    popup.wait_for()
    text = popup.inner_text()
    assert grid_code in text and "网格" in text and "平方公里" in text
    assert "合成边界" in text
    page.wait_for_selector(".leaflet-popup .locate-rows")
    assert community["name"] in page.inner_text(".leaflet-popup .locate-rows")

    # Back up through the breadcrumb, then draw every grid of the district at once.
    page.click("#map-breadcrumb button >> text=南山区")
    page.wait_for_selector(map_ready(level="district", code=DISTRICT))
    # The whole district is in view again (a new view asked for during a zoom animation is dropped
    # by Leaflet unless the script waits; this caught it).
    assert page.inner_text(".leaflet-control-scale-line").endswith("km")
    page.click("label.switch")
    page.wait_for_selector(map_ready(level="district", drawn_grids="1610"))
    page.mouse.move(0, 0)  # no hover highlight in the picture
    screenshot = README_SCREENSHOT if os.environ.get("GRIDGOV_SCREENSHOTS") == "1" else tmp_path / "map.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000

    zh_page.watch.assert_clean()


def test_search_by_name_drills_to_the_result(zh_page: BrowserPage) -> None:
    page = zh_page.page
    page.goto(f"{zh_page.base_url}/map")
    page.wait_for_selector(map_ready(level="district"))
    page.fill("#map-search", "桃源")
    result = page.locator(".search-item", has=page.locator(f'code:text-is("{TAOYUAN}")'))
    result.click()
    page.wait_for_selector(map_ready(level="street", code=TAOYUAN))
    assert page.inner_text("#map-area-name") == "桃源街道"
    zh_page.watch.assert_clean()


def test_search_by_grid_code_opens_its_community(zh_page: BrowserPage) -> None:
    page, base = zh_page.page, zh_page.base_url
    community = page.request.get(f"{base}/api/areas/{SHAHE}").json()["children"][0]["code"]
    grid_code = f"{community}002"
    page.goto(f"{base}/map")
    page.wait_for_selector(map_ready(level="district"))
    page.fill("#map-search", grid_code)
    page.locator(".search-item", has=page.locator(f'code:text-is("{grid_code}")')).click()
    page.wait_for_selector(map_ready(level="community", code=community))
    page.wait_for_selector(f'.leaflet-popup .area-popup:has-text("{grid_code}")')
    zh_page.watch.assert_clean()


def test_clicking_outside_the_district_says_so(zh_page: BrowserPage) -> None:
    page = zh_page.page
    page.goto(f"{zh_page.base_url}/map")
    page.wait_for_selector(map_ready(level="district"))
    box = page.locator("#map").bounding_box()
    assert box is not None
    # The district is fitted to the middle of a wide map: its right edge is open sea and Shenzhen.
    page.mouse.click(box["x"] + box["width"] - 40, box["y"] + box["height"] / 2)
    outside = page.locator(".leaflet-popup .locate-outside")
    outside.wait_for()
    assert outside.inner_text() == "该点不在南山区范围内"
    assert map_data(zh_page, "last-locate") == "outside"
    zh_page.watch.assert_clean()


def test_focus_parameter_opens_an_area_and_unknown_codes_fall_back(zh_page: BrowserPage) -> None:
    page, base = zh_page.page, zh_page.base_url
    page.goto(f"{base}/map?focus={SHAHE}")
    page.wait_for_selector(map_ready(level="street", code=SHAHE))
    assert page.inner_text("#map-breadcrumb").startswith("南山区")
    # Drilling pushes history, so the browser's back button goes back up a level.
    page.locator(".child-item").first.click()
    page.wait_for_selector(map_ready(level="community"))
    page.go_back()
    page.wait_for_selector(map_ready(level="street", code=SHAHE))

    page.goto(f"{base}/map?focus=440305099000")
    page.wait_for_selector(map_ready(level="district", code=DISTRICT))
    assert "440305099000" in page.inner_text("#map-status")
    # The 404 of the unknown code is the one expected console message; nothing else may appear.
    zh_page.watch.errors = [e for e in zh_page.watch.errors if "404" not in e]
    zh_page.watch.assert_clean()


def test_phone_layout_puts_the_map_first(phone_page: BrowserPage) -> None:
    page = phone_page.page
    page.goto(f"{phone_page.base_url}/map")
    page.wait_for_selector(map_ready(level="district"))
    assert map_data(phone_page, "drawn-streets") == "8"
    map_box = page.locator("#map").bounding_box()
    panel_box = page.locator(".map-panel").bounding_box()
    assert map_box is not None and panel_box is not None
    assert map_box["width"] == pytest.approx(390, abs=1)
    assert map_box["y"] < panel_box["y"]
    phone_page.watch.assert_clean()


def test_home_page_speaks_chinese_first_and_english_on_request(zh_page: BrowserPage) -> None:
    page, base = zh_page.page, zh_page.base_url
    page.goto(f"{base}/")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("h1") == "南山区网格化社会治理"
    # The administrator also sees the audit trail and the accounts in the navigation.
    assert page.locator(".site-nav a").all_inner_texts() == [
        "首页",
        "网格地图",
        "地址库",
        "地址管理",
        "事件受理",
        "核查任务",
        "实有数据",
        "审计日志",
        "账号",
        "数据导入",
        "随手拍",
        "API 文档",
    ]
    assert page.inner_text('[data-count="streets"]') == "8"
    assert page.inner_text('[data-count="communities"]') == "107"
    assert page.inner_text('[data-count="grids"]') == "1,610"

    page.goto(f"{base}/?lang=en")
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("h1") == "Nanshan grid-based social governance"
    assert "Grid map" in page.inner_text(".site-nav")
    # The choice sticks (cookie) for the next page, which has no ?lang=.
    page.click(".site-nav >> text=Grid map")
    page.wait_for_selector(map_ready(level="district"))
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("#map-children-title") == "Streets"
    zh_page.watch.assert_clean()


def test_api_docs_work_offline(zh_page: BrowserPage) -> None:
    page, base = zh_page.page, zh_page.base_url
    assert "cdn.jsdelivr.net" not in page.request.get(f"{base}/docs").text()
    page.goto(f"{base}/docs")
    page.wait_for_selector(".swagger-ui .opblock")
    assert page.locator(".site-nav a[aria-current=page]").inner_text() == "API 文档"
    assert page.locator(".swagger-ui .opblock-summary-path", has_text="/api/locate").count() == 1
    zh_page.watch.assert_clean()


def test_a_community_account_sees_only_its_branch(community_page: BrowserPage) -> None:
    page, base = community_page.page, community_page.base_url
    page.goto(f"{base}/map")
    page.wait_for_selector(map_ready(level="district", code=DISTRICT))
    # Only 粤海街道, the street holding 科技园社区, is drawn and listed.
    assert map_data(community_page, "drawn-streets") == "1"
    assert page.locator(".child-item").all_inner_texts()[0].startswith("粤海街道")
    assert page.locator(".child-item").count() == 1
    page.click(".child-item")
    page.wait_for_selector(map_ready(level="street", code="440305007000"))
    assert page.locator(".child-item").count() == 1
    assert page.locator(".child-item").inner_text().startswith("科技园社区")
    community_page.watch.assert_clean()
    # The session cannot read another street through the API either (the browser logs that 403).
    status = page.evaluate("fetch('/api/areas/440305001000').then(r => r.status)")
    assert status == 403
