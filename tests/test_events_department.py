"""What a department handler reads: the events dispatched or whistled to its unit, plus the public
urban-management classes in its area — not every event of its (district) scope. Expectations by hand."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from gridgov.events import service
from gridgov.events.service import Actor, NewEvent

INSIDE = (113.9248, 22.530853)  # 南山社区, 南山街道: inside the district
URBAN, LABOUR_DISPUTE = "0104", "0703"  # 垃圾满溢 (urban management) and 劳资纠纷 (social governance)


@pytest.fixture(scope="module")
def events(engine: Engine) -> dict[str, str]:
    """Four events in the department's (district) area: name → ticket."""
    desk = Actor(name="desk", scope=WHOLE_DISTRICT)
    run = uuid.uuid4().hex[:8]
    tickets: dict[str, str] = {}
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        for name, subtype in (
            ("dispute", LABOUR_DISPUTE),
            ("dispute_whistled", LABOUR_DISPUTE),
            ("dispute_dispatched", LABOUR_DISPUTE),
            ("urban", URBAN),
        ):
            new = NewEvent(
                subtype_code=subtype,
                title=name,
                lon=INSIDE[0],
                lat=INSIDE[1],
                idempotency_key=f"{run}-{name}",
            )
            event, _ = service.submit(session, new, actor=desk)
            if name == "dispute_whistled":
                service.act(session, event, "accept", actor=desk)
                service.blow_whistle(session, event, actor=desk, ground="no_owner", departments=["D-CG"])
            elif name == "dispute_dispatched":
                service.act(session, event, "accept", actor=desk)
                service.act(session, event, "dispatch", actor=desk, unit="D-CG")
            elif name == "dispute":
                service.act(session, event, "accept", actor=desk)
                service.act(session, event, "dispatch", actor=desk, unit="D-RS")  # 人力资源局, not D-CG
            tickets[name] = event.ticket
        session.commit()
    return tickets


def _listed(client: TestClient, subtype: str) -> set[str]:
    response = client.get("/api/events", params={"subtype_code": subtype, "limit": 500})
    assert response.status_code == 200, response.text
    assert len(response.json()) < 500
    return {e["ticket"] for e in response.json()}


def _mapped(client: TestClient) -> set[str]:
    response = client.get("/api/events.geojson", params={"limit": 5000})
    assert response.status_code == 200, response.text
    return {f["properties"]["ticket"] for f in response.json()["features"]}


def test_the_demo_department_is_dcg_with_a_district_scope(demo_accounts: dict[str, DemoAccount]) -> None:
    account = demo_accounts["department_handler"]
    assert account.scope == {"level": "district", "codes": ["440305000000"]}
    assert account.org_unit == "南山区城市管理和综合执法局"  # D-CG


def test_a_department_reads_its_own_events_and_public_ones_only(
    client_for: Callable[[str], TestClient], events: dict[str, str], demo_accounts: dict[str, DemoAccount]
) -> None:
    department = client_for("department_handler")
    # A labour dispute handled by another unit: not there at all (404, not listed, not on the map).
    assert department.get(f"/api/events/{events['dispute']}").status_code == 404
    assert department.get(f"/api/events/{events['dispute']}/duplicates").status_code in (403, 404)
    disputes = _listed(department, LABOUR_DISPUTE)
    assert events["dispute"] not in disputes
    mapped = _mapped(department)
    assert events["dispute"] not in mapped
    # Whistled to it, or dispatched to it: read like any event of its own.
    for name in ("dispute_whistled", "dispute_dispatched"):
        response = department.get(f"/api/events/{events[name]}")
        assert response.status_code == 200, (name, response.text)
        assert response.json()["ticket"] == events[name]
        assert events[name] in disputes and events[name] in mapped
    # A public urban-management event in its area, whoever handles it.
    assert department.get(f"/api/events/{events['urban']}").status_code == 200
    assert events["urban"] in _listed(department, URBAN) and events["urban"] in mapped


def test_a_district_operator_still_reads_every_event_of_its_area(
    client_for: Callable[[str], TestClient], events: dict[str, str]
) -> None:
    operator = client_for("district_operator")
    for name, ticket in events.items():
        assert operator.get(f"/api/events/{ticket}").status_code == 200, name
    assert {events["dispute"], events["dispute_whistled"], events["dispute_dispatched"]} <= _listed(
        operator, LABOUR_DISPUTE
    )
