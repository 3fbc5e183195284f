"""The event pages on both backends: the public snap-report form (CSRF, idempotent double submit, channel
public), the public ticket page (no personal data), the desk and the event detail per role, and the error
pages (403 without events.read, 404 for an unknown ticket)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from gridgov.events import service
from gridgov.events.models import Event
from gridgov.events.service import SYSTEM, NewEvent

NANSHAN_POINT = (113.9248, 22.530853)  # inside 南山街道 (outside the demo street operator's 粤海街道)
HONG_KONG = (114.1694, 22.3193)
GARBAGE = "0101"  # 暴露垃圾
HTML = {"Accept": "text/html"}
Client = Callable[[str], TestClient]


@pytest.fixture(scope="module")
def seeded(engine: Engine, demo_accounts: dict[str, DemoAccount]) -> None:
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        session.commit()


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, name
    return match.group(1)


def open_form(client: TestClient) -> dict[str, str]:
    page = client.get("/report", headers=HTML)
    assert page.status_code == 200, page.text
    return {
        "csrf_token": hidden(page.text, "csrf_token"),
        "idempotency_key": hidden(page.text, "idempotency_key"),
    }


def count(engine: Engine, **where: Any) -> int:
    with session_factory(engine)() as session:
        statement = select(func.count()).select_from(Event)
        for column, value in where.items():
            statement = statement.where(getattr(Event, column) == value)
        return int(session.scalar(statement) or 0)


def file_event(
    engine: Engine,
    point: tuple[float, float] = NANSHAN_POINT,
    *,
    subtype_code: str = GARBAGE,
    title: str = "页面测试垃圾堆积",
) -> str:
    with session_factory(engine)() as session:
        event, _ = service.submit(
            session,
            NewEvent(subtype_code=subtype_code, title=title, lon=point[0], lat=point[1]),
            actor=SYSTEM,
        )
        session.commit()
        return event.ticket


@pytest.mark.usefixtures("seeded")
def test_the_report_form_needs_no_login_and_lists_types_by_class(anonymous_client: TestClient) -> None:
    page = anonymous_client.get("/report", headers=HTML)
    assert page.status_code == 200
    assert '<optgroup label="' in page.text and f'value="{GARBAGE}"' in page.text and "暴露垃圾" in page.text
    assert "gridgov_report_csrf" in page.headers["set-cookie"]
    assert 'href="/report" aria-current="page">随手拍' in page.text  # the nav link, also logged out
    outlines = anonymous_client.get("/report/streets.geojson").json()
    assert len(outlines["features"]) == 8


@pytest.mark.usefixtures("seeded")
def test_a_public_report_submitted_twice_is_one_public_event_and_its_page_shows_no_phone(
    anonymous_client: TestClient, engine: Engine
) -> None:
    form = open_form(anonymous_client)
    title = f"井盖破损 {uuid.uuid4().hex[:6]}"
    body = {
        **form,
        "subtype_code": GARBAGE,
        "title": title,
        "description": "人行道上",
        "lon": str(NANSHAN_POINT[0]),
        "lat": str(NANSHAN_POINT[1]),
        "reporter_name": "王小明",
        "reporter_phone": "13812345678",
    }
    first = anonymous_client.post("/report", data=body, headers=HTML)
    again = anonymous_client.post("/report", data=body, headers=HTML)
    assert first.status_code == 200 and again.status_code == 200, first.text
    ticket = re.search(r'id="report-ticket">([0-9A-Z]+)<', first.text)
    assert ticket and f'id="report-ticket">{ticket.group(1)}<' in again.text
    assert f'href="/report/{ticket.group(1)}?access_code=' in first.text
    assert count(engine, title=title) == 1
    assert count(engine, title=title, channel="public", state="reported") == 1

    status = anonymous_client.get(f"/report/{ticket.group(1)}", headers=HTML)
    assert status.status_code == 200
    assert "待受理" in status.text and "暴露垃圾" in status.text and title in status.text
    for private in ("13812345678", "138****5678", "5678", "王小明", "王**", "system"):
        assert private not in status.text, private


@pytest.mark.usefixtures("seeded")
def test_a_report_without_the_csrf_cookie_or_outside_the_district_files_nothing(
    anonymous_client: TestClient, engine: Engine
) -> None:
    form = open_form(anonymous_client)
    title = f"外区 {uuid.uuid4().hex[:6]}"
    body = {
        **form,
        "subtype_code": GARBAGE,
        "title": title,
        "lon": str(HONG_KONG[0]),
        "lat": str(HONG_KONG[1]),
    }
    outside = anonymous_client.post("/report", data=body, headers=HTML)
    assert outside.status_code == 422 and "不在南山区范围内" in outside.text
    assert title in outside.text  # the form keeps what was typed
    forged = anonymous_client.post("/report", data={**body, "csrf_token": "x" * 32}, headers=HTML)
    assert forged.status_code == 403 and "表单已过期" in forged.text
    nowhere = anonymous_client.post("/report", data={**body, "lon": "", "lat": ""}, headers=HTML)
    assert nowhere.status_code == 422 and "请在地图上标出位置" in nowhere.text
    assert count(engine, title=title) == 0


@pytest.mark.usefixtures("seeded")
def test_an_unknown_ticket_is_the_404_page(anonymous_client: TestClient, client: TestClient) -> None:
    for url, who in (("/report/NS000000ZZZZZZ", anonymous_client), ("/events/NS000000ZZZZZZ", client)):
        page = who.get(url, headers=HTML)
        assert page.status_code == 404 and 'data-error-status="404"' in page.text, url


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("role", ["admin", "district_operator", "street_operator", "grid_worker", "auditor"])
def test_the_desk_and_detail_render_for_roles_that_read_events(
    client_for: Client, engine: Engine, role: str
) -> None:
    ticket = file_event(engine)
    desk = client_for(role).get("/events", headers=HTML)
    assert desk.status_code == 200, desk.text
    assert 'href="/events" aria-current="page">事件受理' in desk.text
    # 南山街道 lies outside the street operator's and grid worker's areas.
    visible = role in ("admin", "district_operator", "auditor")
    assert (f'data-ticket="{ticket}"' in desk.text) is visible
    detail = client_for(role).get(f"/events/{ticket}", headers=HTML)
    if not visible:
        assert detail.status_code == 403 and 'data-error-status="403"' in detail.text
        return
    assert detail.status_code == 200, detail.text
    assert "页面测试垃圾堆积" in detail.text and 'data-action="report"' in detail.text
    # Actions only with events.desk: the auditor reads.
    assert ('id="action-accept"' in detail.text) is (role != "auditor")
    assert ('id="details-cancel"' in detail.text) is (role != "auditor")


@pytest.mark.usefixtures("seeded")
def test_the_desk_filters_by_state_and_overdue(client: TestClient, engine: Engine) -> None:
    ticket = file_event(engine)
    reported = client.get("/events?state=reported", headers=HTML).text
    assert f'data-ticket="{ticket}"' in reported
    assert (
        'data-tab="reported"\n       aria-current="page"' in reported
        or 'aria-current="page">待受理' in reported
    )
    assert f'data-ticket="{ticket}"' not in client.get("/events?state=closed", headers=HTML).text
    assert f'data-ticket="{ticket}"' not in client.get("/events?state=overdue", headers=HTML).text


@pytest.mark.usefixtures("seeded")
def test_the_dispatch_form_defaults_to_the_suggested_unit(client: TestClient, engine: Engine) -> None:
    ticket = file_event(engine)
    with session_factory(engine)() as session:
        event = service.get_event(session, ticket, scope=WHOLE_DISTRICT)
        service.act(session, event, "accept", actor=SYSTEM)
        suggested = service.suggest_unit(session, event).code
        session.commit()
    page = client.get(f"/events/{ticket}", headers=HTML).text
    assert re.search(rf'<option value="{re.escape(suggested)}" selected>', page)
    assert 'id="form-dispatch"' in page and 'id="details-whistle"' in page


@pytest.mark.usefixtures("seeded")
def test_a_role_without_events_read_gets_the_403_page_and_nobody_the_desk_logged_out(
    client_for: Client, anonymous_client: TestClient
) -> None:
    page = client_for("contractor").get("/events", headers=HTML)
    assert page.status_code == 403 and 'data-error-status="403"' in page.text
    assert 'href="/events"' not in page.text  # no nav link either
    redirect = anonymous_client.get("/events", headers=HTML, follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"].startswith("/login")


@pytest.mark.usefixtures("seeded")
def test_a_departments_desk_is_its_inbox(client_for: Client, engine: Engine) -> None:
    from gridgov.events.service import Actor
    from gridgov.events.workflow import Action

    mine, theirs, whistled = file_event(engine), file_event(engine), file_event(engine)
    desk = Actor(name="desk", scope=WHOLE_DISTRICT)
    with session_factory(engine)() as session:
        for ticket, unit in ((mine, "D-CG"), (theirs, "D-ZJ"), (whistled, "D-ZJ")):
            event = service.get_event(session, ticket, scope=WHOLE_DISTRICT)
            service.act(session, event, Action.accept, actor=desk)
            service.act(session, event, Action.dispatch, actor=desk, unit=unit)
        service.blow_whistle(
            session,
            service.get_event(session, whistled, scope=WHOLE_DISTRICT),
            actor=desk,
            ground="many_departments",
            departments=["D-CG"],
        )
        session.commit()
    page = client_for("department_handler").get("/events", headers=HTML).text  # demo.department: D-CG
    assert f'data-ticket="{mine}"' in page and f'data-ticket="{whistled}"' in page
    assert f'data-ticket="{theirs}"' not in page


@pytest.mark.usefixtures("seeded")
def test_a_public_report_takes_a_photo_and_a_bad_photo_files_nothing(
    anonymous_client: TestClient, engine: Engine, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from PIL import Image

    from gridgov.core.settings import get_settings
    from gridgov.events.models import EventPhoto

    monkeypatch.setenv("GRIDGOV_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        jpeg = io.BytesIO()
        Image.new("RGB", (32, 24), "green").save(jpeg, format="JPEG")
        for photo, expected in ((jpeg.getvalue(), 200), (b"not a picture", 422)):
            title = f"带照片 {uuid.uuid4().hex[:6]}"
            body = {
                **open_form(anonymous_client),
                "subtype_code": GARBAGE,
                "title": title,
                "lon": str(NANSHAN_POINT[0]),
                "lat": str(NANSHAN_POINT[1]),
            }
            answer = anonymous_client.post(
                "/report", data=body, files={"photo": ("p.jpg", photo, "image/jpeg")}, headers=HTML
            )
            assert answer.status_code == expected, answer.text[:300]
            if expected == 200:
                assert count(engine, title=title) == 1
                with session_factory(engine)() as session:
                    event = session.scalars(select(Event).where(Event.title == title)).one()
                    stored = session.scalars(select(EventPhoto).where(EventPhoto.event_id == event.id)).all()
                assert len(stored) == 1 and stored[0].mime == "image/jpeg"
            else:
                assert "照片无法使用" in answer.text
                assert count(engine, title=title) == 0  # the report waits for a usable photo or none
    finally:
        get_settings.cache_clear()


# ---------------------------------------------------------------------------------------------------------
# The public form's address type-ahead


def building_with_dwellings(engine: Engine) -> tuple[str, float, float, list[str]]:
    """A building of the test library with a point and dwellings: its text, point and its dwellings' texts."""
    from gridgov.address.models import StdAddress

    with session_factory(engine)() as session:
        dwelling = session.scalars(
            select(StdAddress)
            .where(StdAddress.level == "dwelling", StdAddress.valid_to.is_(None), StdAddress.lon.is_not(None))
            .order_by(StdAddress.code)
        ).first()
        assert dwelling is not None and dwelling.parent_id is not None
        building = session.get(StdAddress, dwelling.parent_id)
        assert building is not None and building.lon is not None and building.lat is not None
        rooms = session.scalars(select(StdAddress.text).where(StdAddress.parent_id == building.id)).all()
        return building.text, building.lon, building.lat, list(rooms)


