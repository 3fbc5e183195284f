"""Registry reads (registry.service) on the shared registry_world, on SQLite and PostgreSQL: search, scope,
masking, lineage, buildings and dwellings, care tags and area statistics against counts from the tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from gridgov.accounts.permissions import Permission, Role, permissions_of
from gridgov.accounts.scoping import AreaScope, Principal, ScopeLevel
from gridgov.address.models import StdAddress
from gridgov.core import crypto
from gridgov.core.errors import Forbidden, InvalidInput, NotFound
from gridgov.core.identifiers import mask_name
from gridgov.registry import service
from gridgov.registry.models import AreaCount, CareTag, LegalEntity, Person, Rental, RentalTenant
from gridgov.registry.schemas import CareTagIn
from gridgov.tasks.models import Task

COMMUNITY = "440305007003"  # 科技园社区
STREET = "440305007000"  # 粤海街道
DISTRICT = AreaScope.of(ScopeLevel.district, ["440305000000"])
pytestmark = pytest.mark.usefixtures("registry_world")


def grid_scope(session: Session) -> AreaScope:
    """The grids of the demo grid worker's kind: two grids of the demo community that hold people."""
    grids = session.scalars(
        select(Person.grid_code)
        .where(Person.community_code == COMMUNITY, Person.grid_code.is_not(None))
        .group_by(Person.grid_code)
        .order_by(Person.grid_code)
    ).all()
    assert len(grids) >= 2
    return AreaScope.of(ScopeLevel.grids, [grids[0]])


def principal(role: Role, scope: AreaScope) -> Principal:
    return Principal(
        user_id=1, username=f"test.{role.value}", role=role, scope=scope, permissions=permissions_of(role)
    )


def clear_id(person: Person) -> str:
    assert person.id_number_enc
    return crypto.decrypt(person.id_number_enc, service.ID_CONTEXT)


def a_person(session: Session, *where: object) -> Person:
    person = session.scalars(
        select(Person)
        .where(Person.id_valid.is_(True), Person.phone_enc.is_not(None), *where)
        .order_by(Person.id)
    ).first()
    assert person is not None
    return person


# ---- search ------------------------------------------------------------------------------------------------


def test_search_by_resident_id_finds_exactly_that_person_masked(session: Session) -> None:
    person = a_person(session, Person.community_code == COMMUNITY)
    number = clear_id(person)
    found = service.search(session, number.lower(), scope=DISTRICT, kind="person")
    assert found.mode == "id_number"
    assert [r.key for r in found.results] == [str(person.id)]
    dumped = found.model_dump_json()
    assert number not in dumped and person.name not in dumped
    assert found.results[0].title == mask_name(person.name)
    assert number[:4] + "*" * 10 + number[-4:] in dumped


def test_search_by_mobile_number_finds_the_people_giving_it(session: Session) -> None:
    person = a_person(session, Person.community_code == COMMUNITY)
    phone = crypto.decrypt(person.phone_enc or "", service.PHONE_CONTEXT)
    spaced = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
    found = service.search(
        session, spaced, scope=AreaScope.of(ScopeLevel.community, [COMMUNITY]), kind="person"
    )
    assert found.mode == "phone" and str(person.id) in [r.key for r in found.results]
    assert phone not in found.model_dump_json()
    elsewhere = service.search(
        session, phone, scope=AreaScope.of(ScopeLevel.street, ["440305001000"]), kind="person"
    )
    assert str(person.id) not in [r.key for r in elsewhere.results]
    with pytest.raises(InvalidInput):
        service.search(session, "%%", scope=DISTRICT, kind="person")


def test_search_by_name_lists_exact_names_first_and_masks_them(session: Session) -> None:
    person = a_person(session, Person.community_code == COMMUNITY)
    found = service.search(session, person.name, scope=DISTRICT, kind="person", limit=50)
    assert found.mode == "name"
    assert str(person.id) in [r.key for r in found.results]
    assert all(r.title == mask_name(person.name) for r in found.results[:1])
    assert person.name not in found.model_dump_json() or len(person.name) < 2


