"""The events REST API on both backends: filing (point, address, idempotent retry), the closed loop through
the roles' permissions, the timeline, version and transition conflicts, area scope, list filters, the
whistle and the summoned departments, and event types.

The demo accounts work in 粤海街道 (street operator, contractor), 科技园社区 (community staff) and three of
its grids (grid worker); ``demo.department`` belongs to D-CG (区城管局). A handler of another department
(D-ZJ, 区住建局) is made here, to show that a handler acts only for its own unit.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gridgov.accounts import service as accounts
from gridgov.accounts.permissions import Role
from gridgov.address.models import StdAddress
from gridgov.areas.scope import WHOLE_DISTRICT, AreaScope
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from gridgov.events import service
from gridgov.events.models import Event

NANSHAN_POINT = (113.9248, 22.530853)  # inside 南山社区 440305002007 (南山街道): outside 粤海街道
NANSHAN_STREET = "440305002000"
GARBAGE = "0101"  # 暴露垃圾
OVERFLOW = "0104"  # 垃圾满溢
Client = Callable[[str], TestClient]


def scope_of(account: DemoAccount) -> AreaScope:
    return AreaScope.of(str(account.scope["level"]), [str(c) for c in account.scope["codes"]])  # type: ignore[union-attr]


def inside_address(session: Session, scope: AreaScope) -> tuple[float, float, str]:
    """A standard address in ``scope`` whose point and text both land in a grid of the scope."""
    from gridgov.address.batch import cached_library, match_texts
    from gridgov.areas.service import area_index

    index = area_index(session)
    library = cached_library(session)
    rows = session.execute(
        select(StdAddress.lon, StdAddress.lat, StdAddress.text, StdAddress.grid_code)
        .where(StdAddress.lon.is_not(None), StdAddress.grid_code.is_not(None), StdAddress.valid_to.is_(None))
        .order_by(StdAddress.code)
    )
    for lon, lat, text, grid in rows:
        if not scope.covers(grid):
            continue
        located = index.locate(lon, lat)
        if located.grid is None or not scope.covers(located.grid.code):
            continue
        [values] = match_texts(library, [text])
        if values[7] and scope.covers(values[7]):
            return float(lon), float(lat), str(text)
    raise AssertionError("no address inside the grid worker's scope")


@pytest.fixture(scope="module")
def seeded(engine: Engine, demo_accounts: dict[str, DemoAccount]) -> dict[str, Any]:
    """Event types and org units, and the grid worker's place (a point and an address text)."""
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        lon, lat, text = inside_address(session, scope_of(demo_accounts["grid_worker"]))
        session.commit()
    return {"point": (lon, lat), "address": text}


@pytest.fixture(scope="module")
def zj_handler(engine: Engine, app: FastAPI, seeded: dict[str, Any]) -> Iterator[TestClient]:
    """A department handler of D-ZJ (区住建局), district-wide."""
    with session_factory(engine)() as session:
        username = f"test.zj.{uuid.uuid4().hex[:6]}"
        user = accounts.create_user(
            session,
            accounts.NewUser(
                username=username,
                password=secrets.token_urlsafe(16) + "-7",  # letters and digits, always
                role=Role.department_handler,
                scope=WHOLE_DISTRICT,
                display_name="住建局处置员",
                org_unit_code="D-ZJ",
            ),
        )
        token = accounts.issue_token(session, user, name="tests").token
        session.commit()
    with TestClient(app, base_url="https://testserver") as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def report(client: TestClient, point: tuple[float, float], key: str | None = None, **extra: Any) -> Any:
    body = {"subtype_code": GARBAGE, "title": "小区门口垃圾堆积", "lon": point[0], "lat": point[1], **extra}
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/api/events", json=body, headers=headers)