def test_the_address_typeahead_offers_buildings_with_their_points_and_nothing_else(
    anonymous_client: TestClient, engine: Engine
) -> None:
    from gridgov.address.models import StdAddress

    text, lon, lat, rooms = building_with_dwellings(engine)
    assert len(rooms) >= 2 and all(room.startswith(text) for room in rooms)  # the query matches them too

    answer = anonymous_client.get("/report/addresses", params={"q": text})  # no login
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found[0] == {"text": text, "lon": lon, "lat": lat}
    assert all(set(item) == {"text", "lon", "lat"} for item in found)  # no code, level, person, anything
    assert not {item["text"] for item in found} & set(rooms)
    # A dwelling's own text finds no dwelling either.
    assert rooms[0] not in {
        item["text"] for item in anonymous_client.get(f"/report/addresses?q={rooms[0]}").json()
    }

    with session_factory(engine)() as session:
        buildings = set(session.scalars(select(StdAddress.text).where(StdAddress.level == "building")))
    broad = anonymous_client.get("/report/addresses", params={"q": "南山区"}).json()
    assert len(broad) == 8 and all(item["text"] in buildings for item in broad)
    assert anonymous_client.get("/report/addresses", params={"q": "南山" * 50}).status_code == 200  # 100


@pytest.mark.parametrize("query", ["", "南", "  南  ", "南" * 101])
def test_the_address_typeahead_refuses_too_short_or_too_long_queries(
    anonymous_client: TestClient, query: str
) -> None:
    answer = anonymous_client.get("/report/addresses", params={"q": query})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_input" and "2 to 100 characters" in error["message"]