def test_search_by_credit_code_and_by_entity_name(session: Session) -> None:
    entity = session.scalars(
        select(LegalEntity).where(
            LegalEntity.community_code == COMMUNITY, LegalEntity.credit_code_valid.is_(True)
        )
    ).first()
    assert entity is not None
    by_code = service.search(session, entity.credit_code.lower(), scope=DISTRICT, kind="entity")
    assert by_code.mode == "credit_code"
    assert [r.key for r in by_code.results] == [str(entity.id)]
    by_name = service.search(session, entity.name[2:8], scope=DISTRICT, kind="entity", limit=50)
    assert str(entity.id) in [r.key for r in by_name.results]


def test_search_by_address_leads_to_buildings_and_dwellings_in_scope(session: Session) -> None:
    scope = AreaScope.of(ScopeLevel.community, [COMMUNITY])
    building = session.scalars(
        select(StdAddress).where(StdAddress.level == "building", StdAddress.community_code == COMMUNITY)
    ).first()
    assert building is not None
    found = service.search(session, building.text, scope=scope, kind="address")
    assert found.results and found.results[0].kind == "building"
    assert found.results[0].link == f"/registry/buildings/{found.results[0].key}"
    assert building.code in [r.key for r in found.results]
    assert all((r.community_code or "") == COMMUNITY for r in found.results)


def test_search_pages_and_limits(session: Session) -> None:
    first = service.search(session, "南山区", scope=DISTRICT, kind="address", limit=5)
    second = service.search(session, "南山区", scope=DISTRICT, kind="address", offset=5, limit=5)
    assert first.has_more and len(first.results) == 5
    assert not {r.key for r in first.results} & {r.key for r in second.results}
    assert (
        service.search(session, "a", scope=DISTRICT, kind="person", limit=10_000).limit
        == service.SEARCH_LIMIT_MAX
    )
    with pytest.raises(InvalidInput):
        service.search(session, "   ", scope=DISTRICT)
    with pytest.raises(InvalidInput):
        service.search(session, "x" * 65, scope=DISTRICT)


def test_a_grid_scope_never_finds_people_or_entities_outside_it(session: Session) -> None:
    scope = grid_scope(session)
    outside = a_person(session, Person.grid_code.is_not(None), ~Person.grid_code.in_(scope.codes))
    assert service.search(session, clear_id(outside), scope=scope, kind="person").results == []
    by_name = service.search(session, outside.name, scope=scope, kind="person", limit=50)
    assert all(r.grid_code in scope.codes for r in by_name.results)
    entity = session.scalars(select(LegalEntity).where(~LegalEntity.grid_code.in_(scope.codes))).first()
    assert entity is not None
    assert service.search(session, entity.credit_code, scope=scope, kind="entity").results == []
    with pytest.raises(Forbidden):
        service.get_person(session, outside.id, scope=scope)
    with pytest.raises(Forbidden):
        service.get_entity(session, entity.id, scope=scope)
    with pytest.raises(NotFound):
        service.get_person(session, 999_999_999, scope=scope)


# ---- records: masking and lineage --------------------------------------------------------------------------


def test_person_view_is_masked_and_every_field_names_its_source(session: Session) -> None:
    person = a_person(session, Person.community_code == COMMUNITY)
    view = service.get_person(session, person.id, scope=DISTRICT, lang="zh-CN")
    number = clear_id(person)
    phone = crypto.decrypt(person.phone_enc or "", service.PHONE_CONTEXT)
    dumped = view.model_dump_json()
    assert number not in dumped and phone not in dumped and person.name not in dumped
    assert view.id_number == number[:4] + "*" * 10 + number[-4:]
    assert view.phone == phone[:3] + "****" + phone[-4:]
    assert view.name == mask_name(person.name)
    batch, row = person.lineage["name"][1:].split(":r")
    fields = {f.name: f for f in view.fields}
    name_lineage = fields["name"].lineage
    assert name_lineage is not None and name_lineage.kind == "batch"
    assert name_lineage.text == f"实有人口自主申报与门禁采集 第{batch}批 第{row}行"
    assert fields["phone"].lineage is not None  # stored as phone_enc: the shown field still knows its source
    english = service.get_person(session, person.id, scope=DISTRICT, lang="en")
    assert {f.name: f for f in english.fields}["name"].lineage.text.endswith(f"batch {batch}, row {row}")  # type: ignore[union-attr]


