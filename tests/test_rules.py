"""Detection rules (issue 6, collect → verify): the tasks each rule creates match what the data says
(computed here independently, in Python, over the test registry), a second run creates nothing, a rule
switched off creates nothing, and each task carries its evidence (source, batch, row), due date and area.

Runs on both backends over the shared ``registry_world`` database. Tests that need a situation the small
demo world does not hold (a business in a flat, a crowded rental in the demo grid) make it on their own
records, so they do not depend on each other's order.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gridgov.address.models import StdAddress
from gridgov.core import crypto
from gridgov.core.clock import now as clock_now
from gridgov.core.db import session_factory
from gridgov.demo.accounts import DemoAccount
from gridgov.registry.models import LegalEntity, Person, Rental, RentalTenant
from gridgov.rules import service as rules
from gridgov.tasks import service as tasks
from gridgov.tasks.models import Task

RESIDENTIAL_USES = {"owner-occupied", "owner_occupied", "rented", "vacant"}


@pytest.fixture
def db(engine: Engine, registry_world: dict[str, Any]) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session
        session.rollback()


def _targets(session: Session, rule: str) -> set[int]:
    return set(session.scalars(select(Task.target_id).where(Task.rule == rule)))


def _current(rental: Rental, today: date) -> bool:
    return rental.end_date is None or rental.end_date >= today


def expected_targets(session: Session) -> dict[str, set[int]]:
    """What each rule should find, computed row by row in Python (the test registry is small)."""
    today = clock_now().date()
    people = [p for p in session.scalars(select(Person)) if p.status == "resident"]
    rentals = [r for r in session.scalars(select(Rental)) if _current(r, today)]
    tenants = list(session.scalars(select(RentalTenant)))
    by_dwelling: dict[str, list[Rental]] = {}
    for rental in rentals:
        if rental.dwelling_code:
            by_dwelling.setdefault(rental.dwelling_code, []).append(rental)
    tenant_keys = {(t.rental_id, t.person_id) for t in tenants} | {(t.rental_id, t.id_hash) for t in tenants}
    new_occupant = set()
    for person in people:
        here = by_dwelling.get(person.dwelling_code or "", [])
        if not here:
            continue
        is_tenant = any(
            (r.id, person.id) in tenant_keys or (r.id, person.id_hash) in tenant_keys for r in here
        )
        landlord_only = all(r.landlord_id_hash == person.id_hash for r in here)
        if not is_tenant and not landlord_only:
            new_occupant.add(person.id)
    living = Counter(p.dwelling_code for p in people if p.dwelling_code)
    over = {
        r.id
        for r in rentals
        if r.declared_occupants is not None and living[r.dwelling_code] > r.declared_occupants
    }
    places = {a.code: a for a in session.scalars(select(StdAddress))}
    by_id = {a.id: a for a in places.values()}
    residential, unplaced = set(), set()
    for entity in session.scalars(select(LegalEntity).where(LegalEntity.status == "active")):
        if entity.operating_address_code is None:
            unplaced.add(entity.id)
            continue
        place = places.get(entity.operating_address_code)
        if place is None:
            continue
        parent = by_id.get(place.parent_id) if place.parent_id else None
        if (
            (place.level == "dwelling" and place.use in RESIDENTIAL_USES)
            or (place.level == "building" and place.use == "residential")
            or (place.level == "dwelling" and place.use is None and parent and parent.use == "residential")
        ):
            residential.add(entity.id)
    return {
        "new_occupant": new_occupant,
        "over_occupancy": over,
        "entity_residential": residential,
        "entity_unplaced": unplaced,
        "address_review": {
            p.id
            for p in people
            if p.dwelling_code and p.address_score is not None and 0.5 <= p.address_score < 0.8
        },
        "invalid_id": {p.id for p in people if not p.id_valid},
    }


def _grid_person(session: Session, grid: str) -> Person:
    person = session.scalars(
        select(Person).where(Person.grid_code == grid, Person.status == "resident").order_by(Person.id)
    ).first()
    assert person is not None, f"no resident in grid {grid}"
    return person


def _new_person(session: Session, like: Person, **values: Any) -> Person:
    """A resident of our own, next to ``like`` (same dwelling and areas)."""
    number = uuid.uuid4().hex
    person = Person(
        id_hash=crypto.lookup_hash(number, "resident_id"),
        id_number_enc=crypto.encrypt(number[:18], "reg_person.id_number"),
        id_valid=True,
        name="测试住户",
        household_type="floating",
        dwelling_code=like.dwelling_code,
        address_text=like.address_text,
        address_score=0.95,
        street_code=like.street_code,
        community_code=like.community_code,
        grid_code=like.grid_code,
        lineage={"name": "b1:r2"},
        updated_at=clock_now(),
        status="resident",
        version=1,
    )
    for name, value in values.items():
        setattr(person, name, value)
    session.add(person)
    session.flush()
    return person


def test_rules_create_the_tasks_the_data_implies(db: Session) -> None:
    before = db.scalar(select(func.max(Task.id))) or 0
    created = rules.run_rules(db)
    assert set(created) == set(rules.load_rules())  # merge_in_doubt: from the identity review queue
    expected = expected_targets(db)
    assert sum(len(ids) for ids in expected.values()) > 0  # the demo world's planted problems show
    assert expected["invalid_id"] and expected["address_review"]
    for rule, ids in expected.items():
        # Every record the data flags has a task of the rule (made now, or by an earlier run) ...
        assert ids <= _targets(db, rule), rule
        # ... and every task made now is about a record the data flags.
        made = set(db.scalars(select(Task.target_id).where(Task.rule == rule, Task.id > before)))
        assert made <= ids, rule
        assert created[rule] == len(made), rule
    db.commit()


def test_a_second_run_creates_nothing(db: Session) -> None:
    rules.run_rules(db)
    db.commit()
    assert rules.run_rules(db) == dict.fromkeys(rules.run_rules(db), 0)


def test_each_task_says_what_to_check_on_what_evidence_by_when_and_where(db: Session) -> None:
    rules.run_rules(db)
    task = db.scalars(select(Task).where(Task.rule == "invalid_id").order_by(Task.id)).first()
    assert task is not None
    person = db.get_one(Person, task.target_id)
    assert task.target_kind == "person" and task.kind == "verify"
    assert task.title == "证件号码待核实" and "未通过校验" in task.what_to_check
    assert (task.street_code, task.community_code, task.grid_code) == (
        person.street_code,
        person.community_code,
        person.grid_code,
    )
    fact = task.evidence["facts"][0]
    # Which source, batch and row said it (the lineage of the ID field) — never the number itself.
    assert fact["source"] == "population.self_declared" and fact["source_title"]
    assert person.lineage["id_number_enc"] == f"b{fact['batch']}:r{fact['row']}"
    assert crypto.decrypt(person.id_number_enc or "", "reg_person.id_number") not in str(task.evidence)
    # Due on the working-day calendar: 10 working days for this rule, at least two weeks ahead.
    assert task.due_at - task.created_at >= timedelta(days=13)
    assert tasks.due_after(10, start=task.created_at) == task.due_at
    db.rollback()


def test_a_rule_switched_off_creates_nothing_until_switched_on(
    db: Session, demo_accounts: dict[str, DemoAccount]
) -> None:
    grid = sorted(demo_accounts["grid_worker"].scope["codes"])[0]  # type: ignore[index]
    # The registry's own invalid IDs get their tasks first (whether another test ran the rule before this
    # one or not), so the count below is this test's person alone.
    rules.run_rules(db, rules=["invalid_id"])
    person = _new_person(db, _grid_person(db, grid), id_valid=False)
    tasks.switch_rule(db, "invalid_id", enabled=False, by="tests")
    try:
        assert rules.enabled_rules(db)["invalid_id"] is False
        assert rules.run_rules(db, rules=["invalid_id"]) == {"invalid_id": 0}
        assert person.id not in _targets(db, "invalid_id")
        assert any(r["rule"] == "invalid_id" and not r["enabled"] for r in rules.catalogue(db))
    finally:
        tasks.switch_rule(db, "invalid_id", enabled=True, by="tests")
    assert rules.run_rules(db, rules=["invalid_id"]) == {"invalid_id": 1}
    task = db.scalars(select(Task).where(Task.rule == "invalid_id", Task.target_id == person.id)).one()
    assert task.grid_code == grid
    db.rollback()


def test_a_business_in_a_flat_and_one_outside_the_library(db: Session) -> None:
    flat = db.scalars(
        select(StdAddress)
        .where(StdAddress.level == "dwelling", StdAddress.use == "rented")
        .order_by(StdAddress.id)
    ).first()
    assert flat is not None
    # Two entities nobody has asked about yet (other tests' imports run the rules after their batches).
    asked = select(Task.target_id).where(Task.target_kind == "entity")
    at_home, nowhere = db.scalars(
        select(LegalEntity)
        .where(LegalEntity.status == "active", LegalEntity.id.not_in(asked))
        .order_by(LegalEntity.id)
        .limit(2)
    ).all()
    at_home.operating_address_code = flat.code
    at_home.grid_code = flat.grid_code
    nowhere.operating_address_code = None
    nowhere.operating_address_text = "某某市不存在路999号"
    db.flush()
    created = rules.run_rules(db, rules=["entity_residential", "entity_unplaced"])
    assert created["entity_residential"] >= 1 and created["entity_unplaced"] >= 1
    task = db.scalars(
        select(Task).where(Task.rule == "entity_residential", Task.target_id == at_home.id)
    ).one()
    assert task.target_kind == "entity" and task.grid_code == flat.grid_code
    assert {"said": "address_use", "level": "dwelling", "use": "rented"}.items() <= task.evidence["facts"][
        1
    ].items()
    lost = db.scalars(select(Task).where(Task.rule == "entity_unplaced", Task.target_id == nowhere.id)).one()
    assert "某某市不存在路999号" in lost.what_to_check
    db.rollback()


def test_a_crowded_rental_and_a_new_face_in_the_demo_grid(
    db: Session, demo_accounts: dict[str, DemoAccount]
) -> None:
    grid = sorted(demo_accounts["grid_worker"].scope["codes"])[0]  # type: ignore[index]
    neighbour = _grid_person(db, grid)
    rental = Rental(
        identity_key=uuid.uuid4().hex,
        dwelling_code=neighbour.dwelling_code,
        address_text=neighbour.address_text or "",
        landlord_name="测试房东",
        start_date=date(2024, 1, 1),
        declared_occupants=1,
        street_code=neighbour.street_code,
        community_code=neighbour.community_code,
        grid_code=neighbour.grid_code,
        lineage={"declared_occupants": "b2:r5"},
        updated_at=clock_now(),
    )
    db.add(rental)
    db.flush()
    db.add(RentalTenant(rental_id=rental.id, id_hash=neighbour.id_hash or "", person_id=neighbour.id))
    newcomer = _new_person(db, neighbour)
    residents = db.scalar(
        select(func.count()).where(
            Person.dwelling_code == neighbour.dwelling_code, Person.status == "resident"
        )
    )
    created = rules.run_rules(db, rules=["new_occupant", "over_occupancy"])
    crowded = db.scalars(select(Task).where(Task.rule == "over_occupancy", Task.target_id == rental.id)).one()
    assert crowded.target_kind == "rental" and crowded.grid_code == grid
    assert f"{residents} 人" in crowded.what_to_check and "申报的 1 人" in crowded.what_to_check
    # The newcomer is asked about; the tenant named on the registration is not.
    asked = _targets(db, "new_occupant")
    assert newcomer.id in asked and neighbour.id not in asked
    assert created["new_occupant"] >= 1
    db.rollback()


def test_create_tasks_deduplicates_and_does_not_ask_the_same_facts_twice(db: Session) -> None:
    person = db.scalars(select(Person).order_by(Person.id.desc())).first()
    assert person is not None
    rule = f"test_{uuid.uuid4().hex[:8]}"

    def new(key: str) -> tasks.NewTask:
        return tasks.NewTask(
            rule=rule,
            target_kind="person",
            target_id=person.id,
            title="测试",
            what_to_check="测试",
            evidence={},
            grid_code=person.grid_code,
            dedupe_key=key,
        )

    assert len(tasks.create_tasks(db, [new("a"), new("a")])) == 1
    assert tasks.create_tasks(db, [new("b")]) == []  # one open task per rule + target
    task = db.scalars(select(Task).where(Task.rule == rule)).one()
    task.state, task.open_slot = "done", None
    db.flush()
    assert tasks.create_tasks(db, [new("a")]) == []  # the same facts, answered already
    assert len(tasks.create_tasks(db, [new("b")])) == 1  # new facts
    db.rollback()


def test_a_merge_in_doubt_from_the_review_queue_becomes_a_task(db: Session) -> None:
    one, other = db.scalars(
        select(Person).where(Person.grid_code.is_not(None)).order_by(Person.id).limit(2)
    ).all()
    merge = rules.DoubtfulMerge(
        person_id=one.id, other_person_id=other.id, reason="姓名相同、出生日期相同", evidence={"score": 0.7}
    )
    assert rules.ask_about_merges(db, [merge]) == 1
    assert rules.ask_about_merges(db, [merge]) == 0
    task = db.scalars(select(Task).where(Task.rule == "merge_in_doubt", Task.target_id == one.id)).one()
    assert task.grid_code == one.grid_code and "姓名相同" in task.what_to_check
    assert task.evidence["other_person_id"] == other.id
    db.rollback()


def test_unknown_rules_are_refused(db: Session) -> None:
    from gridgov.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="no_such_rule"):
        rules.run_rules(db, rules=["no_such_rule"])


def test_a_run_for_one_batch_looks_only_at_the_records_it_touched(
    db: Session, registry_world: dict[str, Any], demo_accounts: dict[str, DemoAccount]
) -> None:
    population = int(registry_world["population.self_declared"]["batch"])  # type: ignore[index]
    rentals = int(registry_world["housing.rentals"]["batch"])  # type: ignore[index]
    grid = sorted(demo_accounts["grid_worker"].scope["codes"])[0]  # type: ignore[index]
    person = _new_person(db, _grid_person(db, grid), id_valid=False, seen_batch_id=population)
    assert rules.run_rules(db, rules=["invalid_id"], batch_id=rentals) == {"invalid_id": 0}
    assert person.id not in _targets(db, "invalid_id")
    assert rules.run_rules(db, rules=["invalid_id"], batch_id=population)["invalid_id"] >= 1
    task = db.scalars(select(Task).where(Task.rule == "invalid_id", Task.target_id == person.id)).one()
    assert task.batch_id == population
    db.rollback()
