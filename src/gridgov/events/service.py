"""Event rules: categories and their versions, intake from every channel, the workflow's effects, deadlines
and the whistle (issue 5). The only place that writes events.

- **Intake** (`submit`): one function behind every channel. The place is a point (WGS84 or GCJ-02) located to
  a grid, or an address text matched through the address library; a point outside the district is refused.
  A submission may carry an idempotency key: a retry with the same key returns the event the first one made
  (also when two arrive at once: the unique key decides, the loser reads the winner's event).
- **Workflow** (`act`): every state change goes through `workflow.next_state`; this module adds what each
  action does to the event (the handling unit and the deadline at dispatch, a rework count, the rating …),
  checks the version the caller read (a stale one is refused, never merged), and writes one `EventStep`.
- **Deadlines** (`deadline_status`, `refresh_deadlines`): the clock starts at dispatch; the due time is on the
  working-day calendar (working hours or working days, per the category version the event was filed under);
  yellow once 80% of the working time is used, red when overdue.
- **Whistle** (`blow_whistle`, `summons_step`): the summoned departments' three deadlines (sign 1 h, contact
  24 h, report on site in 3 working days, 5 for hard cases — `WhistleRules`), each one's timestamps, the rule
  that an event cannot close while a summoned department has not reported in, and the street's rating.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import ColumnElement, Table, and_, func, insert, or_, select
from sqlalchemy.orm import Session

from gridgov.accounts.models import OrgUnit
from gridgov.areas.scope import WHOLE_DISTRICT, AreaScope
from gridgov.audit.context import ActorInfo
from gridgov.core import files
from gridgov.core.calendar import WorkingCalendar, get_calendar
from gridgov.core.clock import get_clock
from gridgov.core.errors import Conflict, Forbidden, GridgovError, InvalidInput, NotFound, OutsideDistrict
from gridgov.events import access
from gridgov.events.models import Event, EventCategory, EventPhoto, EventStep, Whistle, WhistleSummons
from gridgov.events.workflow import OPEN_STATES, Action, State, next_state

CHANNELS: Final = ("grid", "public", "hotline", "department", "video")
WHISTLE_GROUNDS: Final = ("beyond_powers", "no_owner", "spans_areas", "many_departments", "emergency")
#: Share of the working time after which an event turns yellow.
YELLOW_AT: Final = 0.8
#: A closed event may be reopened for this long.
REOPEN_WINDOW: Final = timedelta(days=30)
_TICKET_ALPHABET: Final = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone


@dataclass(frozen=True)
class WhistleRules:
    """How long a summoned department has to sign for the whistle, contact the street, report in on site."""

    sign_hours: float = 1.0
    contact_hours: float = 24.0
    report_working_days: int = 3
    report_working_days_hard: int = 5


@dataclass(frozen=True)
class Actor:
    """Who acts: recorded on every step; ``scope`` bounds the events they may touch."""

    name: str
    # No default: an actor that may act anywhere says so (``scope=WHOLE_DISTRICT``).
    scope: AreaScope = field(kw_only=True)
    user_id: int | None = None
    unit_code: str | None = None
    # False for a department handler: the steps of the handling unit (sign, return, handle, extension) and
    # a summoned department's steps are theirs only for their own unit. The desk acts for any unit.
    any_unit: bool = True


#: Steps only the handling unit takes (or the desk on its behalf).
UNIT_ACTIONS: Final = frozenset({Action.sign, Action.return_, Action.handle, Action.request_extension})


def _require_unit(actor: Actor, unit_code: str | None, what: str) -> None:
    if actor.any_unit:
        return
    if unit_code is None or actor.unit_code != unit_code:
        raise Forbidden(f"Only {unit_code or 'the handling unit'} may {what}; your unit is {actor.unit_code}")


SYSTEM: Final = Actor(name="system", scope=WHOLE_DISTRICT)


@dataclass
class NewEvent:
    subtype_code: str
    title: str
    channel: str = "grid"
    description: str = ""
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address_text: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    idempotency_key: str | None = None
    urgent: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# Categories and units


def seed_categories(session: Session, *, path: Path | None = None) -> int:
    """Version 1 of every seeded subtype that is not there yet; returns how many were added."""
    from gridgov.events.taxonomy import load_categories

    majors = load_categories(path) if path is not None else load_categories()
    have = set(session.scalars(select(EventCategory.code)))
    now = get_clock().now()
    added = 0
    for major in majors:
        for sub in major.subtypes:
            if sub.code in have:
                continue
            session.add(
                EventCategory(
                    code=sub.code,
                    version=1,
                    major_code=major.code,
                    major_name=major.name,
                    name=sub.name,
                    name_en=sub.name_en,
                    domain=major.domain,
                    level=sub.level,
                    department_code=sub.department,
                    limit_value=float(sub.limit),
                    limit_unit=sub.limit_unit,
                    closing=sub.closing,
                    urgent=sub.urgent,
                    whistle_hint=sub.whistle_hint,
                    active=True,
                    created_at=now,
                )
            )
            added += 1
    session.flush()
    return added


def seed_org_units(session: Session) -> int:
    """The 1+8+N units (district centre, street centres and departments, one workstation per community)
    that are not there yet; existing units get their level and parent."""
    from gridgov.areas.models import Community, Street
    from gridgov.events.taxonomy import load_org_units

    streets = [(s.code, s.name) for s in session.scalars(select(Street).order_by(Street.code))]
    communities = [
        (c.code, c.name, c.street_code) for c in session.scalars(select(Community).order_by(Community.code))
    ]
    existing = {u.code: u for u in session.scalars(select(OrgUnit))}
    added = 0
    for seed in load_org_units(streets, communities):
        unit = existing.get(seed.code)
        if unit is None:
            unit = OrgUnit(code=seed.code, name=seed.name, kind=seed.kind)
            session.add(unit)
            added += 1
        unit.name_en = seed.name_en
        unit.level = seed.level
        unit.parent_code = seed.parent
        unit.area_code = seed.area_code
        unit.active = True
    session.flush()
    return added


def current_category(session: Session, code: str) -> EventCategory:
    """The newest active version of a subtype."""
    category = session.scalars(
        select(EventCategory)
        .where(EventCategory.code == code, EventCategory.active.is_(True))
        .order_by(EventCategory.version.desc())
    ).first()
    if category is None:
        raise InvalidInput(f"Unknown event type '{code}': see GET /api/events/categories")
    return category


def revise_category(session: Session, code: str, **changes: Any) -> EventCategory:
    """A new version of a subtype with ``changes``; events filed under older versions keep their rules."""
    allowed = {
        "name",
        "name_en",
        "level",
        "department_code",
        "limit_value",
        "limit_unit",
        "closing",
        "urgent",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"Cannot change {', '.join(sorted(unknown))} of an event type")
    if "limit_unit" in changes and changes["limit_unit"] not in ("working_hours", "working_days"):
        raise InvalidInput("limit_unit is working_hours or working_days")
    if "limit_value" in changes and not float(changes["limit_value"]) > 0:
        raise InvalidInput("The time limit must be positive")
    old = current_category(session, code)
    columns = {c.key: getattr(old, c.key) for c in EventCategory.__table__.columns if c.key != "id"}
    new = EventCategory(**{**columns, **changes, "version": old.version + 1, "created_at": get_clock().now()})
    old.active = False
    session.add(new)
    session.flush()
    return new


# ---------------------------------------------------------------------------------------------------------
# Intake


def _new_ticket(now: datetime) -> str:
    # 32^6 ≈ 10^9 codes a day: a clash is left to the unique index and answered with another code.
    return f"NS{now:%y%m%d}" + "".join(secrets.choice(_TICKET_ALPHABET) for _ in range(6))


def _place(session: Session, new: NewEvent) -> dict[str, Any]:
    """Where the event is: its grid, community and street, from a point or an address text."""
    from gridgov.areas.service import area_index

    if new.lon is not None and new.lat is not None:
        located = area_index(session).locate(new.lon, new.lat, new.crs)
        if not located.inside or located.grid is None:
            raise OutsideDistrict(
                f"The point ({new.lon:.6f}, {new.lat:.6f}) lies outside Nanshan district: "
                "report it to the district where it is"
            )
        return {
            "lon": located.lon,
            "lat": located.lat,
            "grid_code": located.grid.code,
            "community_code": located.community.code if located.community else None,
            "street_code": located.street.code if located.street else None,
        }
    if new.address_text and new.address_text.strip():
        from gridgov.address.batch import cached_library, match_texts
        from gridgov.address.match import decide

        library = cached_library(session)
        [values] = match_texts(library, [new.address_text])
        code, _text, _level, score, _decision, street, community, grid, reason = values
        if not code or not grid or decide(float(score or 0)) == "reject":
            raise InvalidInput(
                f"Could not place the address '{new.address_text.strip()}' in a grid ({reason}); "
                "give a map point or a fuller address"
            )
        return {
            "std_address_code": code,
            "grid_code": grid,
            "community_code": community or None,
            "street_code": street or None,
        }
    raise InvalidInput("Say where it is: a map point (lon, lat) or an address")


@dataclass(frozen=True)
class Filed:
    """What one submission gave: the event's id and ticket, and whether this submission made it (False: a
    retry, answered with the event its key made earlier). For a new event, ``row`` and ``first_step`` are the
    columns as written and ``category`` the version it was filed under, so a caller can answer without
    reading them back."""

    event_id: int
    ticket: str
    created: bool
    row: dict[str, Any] = field(default_factory=dict)
    first_step: dict[str, Any] = field(default_factory=dict)
    category: EventCategory | None = None


def _idempotency_key(new: NewEvent, actor: Actor) -> str | None:
    if new.idempotency_key is None:
        return None
    key = new.idempotency_key.strip()
    if not key or len(key) > 100:
        raise InvalidInput("An idempotency key is 1 to 100 characters")
    # A key is the submitter's own: another account sending the same key makes its own event and can never
    # read someone else's through it.
    return f"u{actor.user_id}:{key}" if actor.user_id is not None else key


def _events_by_key(session: Session, keys: set[str]) -> dict[str, tuple[int, str]]:
    if not keys:
        return {}
    rows = session.execute(
        select(Event.idempotency_key, Event.id, Event.ticket).where(Event.idempotency_key.in_(keys))
    )
    return {str(key): (int(event_id), str(ticket)) for key, event_id, ticket in rows}


def _current_categories(session: Session, codes: set[str]) -> dict[str, EventCategory]:
    """The newest active version of each subtype asked for (one query for a whole batch)."""
    found: dict[str, EventCategory] = {}
    rows = session.scalars(
        select(EventCategory)
        .where(EventCategory.code.in_(codes), EventCategory.active.is_(True))
        .order_by(EventCategory.version)
    )
    for category in rows:
        found[category.code] = category  # ordered by version: the newest stays
    return found


def _event_row(
    session: Session,
    new: NewEvent,
    actor: Actor,
    key: str | None,
    categories: dict[str, EventCategory],
    now: datetime,
) -> dict[str, Any]:
    """The new event's columns, after every check a submission must pass."""
    from gridgov.core import crypto
    from gridgov.core.identifiers import normalise_phone

    if new.channel not in CHANNELS:
        raise InvalidInput(f"Unknown channel '{new.channel}': one of {', '.join(CHANNELS)}")
    title = (new.title or "").strip()
    if not title:
        raise InvalidInput("Give the event a short title (what is wrong)")
    if len(title) > 200 or len(new.description) > 5000:
        raise InvalidInput("Title at most 200 characters, description at most 5,000")
    category = categories.get(new.subtype_code)
    if category is None:
        raise InvalidInput(f"Unknown event type '{new.subtype_code}': see GET /api/events/categories")
    place = _place(session, new)
    if actor is not SYSTEM and not actor.scope.covers(place["grid_code"] or ""):
        raise Forbidden("That place lies outside your area scope")
    phone = None
    phone_hash = None
    if new.reporter_phone:
        normalized = normalise_phone(new.reporter_phone)
        phone = crypto.encrypt(normalized, "event.reporter_phone")
        phone_hash = crypto.lookup_hash(normalized, "phone")
    return {
        "ticket": _new_ticket(now),
        "channel": new.channel,
        "idempotency_key": key,
        "category_id": category.id,
        "subtype_code": category.code,
        "title": title,
        "description": new.description.strip(),
        "state": State.reported.value,
        "urgent": category.urgent if new.urgent is None else new.urgent,
        "lon": None,
        "lat": None,
        "address_text": (new.address_text or "").strip() or None,
        "std_address_code": None,
        "reporter_name": (new.reporter_name or "").strip() or None,
        "reporter_phone": phone,
        "reporter_phone_hash": phone_hash,
        "reporter_user_id": actor.user_id,
        "deadline_status": "none",
        "reworks": 0,
        "supervised": False,
        "version": 1,
        # In UTC, as every stored time reads back: an answer built from these values matches a later read.
        "created_at": now.astimezone(UTC),
        "updated_at": now.astimezone(UTC),
        **place,
    }


