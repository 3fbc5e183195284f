"""Verification tasks (issue 6, collect → verify): created in bulk with due dates on the working-day
calendar, read through the caller's area scope, answered confirmed / corrected / not found — the answer
writes back to the record with lineage ``t<task id>``, keeps the maintained area counts equal to a recount,
refuses wrong corrected values (naming the field) without changing anything, and refuses a second answer.

Runs on both backends over the shared ``registry_world`` database; every test makes its own tasks (a rule
name of its own) on records it picks by id, so tests do not depend on each other.
"""

from __future__ import annotations

import io
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gridgov.address.models import StdAddress
from gridgov.areas.scope import WHOLE_DISTRICT, AreaScope
from gridgov.core import crypto
from gridgov.core.clock import CHINA_TZ, FrozenClock, use_clock
from gridgov.core.db import session_factory
from gridgov.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from gridgov.core.files import photo_file
from gridgov.demo.accounts import DemoAccount
from gridgov.ingest.service import DISTRICT_CODE, area_counts
from gridgov.registry.models import LegalEntity, Person, RegistryChange, Rental
from gridgov.tasks import service
from gridgov.tasks.models import Task


@pytest.fixture
def db(engine: Engine, registry_world: dict[str, Any]) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session
        session.rollback()


@pytest.fixture(scope="module")
def grid_scope(demo_accounts: dict[str, DemoAccount]) -> AreaScope:
    scope = demo_accounts["grid_worker"].scope
    return AreaScope.of(str(scope["level"]), [str(c) for c in scope["codes"]])  # type: ignore[union-attr]


def worker(scope: AreaScope) -> service.Answerer:
    return service.Answerer(user_id=None, name="测试网格员", scope=scope)


DISTRICT = worker(WHOLE_DISTRICT)


def make_task(db: Session, kind: str, record: Any, *, fields: list[str] | None = None) -> Task:
    """A task of a rule of its own about ``record``, placed where the record is."""
    ids = service.create_tasks(
        db,
        [
            service.NewTask(
                rule=f"test_{uuid.uuid4().hex[:10]}",
                target_kind=kind,
                target_id=record.id,
                title="测试核查",
                what_to_check="测试",
                evidence={"fields": fields or []},
                street_code=record.street_code,
                community_code=record.community_code,
                grid_code=record.grid_code,
            )
        ],
    )
    return db.get_one(Task, ids[0])


def resident_in(db: Session, grid: str | None = None, **where: Any) -> Person:
    query = select(Person).where(Person.status == "resident", Person.grid_code.is_not(None))
    if grid:
        query = query.where(Person.grid_code == grid)
    for name, value in where.items():
        query = query.where(getattr(Person, name) == value)
    # The newest first: tests in other modules start from the oldest records.
    person = db.scalars(query.order_by(Person.id.desc())).first()
    assert person is not None
    return person


def people_recount(db: Session, areas: set[str | None]) -> dict[str, dict[str, int]]:
    """People per area counted from the records: residents only (a person found moved out leaves)."""
    counts: dict[str, Counter[str]] = {a: Counter() for a in areas if a}
    for person in db.scalars(select(Person).where(Person.status == "resident")):
        for area in (DISTRICT_CODE, person.street_code, person.community_code, person.grid_code):
            if area in counts:
                counts[area]["people"] += 1
                if person.household_type in ("registered", "floating"):
                    counts[area][f"people_{person.household_type}"] += 1
                if person.doc_type == "none":
                    counts[area]["people_no_document"] += 1
    return {area: dict(c) for area, c in counts.items()}


