"""The collect → verify acceptance of issue 6 in a real browser (Debian chromium via Playwright): the demo
grid worker, on a phone-sized window (390×844), sees the tasks of her grids only, opens one, answers
"corrected" with a new phone number and a photo from the camera input, and the record shows the change with
its lineage ("网格员核查 任务 #<id>") — on the task's result page, in the task's JSON, and on the registry's
record page.

Runs on ``tasks_world`` (tests/browser/conftest.py): its own server with the registry imported through the
pipeline and the detection rules run.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser

if TYPE_CHECKING:
    from conftest import TasksWorld  # tests/browser/conftest.py; pytest provides the fixtures

pytestmark = pytest.mark.browser

NEW_PHONE = "13712345678"
SHOWN_PHONE = "137****5678"


def _jpeg() -> bytes:
    from PIL import Image

    data = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 200)).save(data, format="JPEG")
    return data.getvalue()


def test_a_grid_worker_verifies_a_record_on_her_phone(
    chromium_browser: Browser, tasks_world: TasksWorld
) -> None:
    from conftest import PHONE, PageWatch, log_in, watch_page

    base = tasks_world.base_url
    context = chromium_browser.new_context(**PHONE)
    watch = PageWatch()
    page = watch_page(context.new_page(), watch)
    try:
        log_in(page, base, "grid_worker")

        # 1. Her list: only tasks of her grids, the seeded one among them, nothing wider than the phone.
        page.goto(f"{base}/tasks")
        cards = page.locator("#tasks-list [data-task-id]")
        assert cards.count() >= 1
        grids = set(cards.evaluate_all("cards => cards.map(c => c.dataset.grid)"))
        assert grids <= tasks_world.grids
        ids = {int(i) for i in cards.evaluate_all("cards => cards.map(c => c.dataset.taskId)")}
        assert tasks_world.task_id in ids
        if tasks_world.outside_task_id is not None:
            assert tasks_world.outside_task_id not in ids
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # 2. Open the task: what to check, the record's values (masked), the evidence, the three answers.
        with page.expect_navigation():
            page.click(f"[data-task-id='{tasks_world.task_id}'] a")
        assert page.locator("#task-what").inner_text().strip()
        assert page.locator("#task-target [data-field='address']").count() == 1
        assert page.locator("#task-evidence li").count() >= 1
        assert page.locator(".tasks-answer").count() == 3
        assert page.get_attribute("#task-photo", "accept") == "image/*"
        assert page.get_attribute("#task-photo", "capture") is not None
        height = page.locator("label[for='answer-corrected']").bounding_box()
        assert height is not None and height["height"] >= 44  # a thumb hits it
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # 3. Answer "corrected" with a new phone number and a photo, as a tap would.
        page.locator("label[for='answer-corrected']").tap()
        page.fill("#c-phone", NEW_PHONE)
        page.fill("#task-note", "上门核实，电话已更新")
        page.set_input_files(
            "#task-photo", files=[{"name": "site.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}]
        )
        with page.expect_navigation():
            page.click("#task-submit")
        assert page.url.endswith(f"/tasks/{tasks_world.task_id}?answered=1")

        # 4. The result: the answer, what changed, and the record's value with its new lineage.
        assert page.get_attribute("#task-result", "data-answer") == "corrected"
        assert page.locator("#task-changes [data-field='phone']").inner_text() == SHOWN_PHONE
        assert page.locator("#task-target [data-field='phone']").inner_text().startswith(SHOWN_PHONE)
        lineage = f"网格员核查 任务 #{tasks_world.task_id}"
        assert page.locator("#task-target [data-lineage-of='phone']").inner_text() == lineage
        assert page.locator("#task-form").count() == 0  # answered once

        # 5. The same through the API the page's session may call.
        body = page.request.get(f"{base}/api/tasks/{tasks_world.task_id}").json()
        assert (body["state"], body["answer"], body["has_photo"]) == ("done", "corrected", True)
        phone = next(v for v in body["target"]["values"] if v["field"] == "phone")
        assert (phone["value"], phone["lineage"]) == (SHOWN_PHONE, lineage)

        # 6. The record's own page (the registry's), reached from the result.
        href = page.get_attribute("#task-record-link", "href")
        assert href == f"/registry/people/{tasks_world.person_id}"
        with page.expect_navigation() as navigation:
            page.click("#task-record-link")
        response = navigation.value
        assert response is not None and response.ok, response and response.status
        assert lineage in page.locator("main").inner_text()
        watch.assert_clean()
    finally:
        context.close()