def _insert_returning(session: Session, table: Table, rows: list[dict[str, Any]], *returning: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING``: the rows a unique key already holds are skipped, not
    an error that would undo the rest of the transaction."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        statement = postgresql_insert(table).on_conflict_do_nothing().returning(*returning)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).on_conflict_do_nothing().returning(*returning)
    else:  # pragma: no cover - the supported stores are SQLite and PostgreSQL
        raise NotImplementedError(f"event intake on {dialect}")
    return session.execute(statement, rows)


def file_events(
    session: Session,
    submissions: Sequence[tuple[NewEvent, Actor]],
    *,
    audit_actors: Sequence[ActorInfo | None] | None = None,
) -> list[Filed | GridgovError]:
    """File many events in the session's transaction: one outcome per submission, in order — ``Filed``, or
    the error that submission alone is refused with (the others still go in).

    Set-based so that a batch costs a handful of statements whatever its size: one lookup of the
    idempotency keys, one of the event types, one multi-row insert of the events and one of their first
    steps. A key already stored (or stored meanwhile by a concurrent writer: the insert skips it) answers
    with the earlier event; twins within the batch share the first one's outcome. ``audit_actors`` names who
    made each submission (default: the context actor), for the audit entries of the rows written.
    """
    outcomes: dict[int, Filed | GridgovError] = {}
    keys: list[str | None] = [None] * len(submissions)
    for index, (new, actor) in enumerate(submissions):
        try:
            keys[index] = _idempotency_key(new, actor)
        except GridgovError as exc:
            outcomes[index] = exc
    earlier = _events_by_key(session, {key for key in keys if key})
    categories = _current_categories(session, {new.subtype_code for new, _actor in submissions})
    now = get_clock().now()
    rows: dict[int, dict[str, Any]] = {}
    first_with_key: dict[str, int] = {}
    twins: dict[int, int] = {}
    for index, (new, actor) in enumerate(submissions):
        key = keys[index]
        if index in outcomes:
            continue
        if key is not None and key in earlier:
            event_id, ticket = earlier[key]
            outcomes[index] = Filed(event_id, ticket, created=False)
            continue
        if key is not None and key in first_with_key:
            twins[index] = first_with_key[key]
            continue
        if key is not None:
            first_with_key[key] = index
        try:
            rows[index] = _event_row(session, new, actor, key, categories, now)
        except GridgovError as exc:
            outcomes[index] = exc
    outcomes.update(_insert_events(session, rows, categories, now))
    made = [(i, filed) for i, filed in sorted(outcomes.items()) if isinstance(filed, Filed) and filed.created]
    if made:
        _write_first_steps(session, submissions, made, audit_actors, now)
    for index, twin_of in twins.items():
        first = outcomes[twin_of]
        outcomes[index] = (
            Filed(first.event_id, first.ticket, created=False) if isinstance(first, Filed) else first
        )
    assert len(outcomes) == len(submissions), "every submission has an outcome"
    return [outcomes[index] for index in range(len(submissions))]


def _insert_events(
    session: Session, rows: dict[int, dict[str, Any]], categories: dict[str, EventCategory], now: datetime
) -> dict[int, Filed | GridgovError]:
    """Insert the new events' rows (by submission index); a row skipped by the insert had its key stored
    meanwhile by another writer (answered with that event) or, rarely, a ticket code already taken (another
    is drawn and the row inserted again, three tries in all)."""
    table = cast(Table, Event.__table__)
    outcomes: dict[int, Filed | GridgovError] = {}
    waiting = list(rows)
    for attempt in range(3):
        if not waiting:
            break
        stored = {
            str(ticket): int(event_id)
            for event_id, ticket in _insert_returning(
                session, table, [rows[i] for i in waiting], table.c.id, table.c.ticket
            )
        }
        skipped = [i for i in waiting if rows[i]["ticket"] not in stored]
        for index in (i for i in waiting if rows[i]["ticket"] in stored):
            row = rows[index]
            row["id"] = stored[row["ticket"]]
            category = categories[row["subtype_code"]]
            outcomes[index] = Filed(row["id"], row["ticket"], created=True, row=row, category=category)
        winners = _events_by_key(session, {rows[i]["idempotency_key"] for i in skipped} - {None})
        waiting = []
        for index in skipped:
            won = winners.get(rows[index]["idempotency_key"])
            if won is not None:
                outcomes[index] = Filed(won[0], won[1], created=False)
            else:
                waiting.append(index)
                if attempt < 2:
                    rows[index]["ticket"] = _new_ticket(now)
    for index in waiting:
        outcomes[index] = Conflict("No free ticket code was found for the event; send it again")
    return outcomes


def _write_first_steps(
    session: Session,
    submissions: Sequence[tuple[NewEvent, Actor]],
    made: list[tuple[int, Filed]],
    audit_actors: Sequence[ActorInfo | None] | None,
    now: datetime,
) -> None:
    """Each new event's report step, and the audit entries of both rows (as the write hook makes them)."""
    from gridgov.audit.service import record_created

    step_table = cast(Table, EventStep.__table__)
    for index, filed in made:
        new, actor = submissions[index]
        filed.first_step.update(
            event_id=filed.event_id,
            action="report",
            from_state=None,
            to_state=State.reported.value,
            actor_user_id=actor.user_id,
            actor_name=actor.name,
            at=now.astimezone(UTC),
            note=None,
            data={"channel": new.channel},
        )
    step_ids = {
        int(event_id): int(step_id)
        for step_id, event_id in session.execute(
            insert(step_table).returning(step_table.c.id, step_table.c.event_id),
            [filed.first_step for _index, filed in made],
        )
    }
    for _index, filed in made:
        filed.first_step["id"] = step_ids[filed.event_id]
    who = audit_actors or [None] * len(submissions)
    record_created(session, Event.__tablename__, [(f.event_id, _set_columns(f.row), who[i]) for i, f in made])
    record_created(
        session, step_table.name, [(f.first_step["id"], _set_columns(f.first_step), who[i]) for i, f in made]
    )


def _set_columns(row: dict[str, Any]) -> list[str]:
    return [name for name, value in row.items() if value is not None]


def submit(session: Session, new: NewEvent, *, actor: Actor = SYSTEM) -> tuple[Event, bool]:
    """File one event; returns it and whether it was made now (False: a retry of an earlier submission)."""
    [outcome] = file_events(session, [(new, actor)])
    if isinstance(outcome, GridgovError):
        raise outcome
    event = session.get(Event, outcome.event_id)
    assert event is not None
    return event, outcome.created


# ---------------------------------------------------------------------------------------------------------
# Workflow


def _record(
    session: Session,
    event: Event,
    action: str,
    source: State | None,
    target: State,
    actor: Actor,
    at: datetime,
    *,
    note: str | None,
    data: dict[str, Any] | None = None,
) -> EventStep:
    step = EventStep(
        event_id=event.id,
        action=action,
        from_state=source.value if source is not None else None,
        to_state=target.value,
        actor_user_id=actor.user_id,
        actor_name=actor.name,
        at=at,
        note=note,
        data=data or {},
    )
    session.add(step)
    session.flush()
    return step


def readable(scope: AreaScope) -> ColumnElement[bool]:
    """The events ``scope`` may read, as a SQL condition: inside its area and, for a department
    (``scope.department``), dispatched or whistled to its unit or of a public class (`events.access`: by
    default urban management, public space; the same classes the public follows by ticket alone)."""
    inside = scope.clause(Event.grid_code)
    if scope.department is None:
        return inside
    public = Event.category_id.in_(select(EventCategory.id).where(access.public_clause()))
    return and_(inside, or_(inbox_clause(scope.department), public))


def get_event(session: Session, ref: int | str, *, scope: AreaScope) -> Event:
    """An event by id or ticket, within the scope (see ``readable``): outside its area 403; an event in
    the area that a department may not read answers as if it did not exist (404)."""
    column = Event.id if isinstance(ref, int) else Event.ticket
    event = session.scalars(select(Event).where(column == ref)).first()
    if event is None:
        raise NotFound(f"No event {ref}")
    if not scope.covers(event.grid_code or ""):
        raise Forbidden("That event lies outside your area scope")
    if scope.department is not None and not session.scalar(
        select(func.count()).select_from(Event).where(Event.id == event.id, readable(scope))
    ):
        raise NotFound(f"No event {ref}")
    return event


def due_time(category: EventCategory, start: datetime, calendar: WorkingCalendar | None = None) -> datetime:
    """When an event dispatched at ``start`` must be handled, on the working-day calendar."""
    calendar = calendar or get_calendar()
    if category.limit_unit == "working_days":
        return calendar.add_working_days(start, round(category.limit_value))
    return calendar.add_working_hours(start, category.limit_value)


def act(
    session: Session,
    event: Event,
    action: Action | str,
    *,
    actor: Actor,
    version: int | None = None,
    note: str | None = None,
    reason: str | None = None,
    unit: str | None = None,
    rating: int | None = None,
    duration: float | None = None,
) -> Event:
    """Apply one workflow action to ``event`` (see the module documentation); ``version`` is the version the
    caller read — a different current version means someone else acted meanwhile."""
    action = Action(action)
    if not actor.scope.covers(event.grid_code or ""):
        raise Forbidden("That event lies outside your area scope")
    if action in UNIT_ACTIONS:
        _require_unit(actor, event.handling_unit_code, f"'{action.value}' event {event.ticket}")
    if version is not None and version != event.version:
        raise Conflict(
            f"Event {event.ticket} changed meanwhile (you read version {version}, it is now "
            f"{event.version}): reload it and try again",
            code="stale_version",
        )
    source = State(event.state)
    target = next_state(source, action, reason=reason, unit=unit, rating=rating, duration=duration)
    now = get_clock().now()
    data: dict[str, Any] = {}
    category = session.get(EventCategory, event.category_id)
    assert category is not None
    if action is Action.dispatch:
        assert unit is not None
        handler = session.scalars(select(OrgUnit).where(OrgUnit.code == unit.strip())).first()
        if handler is None or not handler.active:
            raise InvalidInput(f"No active handling unit '{unit}'")
        event.handling_unit_code = handler.code
        event.handling_level = handler.level
        event.dispatched_at = now
        event.due_at = due_time(category, now)
        event.deadline_status = "green"
        data = {"unit": handler.code, "due_at": event.due_at.isoformat()}
    elif action is Action.return_:
        data = {"unit": event.handling_unit_code}
        event.handling_unit_code = None
        event.due_at = None
        event.deadline_status = "none"
    elif action is Action.fail_verification:
        event.reworks += 1
    elif action is Action.close:
        waiting = _summons_not_reported(session, event)
        if waiting:
            raise Conflict(
                "The event cannot close while summoned departments have not reported in: "
                + ", ".join(waiting),
                code="whistle_open",
            )
        event.closed_at = now
        event.deadline_status = "none"
    elif action is Action.evaluate:
        event.rating = rating
    elif action is Action.reopen:
        if event.closed_at is None or now - _aware(event.closed_at) > REOPEN_WINDOW:
            raise Conflict(f"An event can be reopened within {REOPEN_WINDOW.days} days of closing")
        event.closed_at = None
        event.handling_unit_code = None
        event.due_at = None
    elif action is Action.request_extension:
        if event.extension_pending is not None:
            raise Conflict("An extension is already waiting for a decision")
        event.extension_pending = duration
        data = {"hours": duration}
    elif action in (Action.approve_extension, Action.deny_extension):
        if event.extension_pending is None:
            raise Conflict("No extension was requested")
        if action is Action.approve_extension and event.due_at is not None:
            event.due_at = get_calendar().add_working_hours(_aware(event.due_at), event.extension_pending)
            data = {"hours": event.extension_pending, "due_at": event.due_at.isoformat()}
        event.extension_pending = None
    elif action is Action.supervise:
        event.supervised = True
    elif action in (
        Action.whistle,
        Action.whistle_sign,
        Action.whistle_contact,
        Action.whistle_report,
        Action.whistle_rate,
    ):
        raise InvalidInput("Use blow_whistle / summons_step for the whistle")
    event.state = target.value
    event.version += 1
    event.updated_at = now
    if event.due_at is not None and target in OPEN_STATES:
        event.deadline_status = deadline_status(event, now)
    _record(session, event, action.value, source, target, actor, now, note=note or reason, data=data)
    return event


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def deadline_status(event: Event, now: datetime, calendar: WorkingCalendar | None = None) -> str:
    """green, yellow (≥ 80% of the working time used) or red (overdue); none when no clock runs."""
    if event.due_at is None or event.dispatched_at is None:
        return "none"
    calendar = calendar or get_calendar()
    due = _aware(event.due_at)
    if now >= due:
        return "red"
    start = _aware(event.dispatched_at)
    total = calendar.working_hours_between(start, due)
    used = calendar.working_hours_between(start, now)
    return "yellow" if total > 0 and used >= YELLOW_AT * total else "green"


def refresh_deadlines(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """The periodic job: recolour every open event with a running clock; returns how many turned yellow and
    red now (the ones that turned red are escalated by the caller's notification step)."""
    now = now or get_clock().now()
    changed = {"yellow": 0, "red": 0}
    running = session.scalars(
        select(Event).where(Event.state.in_([s.value for s in OPEN_STATES]), Event.due_at.is_not(None))
    )
    for event in running:
        status = deadline_status(event, now)
        if status != event.deadline_status:
            if status in changed:
                changed[status] += 1
            event.deadline_status = status
    session.flush()
    return changed


# ---------------------------------------------------------------------------------------------------------
# Whistle


def blow_whistle(
    session: Session,
    event: Event,
    *,
    actor: Actor,
    ground: str,
    departments: Sequence[str],
    note: str | None = None,
    hard_case: bool = False,
    version: int | None = None,
    rules: WhistleRules = WhistleRules(),
) -> Whistle:
    """The street summons departments to the event (街道吹哨、部门报到)."""
    if ground not in WHISTLE_GROUNDS:
        raise InvalidInput(f"Whistle ground is one of {', '.join(WHISTLE_GROUNDS)}")
    codes = sorted({d.strip() for d in departments if d and d.strip()})
    if not codes:
        raise InvalidInput("Summon at least one department")
    units = {u.code: u for u in session.scalars(select(OrgUnit).where(OrgUnit.code.in_(codes)))}
    missing = [c for c in codes if c not in units or units[c].kind != "department"]
    if missing:
        raise InvalidInput(f"Not departments: {', '.join(missing)}")
    if not actor.scope.covers(event.grid_code or ""):
        raise Forbidden("That event lies outside your area scope")
    if version is not None and version != event.version:
        raise Conflict(
            f"Event {event.ticket} changed meanwhile: reload it and try again", code="stale_version"
        )
    next_state(State(event.state), Action.whistle, reason=ground)
    now = get_clock().now()
    calendar = get_calendar()
    whistle = Whistle(
        event_id=event.id, ground=ground, note=note, hard_case=hard_case, blown_by=actor.name, blown_at=now
    )
    session.add(whistle)
    session.flush()
    days = rules.report_working_days_hard if hard_case else rules.report_working_days
    for code in codes:
        session.add(
            WhistleSummons(
                whistle_id=whistle.id,
                department_code=code,
                sign_due=now + timedelta(hours=rules.sign_hours),
                contact_due=now + timedelta(hours=rules.contact_hours),
                report_due=calendar.add_working_days(now, days),
            )
        )
    event.version += 1
    event.updated_at = now
    state = State(event.state)
    _record(
        session,
        event,
        Action.whistle.value,
        state,
        state,
        actor,
        now,
        note=note,
        data={"ground": ground, "departments": codes},
    )
    return whistle


def _summons_not_reported(session: Session, event: Event) -> list[str]:
    rows = session.execute(
        select(WhistleSummons.department_code)
        .join(Whistle, Whistle.id == WhistleSummons.whistle_id)
        .where(Whistle.event_id == event.id, WhistleSummons.reported_at.is_(None))
        .order_by(WhistleSummons.department_code)
    )
    return [code for (code,) in rows]


def summons_step(
    session: Session,
    event: Event,
    department: str,
    action: Action | str,
    *,
    actor: Actor,
    rating: int | None = None,
    comment: str | None = None,
    version: int | None = None,
) -> WhistleSummons:
    """A summoned department signs for the whistle, contacts the street, reports in on site; or the street
    rates its response. Each step once, in order."""
    action = Action(action)
    steps = {
        Action.whistle_sign: ("signed_at", None),
        Action.whistle_contact: ("contacted_at", "signed_at"),
        Action.whistle_report: ("reported_at", "contacted_at"),
    }
    if not actor.scope.covers(event.grid_code or ""):
        raise Forbidden("That event lies outside your area scope")
    if action is not Action.whistle_rate:
        _require_unit(actor, department, f"'{action.value}' for {department}")
    if version is not None and version != event.version:
        raise Conflict(
            f"Event {event.ticket} changed meanwhile: reload it and try again", code="stale_version"
        )
    summons = session.scalars(
        select(WhistleSummons)
        .join(Whistle, Whistle.id == WhistleSummons.whistle_id)
        .where(Whistle.event_id == event.id, WhistleSummons.department_code == department)
        .order_by(WhistleSummons.id.desc())
    ).first()
    if summons is None:
        raise NotFound(f"{department} was not summoned to event {event.ticket}")
    state = State(event.state)
    next_state(state, action, reason=comment, rating=rating)
    now = get_clock().now()
    if action is Action.whistle_rate:
        if summons.reported_at is None:
            raise Conflict(f"{department} has not reported in yet: rate it once it has")
        summons.rating = rating
        summons.comment = comment
    else:
        column, before = steps[action]
        if getattr(summons, column) is not None:
            raise Conflict(f"{department} already did '{action.value}'")
        if before is not None and getattr(summons, before) is None:
            raise Conflict(
                f"{department} must '{'whistle_sign' if before == 'signed_at' else 'whistle_contact'}' first"
            )
        setattr(summons, column, now)
    event.version += 1
    event.updated_at = now
    _record(
        session,
        event,
        action.value,
        state,
        state,
        actor,
        now,
        note=comment,
        data={"department": department, **({"rating": rating} if rating is not None else {})},
    )
    return summons


def summons_late(summons: WhistleSummons, now: datetime) -> list[str]:
    """Which of a summoned department's deadlines have passed without the step."""
    late = []
    for step, due, done in (
        ("sign", summons.sign_due, summons.signed_at),
        ("contact", summons.contact_due, summons.contacted_at),
        ("report", summons.report_due, summons.reported_at),
    ):
        if done is None and now > _aware(due):
            late.append(step)
    return late


def timeline(session: Session, event: Event) -> list[EventStep]:
    return list(
        session.scalars(select(EventStep).where(EventStep.event_id == event.id).order_by(EventStep.id))
    )


def count_events(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Event)) or 0)