def test_a_grid_workers_verification_reads_as_such_with_a_link_to_the_task(session: Session) -> None:
    person = a_person(session, Person.community_code == COMMUNITY)
    person.lineage = {**person.lineage, "household_type": "t7"}
    session.flush()
    view = service.get_person(session, person.id, scope=DISTRICT)
    lineage = {f.name: f for f in view.fields}["household_type"].lineage
    assert lineage is not None
    assert (lineage.kind, lineage.text, lineage.link) == ("task", "网格员核查 任务 #7", "/tasks/7")
    assert service.describe_lineage("zz", {}, "zh-CN").kind == "unknown"


def test_rental_view_counts_declared_named_and_counted_people(session: Session) -> None:
    rental = session.scalars(
        select(Rental)
        .where(Rental.community_code == COMMUNITY, Rental.dwelling_code.is_not(None))
        .order_by(Rental.id)
    ).first()
    assert rental is not None
    view = service.get_rental(session, rental.id, scope=DISTRICT)
    named = session.scalar(select(func.count()).where(RentalTenant.rental_id == rental.id))
    counted = session.scalar(
        select(func.count()).where(Person.dwelling_code == rental.dwelling_code, Person.status == "resident")
    )
    assert (view.declared_occupants, view.tenants_named, view.people_counted) == (
        rental.declared_occupants,
        named,
        counted,
    )
    assert view.over_declared == (
        rental.declared_occupants is not None and counted > rental.declared_occupants
    )
    assert view.landlord_name == mask_name(rental.landlord_name)
    assert rental.landlord_name not in view.model_dump_json()
    lineage = {f.name: f for f in view.fields}["declared_occupants"].lineage
    assert lineage is not None and lineage.text.startswith("出租屋登记 第")


def test_entity_view_masks_the_legal_representative(session: Session) -> None:
    entity = session.scalars(
        select(LegalEntity).where(
            LegalEntity.community_code == COMMUNITY, LegalEntity.legal_representative.is_not(None)
        )
    ).first()
    assert entity is not None and entity.legal_representative
    view = service.get_entity(session, entity.id, scope=AreaScope.of(ScopeLevel.community, [COMMUNITY]))
    fields = {f.name: f for f in view.fields}
    assert fields["legal_representative"].value == mask_name(entity.legal_representative)
    assert fields["credit_code"].value == entity.credit_code
    assert fields["entity_name"].lineage is not None
    assert fields["entity_name"].lineage.text.startswith("商事主体登记 第")


def test_building_view_falls_back_to_the_address_library(session: Session) -> None:
    code = session.scalar(
        select(StdAddress.parent_id)
        .join(Person, Person.dwelling_code == StdAddress.code)
        .where(Person.community_code == COMMUNITY)
        .order_by(StdAddress.parent_id)
    )
    building = session.get(StdAddress, code)
    assert building is not None and building.level == "building"
    view = service.get_building(session, building.code, scope=DISTRICT)
    assert view.source == "address_library" and view.address_text == building.text
    lineage = {f.name: f for f in view.fields}["address_text"].lineage
    assert lineage is not None and (lineage.kind, lineage.text) == ("address_library", "标准地址库")
    children = session.scalar(select(func.count()).where(StdAddress.parent_id == building.id))
    assert view.dwellings_total == children
    dwelling_codes = [d.code for d in view.dwellings]
    residents = session.scalar(
        select(func.count()).where(
            Person.dwelling_code.in_([building.code, *dwelling_codes]), Person.status == "resident"
        )
    )
    assert view.residents_total == residents and residents > 0
    assert sum(d.residents for d in view.dwellings) <= residents
    assert all(r.title.count("*") >= 1 for r in view.residents)
    with pytest.raises(NotFound):
        service.get_building(session, dwelling_codes[0], scope=DISTRICT)  # a dwelling is not a building
    dwelling = service.get_dwelling(session, dwelling_codes[0], scope=DISTRICT)
    assert dwelling.building_code == building.code
    with pytest.raises(Forbidden):
        service.get_building(session, building.code, scope=AreaScope.of(ScopeLevel.street, ["440305001000"]))


