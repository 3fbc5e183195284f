"""The address search page and the address-admin page in a real browser (Debian chromium via Playwright).

Each test ends with ``watch.assert_clean()``: nothing left the loopback interface (no CDN, no online tiles)
and the console stayed free of errors (where CSP violations show).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import BrowserPage  # tests/browser/conftest.py; pytest provides the fixtures

pytestmark = pytest.mark.browser

# A point in 南山街道 › 南山社区 (see the README's `gridgov areas locate` example).
LON, LAT = 113.9248, 22.530853


def api_write(zh_page: BrowserPage, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call the API as the logged-in browser session does (cookie + CSRF header)."""
    request = zh_page.page.request
    csrf = request.get(f"{zh_page.base_url}/api/me").json()["csrf_token"]
    response = request.fetch(
        f"{zh_page.base_url}{path}", method=method, data=body, headers={"X-CSRF-Token": csrf}
    )
    assert response.ok, response.text()
    return dict(response.json())


def test_search_finds_an_address_by_its_common_name_and_pins_it(zh_page: BrowserPage) -> None:
    created = api_write(
        zh_page,
        "POST",
        "/api/addresses",
        {"text": "南山区南山街道浏览器试验路1号试验楼", "lon": LON, "lat": LAT, "road": "浏览器试验路"},
    )
    code = created["code"]
    api_write(zh_page, "POST", f"/api/addresses/{code}/aliases", {"alias": "浏览器试验医院"})

    page = zh_page.page
    page.goto(f"{zh_page.base_url}/addresses")
    page.wait_for_selector("#address-map[data-state=ready]")
    assert page.locator('.site-nav a[aria-current="page"]').inner_text() == "地址库"
    page.fill("#address-search", "浏览器试验医院")
    page.locator(f'.address-item[data-code="{code}"]').click()
    page.wait_for_selector(f'#address-detail[data-code="{code}"]')
    detail = page.inner_text("#address-detail")
    assert "南山区南山街道浏览器试验路1号试验楼" in detail and code in detail
    assert "南山街道" in detail and "有效" in detail and "浏览器试验医院" in detail and "俗称" in detail
    assert created["grid_code"] in detail
    page.wait_for_selector(f'#address-map[data-marker="{code}"]')
    assert page.locator(".leaflet-marker-icon").count() == 1
    assert f"code={code}" in page.url
    zh_page.watch.assert_clean()


def test_admin_page_creates_edits_names_and_retires_with_history(zh_page: BrowserPage) -> None:
    page = zh_page.page
    page.goto(f"{zh_page.base_url}/addresses/admin")
    page.fill("#create-text", "南山区南山街道管理试验路2号")
    page.fill("#create-road", "管理试验路")
    page.fill("#create-lon", str(LON))
    page.fill("#create-lat", str(LAT))
    page.click("#create-form button[type=submit]")
    page.wait_for_selector("#address-detail[data-code]")
    code = page.get_attribute("#address-detail", "data-code")
    assert code and "已新增" in page.inner_text("#create-message")
    page.wait_for_selector('#history-list .history-entry[data-action="create"]')

    # Edit: a new text with a reason; the history shows who, why and old → new, the old text stays a name.
    page.fill("#edit-text", "南山区南山街道新管理试验路2号")
    page.fill("#edit-reason", "道路更名公告")
    page.click("#edit-form button[type=submit]")
    page.wait_for_selector('#history-list .history-entry[data-action="edit"]')
    entry = page.locator('#history-list .history-entry[data-action="edit"]').inner_text()
    assert "修改" in entry and "道路更名公告" in entry
    assert "南山区南山街道管理试验路2号 → 南山区南山街道新管理试验路2号" in entry
    assert page.inner_text("#address-text") == "南山区南山街道新管理试验路2号"
    page.wait_for_selector('#alias-list li[data-alias="南山区南山街道管理试验路2号"]')
    assert "曾用名" in page.inner_text("#alias-list")

    # A common name, then retirement with a reason.
    page.fill("#alias-name", "管理试验中心")
    page.click("#alias-form button[type=submit]")
    page.wait_for_selector('#alias-list li[data-alias="管理试验中心"]')
    page.fill("#retire-reason", "楼栋拆除")
    page.click("#retire-form button[type=submit]")
    page.wait_for_selector('#address-detail[data-status="retired"]')
    page.wait_for_selector('#history-list .history-entry[data-action="retire"]')
    assert page.locator("#history-list .history-entry").count() == 4
    assert page.is_disabled("#edit-form button[type=submit]")
    zh_page.watch.assert_clean()


def test_admin_page_says_why_an_edit_is_refused(zh_page: BrowserPage) -> None:
    created = api_write(
        zh_page, "POST", "/api/addresses", {"text": "南山区南山街道拒绝试验路3号", "lon": LON, "lat": LAT}
    )
    page = zh_page.page
    page.goto(f"{zh_page.base_url}/addresses/admin?code={created['code']}")
    page.wait_for_selector(f'#address-detail[data-code="{created["code"]}"]')
    page.fill("#edit-grid_code", "440304000000999")  # Futian: outside every scope here
    page.fill("#edit-reason", "试验")
    page.click("#edit-form button[type=submit]")
    page.wait_for_selector("#edit-message.is-error")
    assert "操作未完成" in page.inner_text("#edit-message")
    # The browser logs the refused request itself as a console error; nothing else may go wrong.
    assert zh_page.watch.foreign_requests() == []
    assert [e for e in zh_page.watch.errors if "403" not in e] == []


def test_community_staff_search_but_do_not_manage(community_page: BrowserPage) -> None:
    page = community_page.page
    page.goto(f"{community_page.base_url}/addresses")
    assert page.locator('.site-nav a[href$="/addresses/admin"]').count() == 0
    assert page.locator("#address-admin-link").count() == 0
    response = page.goto(f"{community_page.base_url}/addresses/admin")
    assert response is not None and response.status == 403