def entity_recount(db: Session, areas: set[str | None]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {a: Counter() for a in areas if a}
    for entity in db.scalars(select(LegalEntity).where(LegalEntity.status == "active")):
        for area in (DISTRICT_CODE, entity.street_code, entity.community_code, entity.grid_code):
            if area in counts:
                counts[area]["entities"] += 1
                if entity.three_small_kind:
                    counts[area]["entities_three_small"] += 1
                counts[area][f"entities:{entity.entity_type[:23]}"] += 1  # by type
    return {area: dict(c) for area, c in counts.items()}


def maintained(db: Session, areas: set[str | None], prefix: str) -> dict[str, dict[str, int]]:
    return {
        area: {m: v for m, v in area_counts(db, area).items() if m.startswith(prefix) and v}
        for area in areas
        if area
    }


def places(record: Any) -> set[str | None]:
    return {DISTRICT_CODE, record.street_code, record.community_code, record.grid_code}


def snapshot(record: Any) -> dict[str, Any]:
    return {c.name: getattr(record, c.name) for c in type(record).__table__.columns}


# ---- creating and reading ------------------------------------------------------------------------------


def test_a_task_is_due_after_working_days_from_the_clock(db: Session) -> None:
    person = resident_in(db)
    friday = datetime(2026, 12, 4, 10, 0, tzinfo=CHINA_TZ)
    with use_clock(FrozenClock(friday)):
        task_id = service.create_tasks(
            db,
            [
                service.NewTask(
                    rule="test_due",
                    target_kind="person",
                    target_id=person.id,
                    title="t",
                    what_to_check="t",
                    evidence={},
                    due_days=1,
                )
            ],
        )[0]
    task = db.get_one(Task, task_id)
    # One working day after Friday 10:00 is Monday 10:00 (the weekend does not count).
    assert task.due_at == datetime(2026, 12, 7, 10, 0, tzinfo=CHINA_TZ)
    assert task.created_at == friday
    with use_clock(FrozenClock(datetime(2026, 12, 7, 11, 0, tzinfo=CHINA_TZ))):
        assert service.is_overdue(task)
        assert task.id in {
            t.id for t in service.list_tasks(db, WHOLE_DISTRICT, service.TaskFilter(overdue=True))
        }


def test_a_grid_worker_sees_the_tasks_of_her_grids_only(db: Session, grid_scope: AreaScope) -> None:
    mine = make_task(db, "person", resident_in(db, sorted(grid_scope.codes)[0]))
    elsewhere = make_task(db, "person", resident_in(db, None, community_code="440305003031"))
    listed = service.list_tasks(db, grid_scope, limit=500)
    assert mine.id in {t.id for t in listed}
    assert all(t.grid_code in grid_scope.codes for t in listed)
    assert service.get_task(db, mine.id, grid_scope).id == mine.id
    with pytest.raises(Forbidden):
        service.get_task(db, elsewhere.id, grid_scope)
    with pytest.raises(NotFound):
        service.get_task(db, 999_999_999, grid_scope)
    community = AreaScope.of("community", [mine.community_code or ""])
    assert mine.id in {t.id for t in service.list_tasks(db, community, limit=500)}
    assert service.count_tasks(db, grid_scope, service.TaskFilter(rule=mine.rule)) == 1


# ---- answering: people ----------------------------------------------------------------------------------


def test_confirmed_changes_no_value_and_stamps_the_checked_fields(db: Session, grid_scope: AreaScope) -> None:
    person = resident_in(db, sorted(grid_scope.codes)[0])
    task = make_task(db, "person", person, fields=["dwelling_code", "address_text"])
    before = snapshot(person)
    counts = maintained(db, places(person), "people")
    answered = service.answer_task(db, task.id, by=worker(grid_scope), answer="confirmed", note="  已上门  ")
    assert (answered.state, answered.answer, answered.note, answered.answered_by) == (
        "done",
        "confirmed",
        "已上门",
        "测试网格员",
    )
    assert answered.answered_at is not None and answered.open_slot is None
    after = snapshot(person)
    assert after["lineage"]["dwelling_code"] == after["lineage"]["address_text"] == f"t{task.id}"
    assert {k: v for k, v in after.items() if k not in ("lineage", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("lineage", "updated_at")
    }
    assert maintained(db, places(person), "people") == counts


def test_corrected_values_write_back_with_lineage_and_counts_follow(
    db: Session, grid_scope: AreaScope
) -> None:
    person = resident_in(db, sorted(grid_scope.codes)[0], household_type="floating")
    task = make_task(db, "person", person)
    answered = service.answer_task(
        db,
        task.id,
        by=worker(grid_scope),
        answer="corrected",
        corrected={"phone": "139 1234 5678", "household_type": "户籍", "birth_date": "1990-05-06"},
    )
    assert person.household_type == "registered"
    assert person.birth_date is not None and person.birth_date.isoformat() == "1990-05-06"
    assert person.phone_hash == crypto.lookup_hash("13912345678", "phone")
    assert crypto.decrypt(person.phone_enc or "", "reg_person.phone") == "13912345678"
    for field in ("phone_enc", "household_type", "birth_date"):
        assert person.lineage[field] == f"t{task.id}"
    # The task keeps what changed, masked; the change log names the task and the fields, never values.
    assert answered.corrected == {
        "phone": "139****5678",
        "household_type": "registered",
        "birth_date": "1990-05-06",
    }
    change = db.scalars(
        select(RegistryChange).where(
            RegistryChange.kind == "verified_correction", RegistryChange.record_id == person.id
        )
    ).one()
    assert change.details == {"task": task.id, "fields": ["birth_date", "household_type", "phone"]}
    assert "13912345678" not in str(change.details)
    assert maintained(db, places(person), "people") == people_recount(db, places(person))


def test_a_corrected_address_is_matched_and_moves_the_person(db: Session, grid_scope: AreaScope) -> None:
    person = resident_in(db, sorted(grid_scope.codes)[0])
    target = db.scalars(
        select(StdAddress)
        .where(
            StdAddress.level == "dwelling",
            StdAddress.grid_code.is_not(None),
            StdAddress.grid_code != person.grid_code,
        )
        .order_by(StdAddress.id)
    ).first()
    assert target is not None
    areas = places(person) | {target.street_code, target.community_code, target.grid_code}
    task = make_task(db, "person", person)
    service.answer_task(
        db, task.id, by=worker(grid_scope), answer="corrected", corrected={"address": target.text}
    )
    assert (person.dwelling_code, person.grid_code, person.community_code) == (
        target.code,
        target.grid_code,
        target.community_code,
    )
    assert person.address_text == target.text and person.address_score == 1.0
    assert person.lineage["address_text"] == person.lineage["grid_code"] == f"t{task.id}"
    assert maintained(db, areas, "people") == people_recount(db, areas)
    change = db.scalars(
        select(RegistryChange).where(RegistryChange.details["task"].as_integer() == task.id)
    ).one()
    assert change.details["to_grid"] == target.grid_code


def test_not_found_marks_a_person_moved_out_and_they_leave_the_counts(
    db: Session, grid_scope: AreaScope
) -> None:
    person = resident_in(db, sorted(grid_scope.codes)[-1])
    task = make_task(db, "person", person)
    counts_before = maintained(db, places(person), "people")
    service.answer_task(db, task.id, by=worker(grid_scope), answer="not_found")
    assert person.status == "moved_out" and person.moved_out_on is not None
    assert person.lineage["status"] == f"t{task.id}"
    counts_after = maintained(db, places(person), "people")
    assert (
        counts_after[person.grid_code or ""]["people"] == counts_before[person.grid_code or ""]["people"] - 1
    )
    assert counts_after == people_recount(db, places(person))


@pytest.mark.parametrize(
    ("corrected", "named"),
    [
        ({"phone": "12345"}, "联系电话"),
        ({"birth_date": "2024-02-30"}, "出生日期"),
        ({"birth_date": "2999-01-01"}, "出生日期"),
        ({"household_type": "外星人"}, "户籍类型"),
        ({"id_number": "440305199001011230"}, "证件号码"),
        ({"name": "名" * 65}, "名称/姓名"),
        ({"address": "火星第一大道1号"}, "居住地址"),
        ({"phone": "13912345678", "declared_occupants": "3"}, "declared_occupants"),
    ],
)
def test_wrong_corrected_values_are_refused_and_nothing_changes(
    db: Session, grid_scope: AreaScope, corrected: dict[str, str], named: str
) -> None:
    person = resident_in(db, sorted(grid_scope.codes)[0])
    task = make_task(db, "person", person)
    before = snapshot(person)
    changes = db.scalars(select(RegistryChange.id)).all()
    with pytest.raises(InvalidInput) as refused:
        service.answer_task(db, task.id, by=worker(grid_scope), answer="corrected", corrected=corrected)
    assert named in refused.value.message
    db.refresh(person)
    assert snapshot(person) == before
    assert db.get_one(Task, task.id).state == "open"
    assert db.scalars(select(RegistryChange.id)).all() == changes


def test_answers_that_do_not_fit_are_refused(db: Session, grid_scope: AreaScope) -> None:
    task = make_task(db, "person", resident_in(db, sorted(grid_scope.codes)[0]))
    with pytest.raises(InvalidInput):
        service.answer_task(db, task.id, by=worker(grid_scope), answer="maybe")
    with pytest.raises(InvalidInput):
        service.answer_task(db, task.id, by=worker(grid_scope), answer="corrected", corrected={})
    with pytest.raises(InvalidInput):
        service.answer_task(db, task.id, by=worker(grid_scope), answer="confirmed", corrected={"sex": "男"})
    assert db.get_one(Task, task.id).state == "open"


def test_a_task_is_answered_once_and_only_in_scope(db: Session, grid_scope: AreaScope) -> None:
    elsewhere = make_task(db, "person", resident_in(db, None, community_code="440305003031"))
    with pytest.raises(Forbidden):
        service.answer_task(db, elsewhere.id, by=worker(grid_scope), answer="confirmed")
    task = make_task(db, "person", resident_in(db, sorted(grid_scope.codes)[0]))
    service.answer_task(db, task.id, by=worker(grid_scope), answer="confirmed")
    with pytest.raises(Conflict, match="已经答复"):
        service.answer_task(db, task.id, by=worker(grid_scope), answer="not_found")


def test_a_corrected_id_number_is_checked_and_flags_no_more(db: Session) -> None:
    person = resident_in(db, None, id_valid=False)
    task = make_task(db, "person", person, fields=["id_number_enc"])
    number = "11010519491231002X"
    service.answer_task(db, task.id, by=DISTRICT, answer="corrected", corrected={"id_number": number.lower()})
    assert person.id_valid is True
    assert person.id_hash == crypto.lookup_hash(number, "resident_id")
    assert person.lineage["id_number_enc"] == f"t{task.id}"
    # Another person's number is refused (a merge is not the grid worker's to make here).
    other = make_task(db, "person", resident_in(db, None, id_valid=True))
    with pytest.raises(InvalidInput, match="另一条人口记录"):
        service.answer_task(db, other.id, by=DISTRICT, answer="corrected", corrected={"id_number": number})


# ---- answering: rentals, entities ----------------------------------------------------------------------


def test_rentals_take_a_corrected_occupancy_and_end_when_not_found(db: Session) -> None:
    rental = db.scalars(
        select(Rental).where(Rental.grid_code.is_not(None)).order_by(Rental.id.desc())
    ).first()
    assert rental is not None
    task = make_task(db, "rental", rental, fields=["declared_occupants"])
    with pytest.raises(InvalidInput, match="申报居住人数"):
        service.answer_task(
            db, task.id, by=DISTRICT, answer="corrected", corrected={"declared_occupants": "三"}
        )
    service.answer_task(db, task.id, by=DISTRICT, answer="corrected", corrected={"declared_occupants": "6"})
    assert rental.declared_occupants == 6 and rental.lineage["declared_occupants"] == f"t{task.id}"
    again = make_task(db, "rental", rental)
    with use_clock(FrozenClock(datetime(2026, 12, 9, 9, 0, tzinfo=CHINA_TZ))):
        service.answer_task(db, again.id, by=DISTRICT, answer="not_found")
    assert rental.end_date is not None and rental.end_date.isoformat() == "2026-12-09"
    assert rental.lineage["end_date"] == f"t{again.id}"


def test_an_entity_not_found_leaves_the_counts_and_a_corrected_status_too(db: Session) -> None:
    first, second = db.scalars(
        select(LegalEntity)
        .where(LegalEntity.status == "active", LegalEntity.grid_code.is_not(None))
        .order_by(LegalEntity.id.desc())
        .limit(2)
    ).all()
    areas = places(first) | places(second)
    task = make_task(db, "entity", first)
    service.answer_task(db, task.id, by=DISTRICT, answer="not_found")
    assert first.status == "moved_out" and first.lineage["status"] == f"t{task.id}"
    other = make_task(db, "entity", second)
    with pytest.raises(InvalidInput, match="状态"):
        service.answer_task(db, other.id, by=DISTRICT, answer="corrected", corrected={"status": "倒闭"})
    service.answer_task(
        db, other.id, by=DISTRICT, answer="corrected", corrected={"status": "注销", "industry": "零售业"}
    )
    assert (second.status, second.industry) == ("deregistered", "零售业")
    assert maintained(db, areas, "entities") == entity_recount(db, areas)


def test_a_photo_is_stripped_of_its_location_and_kept_with_the_answer(
    db: Session, grid_scope: AreaScope
) -> None:
    from PIL import Image

    image = Image.new("RGB", (32, 24), (200, 30, 30))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (22.0, 32.0, 0.0)}  # GPS IFD
    exif[0x010F] = "TestPhone"
    data = io.BytesIO()
    image.save(data, format="JPEG", exif=exif)
    task = make_task(db, "person", resident_in(db, sorted(grid_scope.codes)[0]))
    answered = service.answer_task(
        db, task.id, by=worker(grid_scope), answer="confirmed", photo=data.getvalue()
    )
    assert answered.photo_sha256 and answered.photo_mime == "image/jpeg"
    stored = photo_file(answered.photo_sha256, "image/jpeg").read_bytes()
    with Image.open(io.BytesIO(stored)) as kept:
        assert not kept.getexif()
    refused = make_task(db, "person", resident_in(db, sorted(grid_scope.codes)[0]))
    with pytest.raises(InvalidInput, match="JPEG"):
        service.answer_task(db, refused.id, by=worker(grid_scope), answer="confirmed", photo=b"not a photo")
    assert db.get_one(Task, refused.id).state == "open"


def test_a_dwelling_takes_a_corrected_use_and_unknown_when_not_found(db: Session) -> None:
    from gridgov.core.clock import now as clock_now
    from gridgov.registry.models import Dwelling

    place = db.scalars(
        select(StdAddress).where(StdAddress.level == "dwelling").order_by(StdAddress.id.desc())
    ).first()
    assert place is not None
    dwelling = Dwelling(
        code=f"T{uuid.uuid4().hex[:20]}",
        building_code=None,
        address_text=place.text,
        use="owner_occupied",
        street_code=place.street_code,
        community_code=place.community_code,
        grid_code=place.grid_code,
        lineage={"use": "b9:r1"},
        updated_at=clock_now(),
    )
    db.add(dwelling)
    db.flush()
    task = make_task(db, "dwelling", dwelling)
    with pytest.raises(InvalidInput, match="房屋用途"):
        service.answer_task(db, task.id, by=DISTRICT, answer="corrected", corrected={"use": "城堡"})
    service.answer_task(db, task.id, by=DISTRICT, answer="corrected", corrected={"use": "出租"})
    assert dwelling.use == "rented" and dwelling.lineage["use"] == f"t{task.id}"
    again = make_task(db, "dwelling", dwelling)
    service.answer_task(db, again.id, by=DISTRICT, answer="not_found")
    assert dwelling.use == "unknown" and dwelling.lineage["use"] == f"t{again.id}"