# ---- reveal and care tags ----------------------------------------------------------------------------------


def test_reveal_needs_the_permission_and_a_reason_and_is_audited(session: Session) -> None:
    from gridgov.audit.service import pending_count

    person = a_person(session, Person.community_code == COMMUNITY)
    community = AreaScope.of(ScopeLevel.community, [COMMUNITY])
    staff = principal(Role.community_staff, community)
    before = pending_count(session)
    assert service.reveal_person(session, staff, person.id, "id_number", "入户核查需要") == clear_id(person)
    assert pending_count(session) == before + 1
    with pytest.raises(InvalidInput):
        service.reveal_person(session, staff, person.id, "phone", "  ")
    with pytest.raises(Forbidden):
        service.reveal_person(session, principal(Role.grid_worker, community), person.id, "phone", "入户核查")
    outside = principal(Role.street_operator, AreaScope.of(ScopeLevel.street, ["440305001000"]))
    with pytest.raises(Forbidden):
        service.reveal_person(session, outside, person.id, "phone", "入户核查需要")


def test_care_tags_need_the_care_permission_and_the_scope(session: Session) -> None:
    person = a_person(session, Person.community_code == COMMUNITY)
    community = AreaScope.of(ScopeLevel.community, [COMMUNITY])
    tag = service.add_care_tag(
        session,
        person.id,
        CareTagIn(category="elderly_alone", care_every_days=7, note="每周走访"),
        scope=community,
        care=True,
        actor="test",
    )
    assert [t.id for t in service.care_tags(session, person.id, scope=community, care=True) if t.active] == [
        tag.id
    ]
    with pytest.raises(InvalidInput):
        service.add_care_tag(
            session,
            person.id,
            CareTagIn(category="elderly_alone", care_every_days=7),
            scope=community,
            care=True,
            actor="t",
        )
    with pytest.raises(Forbidden):
        service.care_tags(session, person.id, scope=community, care=False)
    with pytest.raises(Forbidden):
        service.care_tags(
            session, person.id, scope=AreaScope.of(ScopeLevel.street, ["440305001000"]), care=True
        )
    ended = service.end_care_tag(session, tag.id, scope=community, care=True)
    assert not ended.active and session.get(CareTag, tag.id).active is False  # type: ignore[union-attr]
    # No record view mentions care tags.
    assert "care" not in service.get_person(session, person.id, scope=community).model_dump_json()
    assert Permission.registry_care not in permissions_of(Role.auditor)


# ---- area statistics ---------------------------------------------------------------------------------------


def _people(session: Session, column: object, code: str, *extra: object) -> int:
    return int(session.scalar(select(func.count()).select_from(Person).where(column == code, *extra)) or 0)


