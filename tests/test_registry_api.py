"""The registry API as every demo role, on the shared registry_world (SQLite and PostgreSQL): scope (records
outside answer 403/404, lists hold nothing outside), masking (no full ID, phone or name in any answer unless
revealed), care tags (invisible without registry.care), reveal (audited) and statistics against the tables."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gridgov.accounts.permissions import Permission, Role, permissions_of
from gridgov.address.models import StdAddress
from gridgov.areas.scope import AreaScope
from gridgov.audit.models import AuditLog
from gridgov.core import crypto
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from gridgov.registry import service
from gridgov.registry.models import LegalEntity, Person, Rental
from gridgov.tasks.models import Task

COMMUNITY = "440305007003"
STREET = "440305007000"
ROLES = [r.value for r in Role]
pytestmark = pytest.mark.usefixtures("registry_world")


def scope_of(account: DemoAccount) -> AreaScope:
    return AreaScope.of(str(account.scope["level"]), [str(c) for c in account.scope["codes"]])  # type: ignore[union-attr]


def can(role: str, permission: Permission) -> bool:
    return permission in permissions_of(Role(role))


class Records:
    """Records inside and outside a scope, read from the test database."""

    def __init__(self, session: Session, scope: AreaScope) -> None:
        def pick(model: Any, inside: bool) -> Any:
            rows = session.scalars(select(model).where(model.grid_code.is_not(None)).order_by(model.id))
            return next((r for r in rows if scope.covers(r.grid_code) == inside), None)

        self.person_in, self.person_out = pick(Person, True), pick(Person, False)
        self.rental_in, self.rental_out = pick(Rental, True), pick(Rental, False)
        self.entity_in, self.entity_out = pick(LegalEntity, True), pick(LegalEntity, False)

        def address(level: str, inside: bool) -> StdAddress | None:
            where = scope.clause(StdAddress.grid_code)
            return session.scalars(
                select(StdAddress)
                .where(
                    StdAddress.level == level, StdAddress.grid_code.is_not(None), where if inside else ~where
                )
                .order_by(StdAddress.code)
            ).first()

        self.building_in, self.building_out = address("building", True), address("building", False)
        self.dwelling_in, self.dwelling_out = address("dwelling", True), address("dwelling", False)

    def paths(self) -> tuple[list[str], list[str]]:
        """(paths of records inside the scope, paths of records outside it)."""
        inside, outside = [], []
        for kind, in_row, out_row, key in (
            ("people", self.person_in, self.person_out, "id"),
            ("rentals", self.rental_in, self.rental_out, "id"),
            ("entities", self.entity_in, self.entity_out, "id"),
            ("buildings", self.building_in, self.building_out, "code"),
            ("dwellings", self.dwelling_in, self.dwelling_out, "code"),
        ):
            if in_row is not None:
                inside.append(f"/api/registry/{kind}/{getattr(in_row, key)}")
            if out_row is not None:
                outside.append(f"/api/registry/{kind}/{getattr(out_row, key)}")
        return inside, outside


@pytest.fixture
def records_for(engine: Engine, demo_accounts: dict[str, DemoAccount]) -> Callable[[str], Records]:
    def make(role: str) -> Records:
        with session_factory(engine)() as session:
            return Records(session, scope_of(demo_accounts[role]))

    return make


def secrets_of(engine: Engine, person_ids: list[int]) -> list[str]:
    """The clear names (2+ characters), ID numbers and phones of the given people."""
    out: list[str] = []
    with session_factory(engine)() as session:
        for person in session.scalars(select(Person).where(Person.id.in_(person_ids))):
            if len(person.name) >= 2:
                out.append(person.name)
            for token, context in (
                (person.id_number_enc, service.ID_CONTEXT),
                (person.phone_enc, service.PHONE_CONTEXT),
            ):
                if token:
                    out.append(crypto.decrypt(token, context))
    return out


@pytest.mark.parametrize("role", ROLES)
def test_every_registry_route_keeps_to_the_callers_scope(
    role: str,
    client_for: Callable[[str], TestClient],
    records_for: Callable[[str], Records],
    demo_accounts: dict[str, DemoAccount],
) -> None:
    client = client_for(role)
    scope = scope_of(demo_accounts[role])
    records = records_for(role)
    inside, outside = records.paths()
    reads = can(role, Permission.registry_read)
    for path in [*outside, "/api/registry/people/999999999", "/api/registry/buildings/99999999999999999999"]:
        response = client.get(path)
        assert response.status_code in (403, 404), f"{role} reached {path}"
    for path in inside:
        response = client.get(path)
        assert response.status_code == (200 if reads else 403), f"{role} {path}: {response.text[:200]}"
        if reads:
            assert all(scope.covers(c) for c in _grid_codes(response.json())), f"{role} {path} lists outside"
    if records.person_out is not None:
        name = records.person_out.name
        response = client.post("/api/registry/search", json={"q": name, "kind": "person", "limit": 50})
        assert response.status_code == (200 if reads else 403)
        if reads:
            assert all(scope.covers(r["grid_code"]) for r in response.json()["results"])
    response = client.get("/api/registry/search", params={"q": "南山区", "limit": 50})
    assert response.status_code == (200 if reads else 403)
    if reads:
        found = response.json()["results"]
        assert all(scope.covers(r["grid_code"] or r["community_code"]) for r in found)
        if records.building_in is not None:
            assert found, f"{role} finds no address in its own scope"
    # 福田 and 南头街道: outside every demo scope but the district's.
    for area in ("440304000000", "440305001000"):
        response = client.get("/api/registry/stats", params={"area": area})
        expected = (200,) if reads and scope.covers(area) else (403, 404)
        assert response.status_code in expected, f"{role} stats for {area}"


def _grid_codes(value: Any) -> list[str]:
    text = json.dumps(value)
    return re.findall(r'"grid_code": "(\d{15})"', text)


def test_the_grid_worker_sees_only_her_grids(
    client_for: Callable[[str], TestClient],
    records_for: Callable[[str], Records],
    demo_accounts: dict[str, DemoAccount],
) -> None:
    client = client_for("grid_worker")
    scope = scope_of(demo_accounts["grid_worker"])
    records = records_for("grid_worker")
    assert records.person_in is not None and records.person_out is not None
    # Her community's neighbour grid: same community, still outside her grids.
    assert client.get(f"/api/registry/people/{records.person_out.id}").status_code == 403
    found = client.post("/api/registry/search", json={"q": records.person_in.name, "kind": "person"}).json()
    assert str(records.person_in.id) in [r["key"] for r in found["results"]]
    stats = client.get("/api/registry/stats").json()
    assert {c["code"] for c in stats["children"]} == set(scope.codes)
    assert client.get("/api/registry/stats", params={"area": COMMUNITY}).status_code == 403


def test_no_answer_carries_a_full_id_phone_or_name(
    engine: Engine, client_for: Callable[[str], TestClient], records_for: Callable[[str], Records]
) -> None:
    client = client_for("community_staff")
    records = records_for("community_staff")
    assert records.person_in and records.rental_in and records.building_in
    bodies = [
        client.get(f"/api/registry/people/{records.person_in.id}").text,
        client.get(f"/api/registry/rentals/{records.rental_in.id}").text,
        client.get(f"/api/registry/buildings/{records.building_in.code}").text,
        client.get(f"/api/registry/dwellings/{records.person_in.dwelling_code}").text,
        client.post(
            "/api/registry/search", json={"q": records.person_in.name[0], "kind": "person", "limit": 50}
        ).text,
    ]
    ids = {int(i) for body in bodies for i in re.findall(r"/registry/people/(\d+)", body)}
    ids.add(records.person_in.id)
    assert len(ids) > 3
    secrets = secrets_of(engine, sorted(ids))
    assert secrets
    for body in bodies:
        leaked = [s for s in secrets if s in body]
        assert not leaked, f"leaked {len(leaked)} personal values"
    person = client.get(f"/api/registry/people/{records.person_in.id}").json()
    assert re.fullmatch(r"\d{4}\*{10}[\dX]{4}", person["id_number"])


def test_reveal_is_audited_with_its_reason(
    engine: Engine, client_for: Callable[[str], TestClient], records_for: Callable[[str], Records]
) -> None:
    records = records_for("street_operator")
    person = records.person_in
    assert person is not None
    path = f"/api/registry/people/{person.id}/reveal"
    street = client_for("street_operator")
    assert street.post(path, json={"field": "id_number"}).status_code == 422  # no reason
    response = street.post(path, json={"field": "id_number", "reason": "入户核查身份"})
    assert response.status_code == 200
    assert response.json()["value"] == secrets_of(engine, [person.id])[1]
    with session_factory(engine)() as session:
        entry = session.scalars(
            select(AuditLog)
            .where(AuditLog.action == "personal.reveal", AuditLog.object_id == str(person.id))
            .order_by(AuditLog.id.desc())
        ).first()
        assert entry is not None and entry.reason == "入户核查身份" and entry.object_type == "reg_person"
    assert (
        client_for("grid_worker").post(path, json={"field": "phone", "reason": "想看看号码"}).status_code
        == 403
    )
    outside = records_for("community_staff").person_out
    assert outside is not None
    response = client_for("community_staff").post(
        f"/api/registry/people/{outside.id}/reveal", json={"field": "phone", "reason": "越界查看"}
    )
    assert response.status_code in (403, 404)


def test_care_tags_are_invisible_without_registry_care(
    engine: Engine, client_for: Callable[[str], TestClient], records_for: Callable[[str], Records]
) -> None:
    person = records_for("community_staff").person_in
    assert person is not None
    staff = client_for("community_staff")
    tags = f"/api/registry/people/{person.id}/care-tags"
    created = staff.post(tags, json={"category": "severe_mental_disorder", "care_every_days": 14})
    assert created.status_code == 201, created.text
    tag_id = created.json()["id"]
    try:
        assert [t["id"] for t in staff.get(tags).json() if t["active"]] == [tag_id]
        for role in ("auditor", "department_handler", "contractor"):
            client = client_for(role)
            assert client.get(tags).status_code == 403, role
            assert client.post(tags, json={"category": "other", "care_every_days": 30}).status_code == 403
            assert client.post(f"/api/registry/care-tags/{tag_id}/end").status_code == 403
        body = client_for("auditor").get(f"/api/registry/people/{person.id}").text
        assert "severe_mental_disorder" not in body and "care" not in body
        # The write hook audited the new tag.
        with session_factory(engine)() as session:
            assert session.scalar(
                select(func.count()).where(
                    AuditLog.object_type == "reg_care_tag", AuditLog.object_id == str(tag_id)
                )
            )
        # Outside her grids, the grid worker cannot tag or end.
        worker = client_for("grid_worker")
        outside = records_for("grid_worker").person_out
        assert outside is not None
        response = worker.post(
            f"/api/registry/people/{outside.id}/care-tags", json={"category": "other", "care_every_days": 30}
        )
        assert response.status_code == 403
    finally:
        ended = staff.post(f"/api/registry/care-tags/{tag_id}/end")
    assert ended.status_code == 200 and ended.json()["active"] is False
    assert staff.post(f"/api/registry/care-tags/{tag_id}/end").status_code == 422


def test_street_statistics_equal_counts_from_the_tables(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    stats = client_for("street_operator").get("/api/registry/stats").json()
    assert stats["area"]["code"] == STREET
    with session_factory(engine)() as session:
        people = dict(
            session.execute(
                select(Person.community_code, func.count())
                .where(Person.street_code == STREET)
                .group_by(Person.community_code)
            ).all()
        )
        rentals = session.scalar(select(func.count()).select_from(Rental).where(Rental.street_code == STREET))
        tasks = dict(
            session.execute(
                select(Task.community_code, func.count())
                .where(Task.street_code == STREET, Task.state == "open")
                .group_by(Task.community_code)
            ).all()
        )
    assert stats["area"]["metrics"]["people"] == sum(people.values())
    assert stats["area"]["metrics"]["rentals"] == rentals
    assert stats["area"]["tasks_open"] == sum(tasks.values())
    children = {c["code"]: c for c in stats["children"]}
    assert COMMUNITY in children and all(c["level"] == "community" for c in stats["children"])
    for code, count in people.items():
        assert children[code]["metrics"]["people"] == count
        assert children[code]["tasks_open"] == tasks.get(code, 0)
    assert "people" in stats["metrics"] and "rentals" in stats["metrics"]
    assert client_for("street_operator").get("/api/registry/stats", params={"area": "12"}).status_code == 422


def test_search_validates_its_input(client_for: Callable[[str], TestClient]) -> None:
    client = client_for("district_operator")
    assert client.get("/api/registry/search", params={"q": ""}).status_code == 422
    assert client.get("/api/registry/search", params={"q": "x", "kind": "phone"}).status_code == 422
    assert client.get("/api/registry/search", params={"q": "x", "limit": 500}).status_code == 422
    assert client.get("/api/registry/search", params={"q": "   "}).status_code == 422
    # People are searched by POST only, so names and ID numbers stay out of URLs and logs.
    response = client.get("/api/registry/search", params={"q": "张三", "kind": "person"})
    assert response.status_code == 422 and "POST" in response.json()["error"]["message"]
    assert client.post("/api/registry/search", json={"q": "张", "kind": "person"}).status_code == 200
    assert client.post("/api/registry/search", json={"q": "张", "kind": "person", "x": 1}).status_code == 422