# ---------------------------------------------------------------------------------------------------------
# Dispatch (1+8+N), duplicates, whistle suggestions

DISTRICT_CENTRE: Final = "C-440305"
_LEVELS: Final = ("community", "street", "district")
#: Reports of one type this close together, in space and time, are shown to the desk as likely one matter.
DUPLICATE_RADIUS_M: Final = 150.0
DUPLICATE_WINDOW: Final = timedelta(hours=72)
#: A point this close to another street's area counts as "near a street boundary" for the whistle rule.
BOUNDARY_M: Final = 100.0


def current_level(session: Session, event: Event) -> str:
    """The level that handles the event: its category's default, or higher once escalated."""
    category = session.get(EventCategory, event.category_id)
    assert category is not None
    return event.handling_level or category.level


def suggest_unit(session: Session, event: Event) -> OrgUnit:
    """The unit the rules pick for the event (1+8+N): at the category's own level, its department for the
    event's street or community; escalated above it, the command centre of that level."""
    category = session.get(EventCategory, event.category_id)
    assert category is not None
    level = current_level(session, event)
    if level == category.level:
        code = category.department_code.format(street=event.street_code, community=event.community_code)
    elif level == "street":
        code = f"S-{event.street_code}"
    else:
        code = DISTRICT_CENTRE
    unit = session.scalars(select(OrgUnit).where(OrgUnit.code == code, OrgUnit.active.is_(True))).first()
    if unit is None:
        raise NotFound(
            f"No active unit {code} for event {event.ticket}: load the org units (gridgov demo load)"
        )
    return unit