def test_community_statistics_equal_counts_from_the_tables(session: Session) -> None:
    now = datetime.now(UTC)
    grids = sorted(
        g
        for g in session.scalars(
            select(Person.grid_code).where(Person.community_code == COMMUNITY).distinct()
        )
        if g
    )
    base = {"kind": "verify", "rule": "test", "target_kind": "person", "title": "t", "what_to_check": "t"}
    session.execute(
        insert(Task),
        [
            {
                **base,
                "target_id": i,
                "street_code": STREET,
                "community_code": COMMUNITY,
                "grid_code": grids[0],
                "due_at": now + timedelta(days=3),
                "state": state,
                "created_at": now,
                "evidence": {},
            }
            for i, state in enumerate(["open", "open", "done"], start=900_000)
        ],
    )
    stats = service.area_stats(session, scope=AreaScope.of(ScopeLevel.street, [STREET]), area=COMMUNITY)
    assert stats.area is not None and stats.area.code == COMMUNITY
    assert stats.area.metrics["people"] == _people(session, Person.community_code, COMMUNITY)
    assert stats.area.metrics["people_floating"] == _people(
        session, Person.community_code, COMMUNITY, Person.household_type == "floating"
    )
    assert stats.area.metrics["rentals"] == session.scalar(
        select(func.count()).select_from(Rental).where(Rental.community_code == COMMUNITY)
    )
    assert stats.area.metrics["entities"] == session.scalar(
        select(func.count())
        .select_from(LegalEntity)
        .where(LegalEntity.community_code == COMMUNITY, LegalEntity.status == "active")
    )
    open_tasks = session.scalar(
        select(func.count()).select_from(Task).where(Task.community_code == COMMUNITY, Task.state == "open")
    )
    assert stats.area.tasks_open == open_tasks and open_tasks >= 2
    by_grid = {c.code: c for c in stats.children}
    assert set(grids) <= set(by_grid) and all(c.level == "grid" for c in stats.children)
    for grid in grids:
        assert by_grid[grid].metrics.get("people", 0) == _people(session, Person.grid_code, grid)
    assert by_grid[grids[0]].tasks_open >= 2
    # Every metric the pipeline keeps is returned, not a closed list (e.g. entities:<type>).
    kept = set(session.scalars(select(AreaCount.metric).where(AreaCount.area_code == COMMUNITY)))
    assert set(stats.metrics) >= kept and any(":" in m for m in kept)
    assert [p.code for p in stats.parents] == [STREET]


def test_statistics_respect_the_scope(session: Session) -> None:
    scope = grid_scope(session)
    with pytest.raises(Forbidden):
        service.area_stats(session, scope=scope, area=COMMUNITY)  # a community is more than her grids
    with pytest.raises(Forbidden):
        service.area_stats(session, scope=AreaScope.of(ScopeLevel.street, [STREET]), area="440305000000")
    mine = service.area_stats(session, scope=scope)
    assert mine.area is not None and mine.area.code in scope.codes
    several = AreaScope.of(ScopeLevel.grids, [*sorted(scope.codes), "440305007003001"])
    overview = service.area_stats(session, scope=several)
    assert overview.area is None and [c.code for c in overview.children] == sorted(several.codes)
    district = service.area_stats(session, scope=DISTRICT)
    assert district.area is not None and len(district.children) == 8
    assert district.area.metrics["people"] == session.scalar(select(func.count()).select_from(Person))
    assert district.parents == []


@pytest.mark.parametrize("model", [Person, Rental, LegalEntity])
def test_the_list_filter_and_the_record_check_agree(session: Session, model: type) -> None:
    """Lists filter with an indexed equality on the scope's level; single records with ``covers``: both
    must keep exactly the same records, for every kind of scope."""
    scopes = [
        grid_scope(session),
        AreaScope.of(ScopeLevel.community, [COMMUNITY]),
        AreaScope.of(ScopeLevel.street, [STREET, "440305001000"]),
        DISTRICT,
        AreaScope.of(ScopeLevel.street, []),
    ]
    rows = session.scalars(select(model)).all()
    for scope in scopes:
        listed = set(session.scalars(select(model.id).where(service._clause(scope, model))))  # type: ignore[attr-defined]
        checked = {
            r.id for r in rows if service.visible(scope, r.grid_code or r.community_code or r.street_code)
        }
        assert listed == checked, scope
        assert listed or not scope.codes