@pytest.mark.usefixtures("seeded")
def test_the_report_form_wires_the_address_field_as_a_typeahead(anonymous_client: TestClient) -> None:
    page = anonymous_client.get("/report", headers=HTML).text
    field = re.search(r'<input id="report-address"[^>]*>', page)
    assert field is not None
    for attribute in ('role="combobox"', 'aria-controls="report-address-list"', 'aria-expanded="false"'):
        assert attribute in field.group(0), attribute
    assert 'id="report-address-list" role="listbox"' in page
    assert '"addresses": "/report/addresses"' in page or '"addresses":"/report/addresses"' in page


# ---------------------------------------------------------------------------------------------------------
# Likely duplicates on the detail page and the desk

SIGN = "0204"  # 招牌破损: filed by no other test, so the duplicates found here are this module's own


@pytest.fixture(scope="module")
def edge(
    engine: Engine, demo_accounts: dict[str, DemoAccount], seeded: None
) -> dict[str, tuple[float, float]]:
    """Points at the edge of the 科技园社区 workstation's scope, all three in the street operator's."""
    # The API tests' helper: three points across the community's edge, inside the street.
    from test_events_api import boundary_points, scope_of

    community, street = scope_of(demo_accounts["community_staff"]), scope_of(demo_accounts["street_operator"])
    with session_factory(engine)() as session:
        here, near, across = boundary_points(session, community, street)
    return {"here": here, "near": near, "across": across}