def escalate(session: Session, event: Event, *, actor: Actor, reason: str, version: int | None = None) -> str:
    """Hand an accepted event to the level above (community → street → district); returns the new level."""
    level = current_level(session, event)
    if level == "district":
        raise Conflict("The event is already handled at the district level")
    higher = _LEVELS[_LEVELS.index(level) + 1]
    act(session, event, Action.escalate, actor=actor, reason=reason, version=version)
    event.handling_level = higher
    step = timeline(session, event)[-1]
    step.data = {"from": level, "to": higher}
    return higher


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    import math

    dx = (lon2 - lon1) * 111_320.0 * math.cos(math.radians((lat1 + lat2) / 2))
    dy = (lat2 - lat1) * 110_574.0
    return math.hypot(dx, dy)


_DUPLICATE_STATES: Final = (State.reported.value, *(s.value for s in OPEN_STATES))


def _near(event: Event, other: Event) -> float | None:
    """Metres between the two, when both have a point and lie within the duplicate radius."""
    if event.lon is None or event.lat is None or other.lon is None or other.lat is None:
        return None
    metres = _metres(event.lon, event.lat, other.lon, other.lat)
    return metres if metres <= DUPLICATE_RADIUS_M else None


def likely_duplicates(session: Session, event: Event, *, scope: AreaScope) -> list[Event]:
    """Open events of the same type reported nearby shortly before or after this one, within ``scope``
    (a desk never sees, or merges with, an event outside its area), nearest first."""
    return likely_duplicates_of(session, [event], scope=scope).get(event.id, [])