def act(client: TestClient, event: dict[str, Any], action: str, **extra: Any) -> Any:
    body = {"action": action, "version": event["version"], **extra}
    return client.post(f"/api/events/{event['ticket']}/actions", json=body)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_a_grid_worker_files_by_point_and_by_address_and_a_retry_is_the_same_event(
    client_for: Client, seeded: dict[str, Any], engine: Engine
) -> None:
    grid = client_for("grid_worker")
    key = f"retry-{uuid.uuid4().hex}"
    first = ok(report(grid, seeded["point"], key, reporter_phone="13812345678", reporter_name="王女士"), 201)
    assert first["state"] == "reported" and first["channel"] == "grid" and first["version"] == 1
    assert first["subtype_code"] == GARBAGE and first["subtype_name"] == "暴露垃圾"
    assert first["reporter_phone"] == "138****5678" and first["reporter_name"] == "王**"
    assert (
        first["timeline"][0]["action"] == "report"
        and first["timeline"][0]["actor_name"] == "科技园社区网格员"
    )
    assert first["allowed_actions"] == []  # a grid worker neither accepts nor cancels
    again = ok(report(grid, seeded["point"], key, reporter_phone="13812345678"), 200)
    assert again["ticket"] == first["ticket"] and again["id"] == first["id"]
    with session_factory(engine)() as session:
        assert (
            # stored under the submitter: "u<user id>:<key>" (another account's same key is its own)
            session.scalar(
                select(func.count()).select_from(Event).where(Event.idempotency_key.endswith(f":{key}"))
            )
            == 1
        )

    by_address = grid.post(
        "/api/events", json={"subtype_code": GARBAGE, "title": "楼下垃圾", "address_text": seeded["address"]}
    )
    placed = ok(by_address, 201)
    assert placed["grid_code"] and placed["address_text"] == seeded["address"]
    assert placed["ticket"] != first["ticket"]