def section(page: str, element_id: str) -> str:
    """The HTML of the <section id=...> on the page ('' when there is none)."""
    match = re.search(rf'<section[^>]*id="{element_id}".*?</section>', page, re.S)
    return match.group(0) if match else ""


def desk_row(page: str, ticket: str) -> str:
    match = re.search(rf'<tr class="desk-row[^"]*" data-ticket="{ticket}".*?</tr>', page, re.S)
    assert match, ticket
    return match.group(0)


def test_the_detail_lists_likely_duplicates_in_scope_with_merge_buttons_and_the_desk_marks_them(
    client_for: Client, engine: Engine, edge: dict[str, tuple[float, float]]
) -> None:
    first = file_event(engine, edge["here"], subtype_code=SIGN, title="招牌掉了一半")
    near = file_event(engine, edge["near"], subtype_code=SIGN, title="招牌快掉下来")
    across = file_event(engine, edge["across"], subtype_code=SIGN, title="对面招牌破损")
    alone = file_event(engine, NANSHAN_POINT, subtype_code=SIGN, title="别处招牌破损")

    street = client_for("street_operator").get(f"/events/{first}", headers=HTML)
    assert street.status_code == 200, street.text
    listed = section(street.text, "event-duplicates")
    assert f'data-ticket="{near}"' in listed and f'data-ticket="{across}"' in listed
    assert "招牌快掉下来" in listed and "疑似重复事件" in listed
    # Both reported: this one into the other, or the other into this one, each on the version read.
    this_into = re.search(rf'<button[^>]*id="merge-this_into-{near}"[^>]*>', listed, re.S)
    into_this = re.search(rf'<button[^>]*id="merge-into_this-{near}"[^>]*>', listed, re.S)
    assert this_into and into_this
    assert f'data-merge-url="/api/events/{first}/merge"' in this_into.group(0)
    assert f'data-into="{near}"' in this_into.group(0) and 'data-version="1"' in this_into.group(0)
    assert f'data-merge-url="/api/events/{near}/merge"' in into_this.group(0)
    assert f'data-into="{first}"' in into_this.group(0)

    # The community workstation: the one across its edge is outside its scope and not shown.
    community = client_for("community_staff").get(f"/events/{first}", headers=HTML).text
    listed = section(community, "event-duplicates")
    assert f'data-ticket="{near}"' in listed and f'data-ticket="{across}"' not in listed
    # The auditor reads the duplicates but may not merge.
    auditor = section(client_for("auditor").get(f"/events/{first}", headers=HTML).text, "event-duplicates")
    assert f'data-ticket="{near}"' in auditor and "data-merge-url" not in auditor
    # No duplicates: no section.
    assert section(client_for("admin").get(f"/events/{alone}", headers=HTML).text, "event-duplicates") == ""

    # The desk marks the events with likely duplicates in the caller's scope, with how many.
    street_desk = client_for("street_operator").get("/events?state=reported", headers=HTML).text
    row = desk_row(street_desk, first)
    assert 'data-duplicates="2"' in row and "疑似重复 2" in row
    community_desk = client_for("community_staff").get("/events?state=reported", headers=HTML).text
    assert 'data-duplicates="1"' in desk_row(community_desk, first)
    row = desk_row(client_for("admin").get("/events?state=reported", headers=HTML).text, alone)
    assert 'data-duplicates="0"' in row and "疑似重复" not in row

    # Once merged, the page says into which event, and offers no more merges.
    merged = client_for("community_staff").post(
        f"/api/events/{first}/merge", json={"into": near, "version": 1}
    )
    assert merged.status_code == 200, merged.text
    page = client_for("street_operator").get(f"/events/{first}", headers=HTML).text
    assert 'data-state="cancelled"' in page
    assert re.search(rf'id="event-merged-into" data-ticket="{near}"><a href="/events/{near}"', page)
    assert "data-merge-url" not in page
    assert f'data-ticket="{first}"' not in section(
        client_for("street_operator").get(f"/events/{near}", headers=HTML).text, "event-duplicates"
    )