def likely_duplicates_of(
    session: Session, events: Sequence[Event], *, scope: AreaScope
) -> dict[int, list[Event]]:
    """``likely_duplicates`` for many events in one query (the desk's queue): event id → its duplicates."""
    placed = [e for e in events if e.lon is not None and e.lat is not None]
    if not placed:
        return {}
    times = [_aware(e.created_at) for e in placed]
    candidates = session.scalars(
        select(Event).where(
            Event.subtype_code.in_({e.subtype_code for e in placed}),
            Event.state.in_(_DUPLICATE_STATES),
            Event.created_at >= min(times) - DUPLICATE_WINDOW,
            Event.created_at <= max(times) + DUPLICATE_WINDOW,
            Event.lon.is_not(None),
            readable(scope),
        )
    ).all()
    by_type: dict[str, list[Event]] = {}
    for candidate in candidates:
        by_type.setdefault(candidate.subtype_code, []).append(candidate)
    found: dict[int, list[Event]] = {}
    for event, created in zip(placed, times, strict=True):
        near = [
            (metres, other)
            for other in by_type.get(event.subtype_code, [])
            if other.id != event.id
            and abs(_aware(other.created_at) - created) <= DUPLICATE_WINDOW
            and (metres := _near(event, other)) is not None
        ]
        if near:
            found[event.id] = [other for _metres, other in sorted(near, key=lambda pair: pair[0])]
    return found


