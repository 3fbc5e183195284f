"""Event intake, workflow effects, deadlines on the working-day calendar, and the whistle (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from gridgov.accounts.models import OrgUnit
from gridgov.address.models import StdAddress
from gridgov.areas.scope import WHOLE_DISTRICT, AreaScope, ScopeLevel
from gridgov.core.clock import CHINA_TZ, FrozenClock, use_clock
from gridgov.core.db import session_factory
from gridgov.core.errors import Conflict, Forbidden, InvalidInput, OutsideDistrict
from gridgov.events import service
from gridgov.events.models import Event, EventCategory, EventStep
from gridgov.events.service import Actor, NewEvent
from gridgov.events.workflow import Action, IllegalTransition, State

# An anchor point inside 南山社区 (440305002007), and Hong Kong.
INSIDE = (113.9248, 22.530853)
HONG_KONG = (114.1694, 22.3193)
DESK = Actor(name="desk", scope=WHOLE_DISTRICT)


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)  # type: ignore[misc]


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        yield session
        session.rollback()


def _hours_subtype(session: Session) -> EventCategory:
    """A subtype limited in working hours (暴露垃圾: 4 working hours)."""
    category = session.scalars(select(EventCategory).where(EventCategory.name == "暴露垃圾")).first()
    assert category is not None and category.limit_unit == "working_hours" and category.limit_value == 4
    return category


def _department(session: Session) -> str:
    code = session.scalars(
        select(OrgUnit.code).where(OrgUnit.kind == "department").order_by(OrgUnit.code)
    ).first()
    assert code is not None
    return code


def _report(session: Session, **kwargs: object) -> Event:
    category = _hours_subtype(session)
    new = NewEvent(subtype_code=category.code, title="小区门口垃圾堆积", lon=INSIDE[0], lat=INSIDE[1])
    for key, value in kwargs.items():
        setattr(new, key, value)
    event, created = service.submit(session, new)
    assert created
    return event


def test_seeds_are_idempotent(db: Session) -> None:
    assert service.seed_categories(db) == 0 and service.seed_org_units(db) == 0
    assert db.scalar(select(func.count()).select_from(EventCategory)) >= 50
    centres = db.scalars(select(OrgUnit).where(OrgUnit.kind == "command_centre")).all()
    assert len([c for c in centres if c.level == "street"]) == 8
    assert len([c for c in centres if c.level == "district"]) == 1


def test_a_point_report_lands_in_its_grid_with_a_ticket_and_a_first_step(db: Session) -> None:
    event = _report(db, reporter_phone="13812345678", reporter_name="王女士")
    assert event.state == "reported" and event.community_code == "440305002007"
    assert event.grid_code is not None and event.grid_code.startswith("440305002007")
    assert event.street_code == "440305002000"
    assert event.ticket.startswith("NS") and len(event.ticket) == 14
    assert event.reporter_phone is not None and "13812345678" not in event.reporter_phone
    [step] = service.timeline(db, event)
    assert (step.action, step.from_state, step.to_state) == ("report", None, "reported")


def test_a_clashing_ticket_code_is_replaced_not_refused(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = _report(db).ticket
    codes = iter([taken, taken, "NS000000FRESH1"])
    monkeypatch.setattr(service, "_new_ticket", lambda _now: next(codes))
    event = _report(db)
    assert event.ticket == "NS000000FRESH1" and event.id is not None
    assert [s.action for s in service.timeline(db, event)] == ["report"]
    codes = iter([taken] * 3)
    with pytest.raises(Conflict):
        _report(db)  # three clashes in a row: refused rather than looping


def test_outside_the_district_unknown_types_and_no_place_are_refused(db: Session) -> None:
    code = _hours_subtype(db).code
    with pytest.raises(OutsideDistrict, match="outside Nanshan"):
        service.submit(db, NewEvent(subtype_code=code, title="x", lon=HONG_KONG[0], lat=HONG_KONG[1]))
    with pytest.raises(InvalidInput, match="Unknown event type"):
        service.submit(db, NewEvent(subtype_code="9999", title="x", lon=INSIDE[0], lat=INSIDE[1]))
    with pytest.raises(InvalidInput, match="Say where it is"):
        service.submit(db, NewEvent(subtype_code=code, title="x"))
    with pytest.raises(InvalidInput, match="title"):
        service.submit(db, NewEvent(subtype_code=code, title="  ", lon=INSIDE[0], lat=INSIDE[1]))


def test_an_address_text_is_placed_through_the_library(db: Session) -> None:
    address = db.scalars(
        select(StdAddress).where(StdAddress.level == "building").order_by(StdAddress.code)
    ).first()
    assert address is not None
    event = _report(db, lon=None, lat=None, address_text=address.text.replace("深圳市南山区", ""))
    assert event.std_address_code == address.code and event.grid_code == address.grid_code


def test_a_retried_submission_never_makes_a_second_event(db: Session) -> None:
    first = _report(db, idempotency_key="phone-42-0001")
    before = db.scalar(select(func.count()).select_from(Event))
    again, created = service.submit(
        db,
        NewEvent(
            subtype_code=first.subtype_code,
            title="小区门口垃圾堆积",
            lon=INSIDE[0],
            lat=INSIDE[1],
            idempotency_key="phone-42-0001",
        ),
    )
    assert not created and again.id == first.id
    assert db.scalar(select(func.count()).select_from(Event)) == before


def test_a_batch_files_each_submission_on_its_own_merits(db: Session) -> None:
    code = _hours_subtype(db).code
    stored = _report(db, idempotency_key="batch-earlier")
    worker = Actor(name="网格员", user_id=None, scope=WHOLE_DISTRICT)

    def new(key: str | None = None, **changes: object) -> NewEvent:
        made = NewEvent(
            subtype_code=code, title="井盖缺失", lon=INSIDE[0], lat=INSIDE[1], idempotency_key=key
        )
        for name, value in changes.items():
            setattr(made, name, value)
        return made

    events_before = db.scalar(select(func.count()).select_from(Event))
    outcomes = service.file_events(
        db,
        [
            (new("batch-a"), worker),
            (new("batch-a"), worker),  # the same key twice in one batch: one event
            (new(subtype_code="9999"), worker),
            (new(lon=HONG_KONG[0], lat=HONG_KONG[1]), worker),
            (new("batch-earlier"), worker),  # filed before this batch
            (new(reporter_phone="13812345678"), worker),
            (new(" "), worker),
        ],
    )
    first, twin, unknown, outside, earlier, with_phone, blank_key = outcomes
    assert isinstance(first, service.Filed) and first.created
    assert isinstance(twin, service.Filed) and not twin.created and twin.event_id == first.event_id
    assert isinstance(unknown, InvalidInput) and "9999" in unknown.message
    assert isinstance(outside, OutsideDistrict)
    assert isinstance(earlier, service.Filed) and not earlier.created and earlier.event_id == stored.id
    assert isinstance(with_phone, service.Filed) and with_phone.created
    assert isinstance(blank_key, InvalidInput) and "idempotency key" in blank_key.message
    assert db.scalar(select(func.count()).select_from(Event)) == (events_before or 0) + 2
    # What the batch answers with is what was stored.
    for filed in (first, with_phone):
        event = db.get(Event, filed.event_id)
        assert event is not None and event.ticket == filed.ticket
        assert {name: getattr(event, name) for name in filed.row} == filed.row
        [step] = service.timeline(db, event)
        assert step.id == filed.first_step["id"] and step.actor_name == "网格员"
    phone_event = db.get(Event, with_phone.event_id)
    assert phone_event is not None and phone_event.reporter_phone_hash
    assert "13812345678" not in (phone_event.reporter_phone or "")


def test_the_loop_with_deadlines_over_the_national_day_holiday(db: Session) -> None:
    # Wed 30 Sep 2026, 16:00: two working hours left that day; 1–7 Oct are holidays; 4 working hours end
    # on Thu 8 Oct at 11:00.
    clock = FrozenClock(cst(2026, 9, 30, 15, 0))
    with use_clock(clock):
        event = _report(db)
        service.act(db, event, Action.accept, actor=DESK, version=1)
        clock.set(cst(2026, 9, 30, 16, 0))
        service.act(db, event, Action.dispatch, actor=DESK, unit=_department(db))
        assert event.due_at == cst(2026, 10, 8, 11, 0)
        assert event.deadline_status == "green"
        clock.set(cst(2026, 10, 8, 10, 30))  # 3.5 of 4 working hours used
        assert service.refresh_deadlines(db) == {"yellow": 1, "red": 0}
        assert event.deadline_status == "yellow"
        clock.set(cst(2026, 10, 8, 11, 1))
        assert service.refresh_deadlines(db) == {"yellow": 0, "red": 1}
        assert event.deadline_status == "red"
        for action in (Action.sign, Action.handle, Action.verify, Action.close):
            service.act(db, event, action, actor=DESK)
        assert event.state == "closed" and event.deadline_status == "none" and event.closed_at is not None
        service.act(db, event, Action.evaluate, actor=DESK, rating=5)
    assert event.rating == 5 and event.state == "evaluated"
    steps = [s.action for s in service.timeline(db, event)]
    assert steps == ["report", "accept", "dispatch", "sign", "handle", "verify", "close", "evaluate"]


def test_a_tiaoxiu_saturday_is_a_working_day(db: Session) -> None:
    # Fri 9 Oct 2026, 17:00: one working hour left; Sat 10 Oct is a working day (调休): due at 12:00.
    with use_clock(FrozenClock(cst(2026, 10, 9, 17, 0))):
        event = _report(db)
        service.act(db, event, Action.accept, actor=DESK)
        service.act(db, event, Action.dispatch, actor=DESK, unit=_department(db))
    assert event.due_at == cst(2026, 10, 10, 12, 0)


def test_stale_versions_illegal_steps_and_scope_are_refused(db: Session) -> None:
    event = _report(db)
    service.act(db, event, Action.accept, actor=DESK, version=1)
    with pytest.raises(Conflict, match="changed meanwhile"):
        service.act(db, event, Action.dispatch, actor=DESK, version=1, unit=_department(db))
    with pytest.raises(IllegalTransition, match="accepted cannot be 'close'"):
        service.act(db, event, Action.close, actor=DESK)
    with pytest.raises(InvalidInput, match="No active handling unit"):
        service.act(db, event, Action.dispatch, actor=DESK, unit="NOPE")
    other_street = Actor(name="蛇口", scope=AreaScope.of(ScopeLevel.street, ["440305005000"]))
    with pytest.raises(Forbidden):
        service.act(db, event, Action.dispatch, actor=other_street, unit=_department(db))
    assert event.state == "accepted" and event.version == 2
    # Nothing was recorded for the refused attempts.
    assert [s.action for s in service.timeline(db, event)] == ["report", "accept"]


def test_return_rework_extension_and_reopen(db: Session) -> None:
    clock = FrozenClock(cst(2026, 11, 2, 9, 0))  # a Monday
    with use_clock(clock):
        event = _report(db)
        unit = _department(db)
        service.act(db, event, Action.accept, actor=DESK)
        service.act(db, event, Action.dispatch, actor=DESK, unit=unit)
        service.act(db, event, Action.return_, actor=DESK, reason="不属于本部门")
        assert event.state == "accepted" and event.handling_unit_code is None and event.due_at is None
        service.act(db, event, Action.dispatch, actor=DESK, unit=unit)
        due = event.due_at
        service.act(db, event, Action.request_extension, actor=DESK, reason="等材料", duration=3)
        with pytest.raises(Conflict, match="already waiting"):
            service.act(db, event, Action.request_extension, actor=DESK, reason="再等", duration=1)
        service.act(db, event, Action.approve_extension, actor=DESK)
        assert event.due_at == due + timedelta(hours=3)  # 13:00 → 16:00 on the same working day
        service.act(db, event, Action.sign, actor=DESK)
        service.act(db, event, Action.handle, actor=DESK)
        service.act(db, event, Action.fail_verification, actor=DESK, reason="现场仍有垃圾")
        assert event.state == "signed" and event.reworks == 1
        for action in (Action.handle, Action.verify, Action.close):
            service.act(db, event, action, actor=DESK)
        clock.advance(days=31)
        with pytest.raises(Conflict, match="within 30 days"):
            service.act(db, event, Action.reopen, actor=DESK, reason="又堆了")
        clock.advance(days=-30)
        service.act(db, event, Action.reopen, actor=DESK, reason="又堆了")
    assert event.state == "accepted" and event.closed_at is None


def test_the_whistle_summons_departments_and_holds_the_close(db: Session) -> None:
    departments = db.scalars(
        select(OrgUnit.code).where(OrgUnit.kind == "department").order_by(OrgUnit.code).limit(2)
    ).all()
    clock = FrozenClock(cst(2026, 11, 5, 10, 0))  # a Thursday
    with use_clock(clock):
        event = _report(db)
        service.act(db, event, Action.accept, actor=DESK)
        service.act(db, event, Action.dispatch, actor=DESK, unit=departments[0])
        with pytest.raises(InvalidInput, match="Whistle ground"):
            service.blow_whistle(db, event, actor=DESK, ground="bored", departments=departments)
        whistle = service.blow_whistle(
            db, event, actor=DESK, ground="many_departments", departments=departments
        )
        summons = {
            s.department_code: s
            for s in db.scalars(
                select(service.WhistleSummons).where(service.WhistleSummons.whistle_id == whistle.id)
            )
        }
        first = summons[departments[0]]
        assert first.sign_due == cst(2026, 11, 5, 11, 0) and first.contact_due == cst(2026, 11, 6, 10, 0)
        assert first.report_due == cst(2026, 11, 10, 10, 0)  # three working days: Fri, Mon, Tue
        clock.set(cst(2026, 11, 5, 11, 30))
        assert service.summons_late(first, clock.now()) == ["sign"]
        with pytest.raises(Conflict, match="must 'whistle_sign' first"):
            service.summons_step(db, event, departments[0], Action.whistle_contact, actor=DESK)
        # A department's handler answers for its own unit only; the desk may act for any unit.
        first_handler = Actor(name="handler", unit_code=departments[0], any_unit=False, scope=WHOLE_DISTRICT)
        second_handler = Actor(name="handler", unit_code=departments[1], any_unit=False, scope=WHOLE_DISTRICT)
        with pytest.raises(Forbidden, match=f"Only {departments[1]} may"):
            service.summons_step(db, event, departments[1], Action.whistle_sign, actor=first_handler)
        service.summons_step(db, event, departments[0], Action.whistle_sign, actor=first_handler)
        service.summons_step(db, event, departments[1], Action.whistle_sign, actor=DESK)
        for code in departments:
            service.summons_step(db, event, code, Action.whistle_contact, actor=DESK)
        service.summons_step(db, event, departments[0], Action.whistle_report, actor=DESK)
        with pytest.raises(Forbidden, match=f"Only {departments[0]} may 'sign'"):
            service.act(db, event, Action.sign, actor=second_handler)
        service.act(db, event, Action.sign, actor=first_handler)
        for action in (Action.handle, Action.verify):
            service.act(db, event, action, actor=DESK)
        with pytest.raises(Conflict, match=f"not reported in: {departments[1]}"):
            service.act(db, event, Action.close, actor=DESK)
        service.summons_step(db, event, departments[1], Action.whistle_report, actor=DESK)
        service.act(db, event, Action.close, actor=DESK)
        service.summons_step(
            db, event, departments[1], Action.whistle_rate, actor=DESK, rating=4, comment="到场及时"
        )
    assert summons[departments[1]].rating == 4 and event.state == "closed"
    kinds = [s.action for s in db.scalars(select(EventStep).where(EventStep.event_id == event.id))]
    assert kinds.count("whistle") == 1 and kinds.count("whistle_report") == 2


def test_a_new_category_version_keeps_old_events_on_their_rules(db: Session) -> None:
    event = _report(db)
    old = _hours_subtype(db)
    new = service.revise_category(db, old.code, limit_value=8)
    assert new.version == old.version + 1 and not old.active
    assert event.category_id == old.id
    later = _report(db)
    assert later.category_id == new.id
    with use_clock(FrozenClock(cst(2026, 11, 2, 9, 0))):
        for item in (event, later):
            service.act(db, item, Action.accept, actor=DESK)
            service.act(db, item, Action.dispatch, actor=DESK, unit=_department(db))
    assert event.due_at == cst(2026, 11, 2, 13, 0) + timedelta(hours=2)  # 4 working hours: 9–12, 14–15
    assert later.due_at == cst(2026, 11, 3, 10, 0)  # 8 working hours: 7 on Monday, 1 on Tuesday
    with pytest.raises(InvalidInput, match="positive"):
        service.revise_category(db, old.code, limit_value=0)


def test_state_is_only_changed_through_the_workflow(db: Session) -> None:
    event = _report(db)
    with pytest.raises(IllegalTransition):
        service.act(db, event, Action.verify, actor=DESK)
    assert State(event.state) is State.reported


def test_the_rules_pick_the_unit_and_escalation_climbs_the_levels(db: Session) -> None:
    street_type = db.scalars(
        select(EventCategory).where(EventCategory.level == "street", EventCategory.active.is_(True))
    ).first()
    assert street_type is not None and "{street}" in street_type.department_code
    event, _ = service.submit(
        db, NewEvent(subtype_code=street_type.code, title="占道经营", lon=INSIDE[0], lat=INSIDE[1])
    )
    unit = service.suggest_unit(db, event)
    assert unit.code == street_type.department_code.format(street="440305002000")
    assert unit.level == "street"
    service.act(db, event, Action.accept, actor=DESK)
    assert service.escalate(db, event, actor=DESK, reason="超出街道职权") == "district"
    assert service.suggest_unit(db, event).code == "C-440305"
    with pytest.raises(Conflict, match="already handled at the district level"):
        service.escalate(db, event, actor=DESK, reason="再升")
    assert service.timeline(db, event)[-1].data == {"from": "street", "to": "district"}
    community_type = db.scalars(
        select(EventCategory).where(EventCategory.level == "community", EventCategory.active.is_(True))
    ).first()
    assert community_type is not None
    small, _ = service.submit(
        db, NewEvent(subtype_code=community_type.code, title="邻里纠纷", lon=INSIDE[0], lat=INSIDE[1])
    )
    assert service.suggest_unit(db, small).code == community_type.department_code.format(
        street="440305002000", community="440305002007"
    )
    service.act(db, small, Action.accept, actor=DESK)
    service.escalate(db, small, actor=DESK, reason="社区无法处理")
    assert service.suggest_unit(db, small).code == "S-440305002000"


def test_duplicates_are_suggested_and_merged(db: Session) -> None:
    first = _report(db)
    near = _report(db, lon=INSIDE[0] + 0.0005, lat=INSIDE[1])  # ~50 m east
    far = _report(db, lon=INSIDE[0] + 0.01, lat=INSIDE[1])  # ~1 km east
    # (Other tests may have filed events at this point and committed them: look at this test's three.)
    ours = {first.id, near.id, far.id}
    assert [e.id for e in service.likely_duplicates(db, near, scope=WHOLE_DISTRICT) if e.id in ours] == [
        first.id
    ]
    assert far.id not in [e.id for e in service.likely_duplicates(db, first, scope=WHOLE_DISTRICT)]
    # The queue's batched lookup answers as the one-by-one lookup does, and both keep to the scope.
    batched = service.likely_duplicates_of(db, [first, near, far], scope=WHOLE_DISTRICT)
    for event in (first, near, far):
        assert batched.get(event.id, []) == service.likely_duplicates(db, event, scope=WHOLE_DISTRICT)
    elsewhere = AreaScope.of(ScopeLevel.street, ["440305009000"])  # 西丽: not where these lie
    assert service.likely_duplicates(db, near, scope=elsewhere) == []
    assert service.likely_duplicates_of(db, [first, near], scope=elsewhere) == {}

    with pytest.raises(Conflict, match="changed meanwhile"):
        service.merge(db, near, into=first, actor=DESK, version=near.version + 1)
    service.merge(db, near, into=first, actor=DESK, version=near.version)
    assert near.state == "cancelled" and near.duplicate_of_id == first.id
    assert first.ticket in (service.timeline(db, near)[-1].note or "")
    # Nothing merges into an event that was itself merged away (or is no longer open).
    again = _report(db, lon=INSIDE[0] + 0.0004, lat=INSIDE[1])
    with pytest.raises(Conflict, match="merge into an event that is still open"):
        service.merge(db, again, into=near, actor=DESK)


def test_whistle_suggestions_from_reworks_overdue_and_hints(db: Session) -> None:
    clock = FrozenClock(cst(2026, 11, 2, 9, 0))
    with use_clock(clock):
        event = _report(db)
        assert service.whistle_suggestions(db, event) == []
        service.act(db, event, Action.accept, actor=DESK)
        service.act(db, event, Action.dispatch, actor=DESK, unit=_department(db))
        service.act(db, event, Action.sign, actor=DESK)
        for _ in range(2):
            service.act(db, event, Action.handle, actor=DESK)
            service.act(db, event, Action.fail_verification, actor=DESK, reason="未处理完")
        clock.advance(days=3)
        reasons = service.whistle_suggestions(db, event)
    assert any("返工 2 次" in r for r in reasons) and any("超期" in r for r in reasons)
    hinted = db.scalars(select(EventCategory).where(EventCategory.whistle_hint.is_(True))).first()
    assert hinted is not None
    other, _ = service.submit(db, NewEvent(subtype_code=hinted.code, title="x", lon=INSIDE[0], lat=INSIDE[1]))
    assert any("多个部门" in r for r in service.whistle_suggestions(db, other))


def test_a_point_near_a_street_boundary_suggests_the_whistle(db: Session) -> None:
    from gridgov.areas.service import area_index

    index = area_index(db)
    home = index.locate(*INSIDE).street
    assert home is not None
    # Walk east in 20 m steps until the street changes, then step back 40 m: within 100 m of the boundary.
    lon = INSIDE[0]
    while (here := index.locate(lon, INSIDE[1]).street) is not None and here.code == home.code:
        lon += 20 / 102_000.0
    near = lon - 40 / 102_000.0
    assert index.locate(near, INSIDE[1]).street.code == home.code  # type: ignore[union-attr]
    event = _report(db, lon=near, lat=INSIDE[1])
    assert any("靠近街道边界" in r for r in service.whistle_suggestions(db, event))
    inland = _report(db)  # the anchor itself is well inside its street
    assert not any("靠近街道边界" in r for r in service.whistle_suggestions(db, inland))


def _jpeg_with_location() -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (40, 30), "red")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMakerX"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (22.0, 31.0, 50.0)
    gps[3] = "E"
    gps[4] = (113.0, 55.0, 29.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_photos_are_checked_stripped_of_location_and_stored_by_content(
    db: Session, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from PIL import Image

    from gridgov.core.settings import get_settings

    monkeypatch.setenv("GRIDGOV_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        event = _report(db)
        original = _jpeg_with_location()
        with Image.open(io.BytesIO(original)) as before:
            assert before.getexif().get_ifd(0x8825)  # the phone's position is in the upload
        photo = service.store_photo(db, event, original)
        stored = service.photo_path(photo).read_bytes()
        with Image.open(io.BytesIO(stored)) as after:
            assert not after.getexif().get_ifd(0x8825) and not after.getexif()
            assert after.size == (40, 30)
        assert b"PhoneMakerX" in original and b"PhoneMakerX" not in stored
        assert photo.mime == "image/jpeg" and photo.size == len(stored)
        again = service.store_photo(db, event, original)
        assert again.sha256 == photo.sha256
        assert len(list(service.photo_dir().rglob("*.jpg"))) == 1
        with pytest.raises(InvalidInput, match="not a photo"):
            service.store_photo(db, event, b"%PDF-1.4 not an image")
        with pytest.raises(InvalidInput, match="larger than 10 MB"):
            service.store_photo(db, event, b"\xff\xd8" + bytes(service.MAX_PHOTO_BYTES))
        gif = io.BytesIO()
        Image.new("RGB", (4, 4)).save(gif, format="GIF")
        with pytest.raises(InvalidInput, match="JPEG, PNG or WebP, not GIF"):
            service.store_photo(db, event, gif.getvalue())
    finally:
        get_settings.cache_clear()


def test_idempotency_keys_belong_to_their_submitter(db: Session) -> None:
    code = _hours_subtype(db).code
    alice = Actor(name="alice", user_id=9001, scope=WHOLE_DISTRICT)
    bob = Actor(name="bob", user_id=9002, scope=WHOLE_DISTRICT)

    def new() -> NewEvent:
        return NewEvent(subtype_code=code, title="井盖", lon=INSIDE[0], lat=INSIDE[1], idempotency_key="k-1")

    first, made = service.submit(db, new(), actor=alice)
    again, made_again = service.submit(db, new(), actor=alice)
    other, made_other = service.submit(db, new(), actor=bob)
    assert made and not made_again and again.id == first.id
    assert made_other and other.id != first.id  # bob's key "k-1" is bob's own


def test_summons_steps_check_scope_and_version(db: Session) -> None:
    event = _report(db)
    service.act(db, event, Action.accept, actor=DESK)
    service.blow_whistle(db, event, actor=DESK, ground="no_owner", departments=["D-CG"])
    outsider = Actor(name="蛇口", scope=AreaScope.of(ScopeLevel.street, ["440305005000"]))
    with pytest.raises(Forbidden):
        service.summons_step(db, event, "D-CG", Action.whistle_sign, actor=outsider)
    with pytest.raises(Conflict, match="changed meanwhile"):
        service.summons_step(db, event, "D-CG", Action.whistle_sign, actor=DESK, version=event.version - 1)
    service.summons_step(db, event, "D-CG", Action.whistle_sign, actor=DESK, version=event.version)