def test_concurrent_reports_are_filed_together_and_each_answer_is_what_was_stored(
    client_for: Client, seeded: dict[str, Any], app: FastAPI, engine: Engine
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from gridgov.audit.service import list_entries

    grid = client_for("grid_worker")
    intake = app.state.event_intake
    items_before = intake.items
    keys = [f"together-{uuid.uuid4().hex}" for _ in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(lambda key: report(grid, seeded["point"], key, reporter_phone="13912345678"), keys)
        )
    filed = [ok(answer, 201) for answer in answers]
    assert len({event["ticket"] for event in filed}) == len(keys)
    assert intake.items - items_before == len(keys)
    with session_factory(engine)() as session:
        for event in filed:
            # The answer is built from the values written; reading the event back gives the same.
            assert ok(grid.get(f"/api/events/{event['ticket']}")) == event
            [created] = list_entries(session, object_type="event", object_id=str(event["id"])).entries
            assert created.action == "record.create" and created.actor == "demo.grid"
            assert {"ticket", "title", "reporter_phone", "grid_code"} <= set(created.details["columns"])
            [step_entry] = [
                entry
                for entry in list_entries(session, object_type="event_step", action="record.create").entries
                if entry.object_id == str(event["timeline"][0]["id"])
            ]
            assert step_entry.actor == "demo.grid"


def test_reports_outside_the_scope_or_district_or_without_a_place_are_refused(
    client_for: Client, seeded: dict[str, Any]
) -> None:
    grid = client_for("grid_worker")
    assert report(grid, NANSHAN_POINT).status_code == 403
    outside = report(client_for("district_operator"), (114.1694, 22.3193))
    assert outside.status_code == 422 and outside.json()["error"]["code"] == "outside_district"
    nowhere = grid.post("/api/events", json={"subtype_code": GARBAGE, "title": "无处"})
    assert nowhere.status_code == 422
    unknown = grid.post("/api/events", json={"subtype_code": "9999", "title": "x", "lon": 113.9, "lat": 22.5})
    assert unknown.status_code in (403, 422)
    assert report(client_for("contractor"), seeded["point"]).status_code == 403
    assert "events.report" in report(client_for("auditor"), seeded["point"]).json()["error"]["message"]


def test_the_closed_loop_through_the_roles_with_a_timeline(
    client_for: Client, seeded: dict[str, Any], zj_handler: TestClient
) -> None:
    grid, desk = client_for("grid_worker"), client_for("street_operator")
    event = ok(report(grid, seeded["point"]), 201)
    ticket = event["ticket"]

    stale = desk.post(f"/api/events/{ticket}/actions", json={"action": "accept", "version": 99})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    illegal = act(desk, event, "close")
    assert illegal.status_code == 409
    assert "it allows: accept, cancel" in illegal.json()["error"]["message"]

    event = ok(act(desk, event, "accept", note="立案"))
    assert event["state"] == "accepted" and "dispatch" in event["allowed_actions"]
    forbidden = act(grid, event, "dispatch", unit="D-CG")
    assert forbidden.status_code == 403 and "events.desk" in forbidden.json()["error"]["message"]
    event = ok(act(desk, event, "dispatch", unit="D-CG"))
    assert event["state"] == "dispatched" and event["handling_unit_code"] == "D-CG"
    assert event["due_at"] and event["deadline_status"] == "green"

    # A handler of another department (D-ZJ): not its event to sign.
    cg_handler = client_for("department_handler")  # demo.department works for D-CG
    other = act(zj_handler, event, "sign")
    assert other.status_code == 403 and "D-CG" in other.json()["error"]["message"]
    assert act(grid, event, "sign").status_code == 403  # no events.handle
    event = ok(act(cg_handler, event, "sign"))
    event = ok(act(cg_handler, event, "handle", note="已清运"))
    assert act(cg_handler, event, "verify").status_code == 403  # events.verify
    event = ok(act(grid, event, "verify", note="现场核查已清理"))
    assert act(grid, event, "close").status_code == 403
    event = ok(act(desk, event, "close"))
    assert event["closed_at"] and event["deadline_status"] == "none"
    missing = act(desk, event, "evaluate")
    assert missing.status_code == 422
    event = ok(act(desk, event, "evaluate", rating=5))
    assert event["state"] == "evaluated" and event["rating"] == 5

    detail = ok(client_for("community_staff").get(f"/api/events/{ticket}"))
    steps = [(s["action"], s["from_state"], s["to_state"]) for s in detail["timeline"]]
    assert steps == [
        ("report", None, "reported"),
        ("accept", "reported", "accepted"),
        ("dispatch", "accepted", "dispatched"),
        ("sign", "dispatched", "signed"),
        ("handle", "signed", "handled"),
        ("verify", "handled", "verified"),
        ("close", "verified", "closed"),
        ("evaluate", "closed", "evaluated"),
    ]
    actors = [s["actor_name"] for s in detail["timeline"]]
    assert actors[1] == actors[2] == "粤海街道指挥中心" and actors[3] == "区城管局执法队"
    assert actors[5] == "科技园社区网格员"
    assert all(s["at"] for s in detail["timeline"]) and detail["timeline"][4]["note"] == "已清运"


def test_dispatch_without_a_unit_takes_the_one_the_rules_pick(
    client_for: Client, seeded: dict[str, Any]
) -> None:
    desk = client_for("street_operator")
    event = ok(report(client_for("grid_worker"), seeded["point"]), 201)
    event = ok(act(desk, event, "accept"))
    event = ok(act(desk, event, "dispatch"))
    assert event["handling_unit_code"] == "SD-440305007000-CG"  # 暴露垃圾: the street's enforcement team
    # The desk may act for the unit: it returns the event (no clock left running in the shared database).
    event = ok(act(desk, event, "return", reason="派错了"))
    assert event["state"] == "accepted" and event["handling_unit_code"] is None and event["due_at"] is None


def test_an_event_in_another_street_is_invisible_and_lists_stay_in_scope(
    client_for: Client, seeded: dict[str, Any]
) -> None:
    district = client_for("district_operator")
    # Another type than the service tests' reports at this point (they look for duplicates there).
    there = ok(report(district, NANSHAN_POINT, title="南山社区垃圾满溢", subtype_code=OVERFLOW), 201)
    assert there["street_code"] == NANSHAN_STREET and there["community_code"] == "440305002007"
    here = ok(report(client_for("grid_worker"), seeded["point"], title="科技园垃圾"), 201)

    for role in ("community_staff", "street_operator", "grid_worker"):
        client = client_for(role)
        assert client.get(f"/api/events/{there['ticket']}").status_code in (403, 404), role
        assert act(client, there, "accept").status_code in (403, 404), role
        listed = ok(client.get("/api/events", params={"limit": 500}))
        tickets = {e["ticket"] for e in listed}
        assert there["ticket"] not in tickets and here["ticket"] in tickets, role
        assert ok(client.get("/api/events", params={"street_code": NANSHAN_STREET})) == []
    assert client_for("contractor").get("/api/events").status_code == 403
    assert client_for("contractor").get(f"/api/events/{here['ticket']}").status_code == 403
    assert client_for("auditor").get(f"/api/events/{there['ticket']}").status_code == 200
    assert client_for("district_operator").get("/api/events/NS000000ZZZZZZ").status_code == 404

    everything = district.get("/api/events", params={"street_code": NANSHAN_STREET, "limit": 500}).json()
    assert there["ticket"] in {e["ticket"] for e in everything}
    assert all(e["street_code"] == NANSHAN_STREET for e in everything)

    # The map's points keep to the scope too, and filter by state.
    def mapped(client: TestClient, **params: Any) -> dict[str, dict[str, Any]]:
        collection = ok(client.get("/api/events.geojson", params=params))
        assert collection["type"] == "FeatureCollection"
        return {f["properties"]["ticket"]: f for f in collection["features"]}

    on_district_map = mapped(district)
    assert there["ticket"] in on_district_map and here["ticket"] in on_district_map
    point = on_district_map[there["ticket"]]
    assert point["geometry"]["coordinates"] == [there["lon"], there["lat"]]
    assert point["properties"]["state"] == "reported" and point["properties"]["subtype"]
    on_worker_map = mapped(client_for("grid_worker"))
    assert here["ticket"] in on_worker_map and there["ticket"] not in on_worker_map
    assert there["ticket"] not in mapped(district, state=["closed", "evaluated"])
    assert client_for("contractor").get("/api/events.geojson").status_code == 403


def test_list_filters(client_for: Client, seeded: dict[str, Any]) -> None:
    grid, desk = client_for("grid_worker"), client_for("community_staff")
    event = ok(report(grid, seeded["point"], title="筛选"), 201)
    ok(act(desk, event, "accept"))

    def tickets(**params: Any) -> set[str]:
        response = desk.get("/api/events", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return {e["ticket"] for e in response.json()}

    assert event["ticket"] in tickets(state="accepted")
    assert event["ticket"] not in tickets(state="reported")
    assert event["ticket"] in tickets(subtype_code=GARBAGE, grid_code=event["grid_code"])
    assert event["ticket"] in tickets(community_code=event["community_code"], deadline_status="none")
    assert event["ticket"] not in tickets(deadline_status="red")
    assert not tickets(subtype_code="0999")
    page = desk.get("/api/events", params={"limit": 1, "offset": 0}).json()
    assert len(page) == 1
    assert desk.get("/api/events", params={"state": "nonsense"}).status_code == 422
    assert desk.get("/api/events", params={"limit": 0}).status_code == 422


def test_the_whistle_and_the_summoned_departments_hold_the_close(
    client_for: Client, seeded: dict[str, Any], zj_handler: TestClient
) -> None:
    grid, desk = client_for("grid_worker"), client_for("street_operator")
    event = ok(report(grid, seeded["point"], title="油罐车停放"), 201)
    ticket = event["ticket"]
    event = ok(act(desk, event, "accept"))
    whistle = {"ground": "many_departments", "departments": ["D-CG", "D-ZJ"], "version": event["version"]}
    assert grid.post(f"/api/events/{ticket}/whistle", json=whistle).status_code == 403
    event = ok(desk.post(f"/api/events/{ticket}/whistle", json=whistle))
    assert {s["department_code"] for s in event["summons"]} == {"D-CG", "D-ZJ"}
    assert event["timeline"][-1]["action"] == "whistle"
    stale = desk.post(f"/api/events/{ticket}/whistle", json=whistle)
    assert stale.status_code == 409

    def summons(client: TestClient, department: str, action: str, **extra: Any) -> Any:
        body = {"department": department, "action": action, **extra}
        return client.post(f"/api/events/{ticket}/summons", json=body)

    # Only D-CG's own handler (or the desk) answers for D-CG.
    cg_handler = client_for("department_handler")  # demo.department works for D-CG
    assert summons(zj_handler, "D-CG", "whistle_sign").status_code == 403
    assert summons(grid, "D-CG", "whistle_sign").status_code == 403
    assert summons(cg_handler, "D-ZJ", "whistle_sign").status_code == 403
    assert summons(cg_handler, "D-CG", "whistle_contact").status_code == 409  # sign first
    for step in ("whistle_sign", "whistle_contact", "whistle_report"):
        event = ok(summons(cg_handler, "D-CG", step))
    assert summons(cg_handler, "D-CG", "whistle_rate", rating=4).status_code == 403  # the desk rates
    event = ok(summons(desk, "D-CG", "whistle_rate", rating=4, comment="到场及时"))
    cg = next(s for s in event["summons"] if s["department_code"] == "D-CG")
    assert cg["signed_at"] and cg["contacted_at"] and cg["reported_at"] and cg["rating"] == 4
    assert summons(desk, "D-SW", "whistle_sign").status_code == 404  # not summoned

    event = ok(act(desk, event, "dispatch", unit="D-CG"))
    event = ok(act(cg_handler, event, "sign"))
    event = ok(act(cg_handler, event, "handle"))
    event = ok(act(grid, event, "verify"))
    held = act(desk, event, "close")
    assert held.status_code == 409 and held.json()["error"]["code"] == "whistle_open"
    assert "D-ZJ" in held.json()["error"]["message"]
    for step in ("whistle_sign", "whistle_contact", "whistle_report"):  # the desk records D-ZJ's answers
        event = ok(summons(desk, "D-ZJ", step))
    event = ok(act(desk, event, "close"))
    assert event["state"] == "closed"
    actions = [s["action"] for s in event["timeline"]]
    assert actions.count("whistle_report") == 2 and "whistle_rate" in actions
    misrouted = desk.post(f"/api/events/{ticket}/actions", json={"action": "whistle", "version": 1})
    assert misrouted.status_code == 422


def test_event_types_are_listed_and_revised_into_a_new_version(
    client_for: Client, seeded: dict[str, Any]
) -> None:
    categories = ok(client_for("grid_worker").get("/api/events/categories"))
    by_code = {c["code"]: c for c in categories}
    assert len(by_code) >= 50 and by_code[GARBAGE]["name"] == "暴露垃圾"
    old = by_code["0102"]
    change = {"limit_value": old["limit_value"] + 1}
    refused = client_for("street_operator").patch("/api/events/categories/0102", json=change)
    assert refused.status_code == 403 and "events.configure" in refused.json()["error"]["message"]
    revised = ok(client_for("district_operator").patch("/api/events/categories/0102", json=change))
    assert revised["version"] == old["version"] + 1 and revised["limit_value"] == old["limit_value"] + 1
    assert client_for("admin").patch("/api/events/categories/0102", json={}).status_code == 422
    assert (
        client_for("admin").patch("/api/events/categories/0102", json={"limit_unit": "weeks"}).status_code
        == 422
    )
    assert client_for("admin").patch("/api/events/categories/9999", json=change).status_code == 422


def test_every_workflow_action_names_the_permission_it_needs() -> None:
    from gridgov.accounts.permissions import ROLE_PERMISSIONS, Permission
    from gridgov.events.api import ACTION_PERMISSION
    from gridgov.events.workflow import Action

    assert set(ACTION_PERMISSION) == set(Action)
    desk = {r for r, perms in ROLE_PERMISSIONS.items() if Permission.events_desk in perms}
    assert desk == {Role.admin, Role.district_operator, Role.street_operator, Role.community_staff}
    readers = {r for r, perms in ROLE_PERMISSIONS.items() if Permission.events_read in perms}
    assert readers == set(Role) - {Role.contractor}


# ---------------------------------------------------------------------------------------------------------
# Likely duplicates and merging

BANNER = "0203"  # 横幅乱挂: no other test files this type, so the duplicates found here are this module's


def boundary_points(
    session: Session, scope: AreaScope, within: AreaScope
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """Three points on a line crossing the edge of ``scope``: one inside it, one 20 m further in, and one 10 m
    the other way, just outside it but inside ``within`` (a wider scope); well within a duplicate's radius."""
    from gridgov.areas.models import Grid
    from gridgov.areas.service import area_index

    index = area_index(session)

    def inside(lon: float, lat: float) -> bool | None:
        """True in ``scope``, False in ``within`` outside it, None anywhere else."""
        located = index.locate(lon, lat)
        if located.grid is None or not within.covers(located.grid.code):
            return None
        return scope.covers(located.grid.code)

    step_lon, step_lat = 10 / 102_000.0, 10 / 110_574.0  # 10 m at Shenzhen's latitude
    for grid in session.scalars(select(Grid).order_by(Grid.code)):
        if not scope.covers(grid.code):
            continue
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            path = [
                (grid.centroid_lon + dx * n * step_lon, grid.centroid_lat + dy * n * step_lat)
                for n in range(80)
            ]
            states = [inside(*point) for point in path]
            for n in range(3, len(path)):
                if states[n] is None:
                    break
                if states[n] is False:
                    if states[n - 1] and states[n - 2] and states[n - 3]:
                        return path[n - 1], path[n - 3], path[n]
                    break
    raise AssertionError(f"no edge of {scope} inside {within} within 800 m of a grid centre")


@pytest.fixture(scope="module")
def edge(engine: Engine, demo_accounts: dict[str, DemoAccount], seeded: dict[str, Any]) -> dict[str, Any]:
    """Points at the edge of the 科技园社区 workstation's scope, all three in the street operator's."""
    community, street = scope_of(demo_accounts["community_staff"]), scope_of(demo_accounts["street_operator"])
    with session_factory(engine)() as session:
        here, near, across = boundary_points(session, community, street)
    return {"here": here, "near": near, "across": across}


def tickets_of(response: Any) -> list[str]:
    return [e["ticket"] for e in ok(response)]


def test_likely_duplicates_are_nearby_reports_of_the_type_within_the_callers_scope(
    client_for: Client, edge: dict[str, Any]
) -> None:
    district = client_for("district_operator")
    first = ok(report(district, edge["here"], subtype_code=BANNER, title="路口横幅"), 201)
    near = ok(report(district, edge["near"], subtype_code=BANNER, title="路口又挂横幅"), 201)
    across = ok(report(district, edge["across"], subtype_code=BANNER, title="对面也有横幅"), 201)
    other_type = ok(report(district, edge["here"], title="路口垃圾"), 201)  # 暴露垃圾: not a duplicate

    # The street operator sees all three: the other two, nearest first (across is 10 m, near 20 m away).
    found = tickets_of(client_for("street_operator").get(f"/api/events/{first['ticket']}/duplicates"))
    assert near["ticket"] in found and across["ticket"] in found
    assert found.index(across["ticket"]) < found.index(near["ticket"])
    assert other_type["ticket"] not in found and first["ticket"] not in found
    listed = ok(client_for("street_operator").get(f"/api/events/{first['ticket']}/duplicates"))
    assert all(e["subtype_code"] == BANNER and e["state"] == "reported" for e in listed)

    # The community workstation: the one across its edge lies outside its scope and is not listed.
    community = client_for("community_staff")
    found = tickets_of(community.get(f"/api/events/{first['ticket']}/duplicates"))
    assert near["ticket"] in found and across["ticket"] not in found
    refused = community.get(f"/api/events/{across['ticket']}/duplicates")
    assert refused.status_code == 403
    assert client_for("contractor").get(f"/api/events/{first['ticket']}/duplicates").status_code == 403
    assert district.get("/api/events/NS000000ZZZZZZ/duplicates").status_code == 404
    # A duplicate is one both ways.
    assert first["ticket"] in tickets_of(community.get(f"/api/events/{near['ticket']}/duplicates"))


def test_the_desk_merges_a_duplicate_within_its_scope_on_the_version_it_read(
    client_for: Client, edge: dict[str, Any], engine: Engine
) -> None:
    district, community = client_for("district_operator"), client_for("community_staff")
    duplicate = ok(report(district, edge["here"], subtype_code=BANNER, title="重复上报的横幅"), 201)
    target = ok(report(district, edge["near"], subtype_code=BANNER, title="先报的横幅"), 201)
    outside = ok(report(district, edge["across"], subtype_code=BANNER, title="社区外的横幅"), 201)

    def merge(
        client: TestClient, event: dict[str, Any], into: dict[str, Any], version: int | None = None
    ) -> Any:
        body = {"into": into["ticket"], "version": event["version"] if version is None else version}
        return client.post(f"/api/events/{event['ticket']}/merge", json=body)

    no_desk = merge(client_for("grid_worker"), duplicate, target)
    assert no_desk.status_code == 403 and "events.desk" in no_desk.json()["error"]["message"]
    # Both events must lie within the scope: the target outside it, or the duplicate outside it.
    assert merge(community, duplicate, outside).status_code == 403
    assert merge(community, outside, duplicate).status_code == 403
    unknown = community.post(
        f"/api/events/{duplicate['ticket']}/merge", json={"into": "NS000000ZZZZZZ", "version": 1}
    )
    assert unknown.status_code == 404
    stale = merge(community, duplicate, target, version=duplicate["version"] + 5)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    assert merge(community, duplicate, duplicate).status_code == 422
    assert community.post(f"/api/events/{duplicate['ticket']}/merge", json={"into": "x"}).status_code == 422
    garbage = ok(report(district, edge["near"], title="不同类型"), 201)
    mixed = merge(community, garbage, target)
    assert mixed.status_code == 422 and "same type" in mixed.json()["error"]["message"]

    merged = ok(merge(community, duplicate, target))
    assert merged["state"] == "cancelled" and merged["version"] == duplicate["version"] + 1
    last = merged["timeline"][-1]
    assert (last["action"], last["from_state"], last["to_state"]) == ("cancel", "reported", "cancelled")
    assert target["ticket"] in last["note"] and last["actor_name"]
    with session_factory(engine)() as session:
        stored = service.get_event(session, duplicate["ticket"], scope=WHOLE_DISTRICT)
        assert stored.duplicate_of_id == target["id"]
    # The event it repeats is untouched, and no longer lists the merged one as a likely duplicate.
    kept = ok(community.get(f"/api/events/{target['ticket']}"))
    assert kept["state"] == "reported" and kept["version"] == target["version"]
    assert duplicate["ticket"] not in tickets_of(community.get(f"/api/events/{target['ticket']}/duplicates"))
    # Merged once: a second merge is an illegal transition (a cancelled event cannot be cancelled).
    again = merge(community, merged, target)
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