def merge(
    session: Session, duplicate: Event, *, into: Event, actor: Actor, version: int | None = None
) -> Event:
    """The desk merges a newly reported duplicate into the event it repeats (不予立案 with that reason), on
    the duplicate's ``version`` the desk read. The event kept must still be live: not cancelled, merged
    away or finished."""
    if duplicate.id == into.id:
        raise InvalidInput("An event cannot be merged into itself")
    if duplicate.subtype_code != into.subtype_code:
        raise InvalidInput("Only events of the same type can be merged")
    if into.duplicate_of_id is not None or into.state not in _DUPLICATE_STATES:
        merged = " (merged into another event)" if into.duplicate_of_id else ""
        raise Conflict(f"{into.ticket} is {into.state}{merged}: merge into an event that is still open")
    reason = f"与 {into.ticket} 重复，已合并"
    act(session, duplicate, Action.cancel, actor=actor, reason=reason, version=version)
    duplicate.duplicate_of_id = into.id
    return duplicate


def whistle_suggestions(session: Session, event: Event, *, now: datetime | None = None) -> list[str]:
    """Why the street might blow the whistle on this event (empty: no rule hits)."""
    from gridgov.areas.service import area_index

    now = now or get_clock().now()
    reasons: list[str] = []
    category = session.get(EventCategory, event.category_id)
    assert category is not None
    if event.reworks >= 2:
        reasons.append(f"返工 {event.reworks} 次 (reworked {event.reworks} times)")
    if event.due_at is not None and now - _aware(event.due_at) > timedelta(days=1):
        reasons.append("超期一天以上 (overdue by more than a day)")
    if category.whistle_hint:
        reasons.append("该类事项通常需要多个部门 (this type usually needs several departments)")
    if event.lon is not None and event.lat is not None and event.street_code:
        index = area_index(session)
        dlat = BOUNDARY_M / 110_574.0
        dlon = BOUNDARY_M / 102_000.0
        for dx, dy in ((dlon, 0.0), (-dlon, 0.0), (0.0, dlat), (0.0, -dlat)):
            located = index.locate(event.lon + dx, event.lat + dy)
            if located.street is not None and located.street.code != event.street_code:
                reasons.append(
                    f"靠近街道边界：{located.street.name} (near the boundary with {located.street.name})"
                )
                break
    return reasons


# ---------------------------------------------------------------------------------------------------------
# Photos

#: Largest photo accepted (``core.files``: phones send 2–6 MB; a bigger file is a video or a scan).
MAX_PHOTO_BYTES: Final = files.MAX_PHOTO_BYTES


def photo_dir() -> Path:
    return files.photo_dir()


def store_photo(session: Session, event: Event, data: bytes, *, step: EventStep | None = None) -> EventPhoto:
    """Check a photo (type by content, size, dimensions), strip its metadata — the phone's GPS position of
    the reporter among it — and store it content-addressed (``core.files.store_photo``: the same photo twice
    is stored once); the event keeps a row naming it."""
    stored = files.store_photo(data, directory=photo_dir())
    photo = EventPhoto(
        event_id=event.id,
        step_id=step.id if step is not None else None,
        sha256=stored.sha256,
        mime=stored.mime,
        size=stored.size,
        created_at=get_clock().now(),
    )
    session.add(photo)
    session.flush()
    return photo


def photo_path(photo: EventPhoto) -> Path:
    return files.photo_file(photo.sha256, photo.mime, photo_dir())


# ---------------------------------------------------------------------------------------------------------
# Importing reports (12345 hotline work orders, grid reports from another system)

# Column names of the feeds, first match wins: 12345 work orders, grid-report exports.
_IMPORT_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "id": ("工单编号", "事件编号"),
    "time": ("受理时间", "上报时间"),
    "subtype": ("问题小类", "事件小类"),
    "text": ("诉求内容", "事件描述"),
    "address": ("事发地址",),
    "lon": ("经度",),
    "lat": ("纬度",),
    "crs": ("坐标系",),
    "phone": ("来电号码", "联系电话"),
    "reporter": ("上报人",),
    "history": ("流转记录", "处置记录"),
    "satisfaction": ("满意度",),
}
_HISTORY_PART: Final = re.compile(r"^(?:(\d{4}-\d{2}-\d{2}) )?(\d{2}:\d{2}) (.+)$")
_SATISFACTION: Final = {"满意": 5, "基本满意": 3, "不满意": 1}


@dataclass
class ImportReport:
    path: str
    channel: str
    rows: int = 0
    imported: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    # Rows whose flow record (流转记录) could not be replayed to the end: the event stays where it got to.
    history_incomplete: int = 0


def _type_names(session: Session) -> dict[str, str]:
    """Every name an event type goes by (its name, and the aliases of the seed) → its code."""
    from gridgov.events.taxonomy import iter_subtypes, load_categories

    names = {alias: sub.code for sub in iter_subtypes(load_categories()) for alias in sub.aliases}
    for code, name in session.execute(
        select(EventCategory.code, EventCategory.name).where(EventCategory.active.is_(True))
    ):
        names[name] = code
    return names


def import_reports(
    session: Session, path: Path, *, fmt: str | None = None, limit: int | None = None
) -> ImportReport:
    """File every row of a 12345 work-order list or a grid-report export (CSV or XLSX) as an event, at the
    time the row says it was received. The row's own number is the idempotency key: importing the same
    file again changes nothing. A row that cannot be filed — unknown type, unreadable time, a place outside
    the district or not found — is written with its reason to ``var/rejects/`` to be fixed and imported again;
    the others go in. ``limit`` stops after that many rows (samples, tests)."""
    from gridgov.address.service import _write_rejects, detect_format, read_rows
    from gridgov.core.clock import FrozenClock, use_clock
    from gridgov.core.errors import GridgovError

    chosen = detect_format(path, fmt)
    if chosen == "lines":
        raise InvalidInput("Reports come as CSV or XLSX with a header row")
    header, rows, _encoding = read_rows(path, chosen)
    column = {key: next((c for c in names if c in header), None) for key, names in _IMPORT_COLUMNS.items()}
    missing = [key for key in ("id", "time", "subtype") if column[key] is None]
    if missing:
        wanted = " / ".join(_IMPORT_COLUMNS[missing[0]])
        raise InvalidInput(f"{path.name} has no {wanted} column; it has: {', '.join(header)}")
    channel = "hotline" if column["id"] == "工单编号" else "grid"
    report = ImportReport(path=str(path), channel=channel)
    types = _type_names(session)
    units = list(session.scalars(select(OrgUnit).where(OrgUnit.active.is_(True))))
    rejects: list[tuple[int, dict[str, str] | None, str]] = []

    def value(row: dict[str, str], key: str) -> str:
        name = column[key]
        return (row.get(name) or "").strip() if name else ""

    for line, row, problem in rows:
        if limit is not None and report.rows >= limit:
            break
        report.rows += 1
        try:
            if problem is not None or row is None:
                raise InvalidInput(problem or "unreadable row")
            number = value(row, "id")
            if not number:
                raise InvalidInput("the row has no number")
            code = types.get(value(row, "subtype"))
            if code is None:
                raise InvalidInput(f"unknown event type '{value(row, 'subtype')}'")
            try:
                at = datetime.strptime(value(row, "time"), "%Y-%m-%d %H:%M:%S")
            except ValueError as exc:
                raise InvalidInput(f"unreadable time '{value(row, 'time')}'") from exc
            text = value(row, "text")
            new = NewEvent(
                subtype_code=code,
                title=(text.splitlines()[0] if text else value(row, "subtype"))[:60] or code,
                description=text,
                channel=channel,
                address_text=value(row, "address") or None,
                reporter_name=value(row, "reporter") or None,
                idempotency_key=f"{channel}:{number}",
            )
            if value(row, "lon") and value(row, "lat"):
                try:
                    new.lon, new.lat = float(value(row, "lon")), float(value(row, "lat"))
                except ValueError as exc:
                    raise InvalidInput("unreadable longitude/latitude") from exc
                new.crs = "gcj02" if "GCJ" in value(row, "crs").upper() else "wgs84"
            phone = value(row, "phone")
            if phone and "*" not in phone and len(phone) >= 7:
                new.reporter_phone = phone
            with use_clock(FrozenClock(at)):
                try:
                    with session.begin_nested():
                        _event, created = submit(session, new)
                except InvalidInput as exc:
                    if new.reporter_phone is None or "phone" not in exc.message.lower():
                        raise
                    new.reporter_phone = None  # a malformed caller number does not lose the work order
                    with session.begin_nested():
                        _event, created = submit(session, new)
        except GridgovError as exc:
            report.rejected += 1
            reason = exc.message
            report.reasons[reason.split(" '")[0]] = report.reasons.get(reason.split(" '")[0], 0) + 1
            rejects.append((line, row, reason))
            continue
        if created:
            report.imported += 1
            history = value(row, "history")
            if history and not _replay(session, _event, history, at, value(row, "satisfaction"), units):
                report.history_incomplete += 1
        else:
            report.unchanged += 1
    if rejects:
        report.rejects_file = str(_write_rejects(path, header, rejects))
    session.flush()
    return report


def _unit_named(units: Sequence[OrgUnit], name: str) -> OrgUnit | None:
    """The unit a feed names ("区水务局" is 南山区水务局): exact, else the one whose name ends with it."""
    exact = [u for u in units if u.name == name]
    if exact:
        return exact[0]
    ending = [u for u in units if name and u.name.endswith(name)]
    return ending[0] if len(ending) == 1 else None


def _replay(
    session: Session, event: Event, history: str, start: datetime, satisfaction: str, units: Sequence[OrgUnit]
) -> bool:
    """Replay a work order's flow record ("2025-11-01 09:07 上报；09:31 立案；09:45 派遣至…；10:44 处置完成；
    22:15 核查结案") through the workflow, each step at its own time; True when every step went through."""
    from gridgov.core.clock import FrozenClock, use_clock
    from gridgov.core.errors import GridgovError

    day = start.date()
    previous = start
    actor = Actor(name="历史工单导入", scope=WHOLE_DISTRICT)
    try:
        for part in history.split("；"):
            m = _HISTORY_PART.match(part.strip())
            if m is None:
                continue
            if m.group(1):
                day = datetime.strptime(m.group(1), "%Y-%m-%d").date()
            at = datetime.combine(day, datetime.strptime(m.group(2), "%H:%M").time(), tzinfo=start.tzinfo)
            if at < previous - timedelta(minutes=1):
                at += timedelta(days=1)  # past midnight without a date
            previous = at
            what = m.group(3).strip()
            with use_clock(FrozenClock(at)):
                if what in ("上报", "受理"):
                    continue
                if what == "立案":
                    act(session, event, Action.accept, actor=actor)
                elif what.startswith("不予立案"):
                    reason = what.removeprefix("不予立案").strip("（）() ") or "不予立案"
                    act(session, event, Action.cancel, actor=actor, reason=reason)
                elif what.startswith("派遣至"):
                    unit = _unit_named(units, what.removeprefix("派遣至")) or suggest_unit(session, event)
                    act(session, event, Action.dispatch, actor=actor, unit=unit.code)
                elif what == "处置完成":
                    act(session, event, Action.sign, actor=actor)
                    act(session, event, Action.handle, actor=actor, note=what)
                elif what in ("核查结案", "回访办结"):
                    act(session, event, Action.verify, actor=actor)
                    act(session, event, Action.close, actor=actor, note=what)
                    rating = _SATISFACTION.get(satisfaction)
                    if rating is not None:
                        act(session, event, Action.evaluate, actor=actor, rating=rating)
                else:
                    return False
    except GridgovError:
        return False
    return True


def inbox_clause(unit_code: str) -> Any:
    """The events a unit has to act on: dispatched to it, or summoning it by a whistle (a department
    handler's inbox; a SQL condition to combine with the caller's area scope)."""
    summoned = (
        select(Whistle.event_id)
        .join(WhistleSummons, WhistleSummons.whistle_id == Whistle.id)
        .where(WhistleSummons.department_code == unit_code)
    )
    return or_(Event.handling_unit_code == unit_code, Event.id.in_(summoned))
