"""Event routes (issue 5): event types, filing a report, the event list and detail within the caller's area
scope, the workflow actions, the whistle and the summoned departments' steps.

Thin: the rules live in ``events.service``; this module decides only *who may ask* — which permission each
workflow action needs (``ACTION_PERMISSION``, routing policy), and that a department handler acts only on
events dispatched to (or whistles summoning) its own unit — and turns rows into schemas.

Every route declares ``x-scope`` (tests/test_scope_walk.py): ``event:list`` (a list filtered to the scope),
``event:path`` (an event by ticket: outside the scope → 403), ``event:write`` (the same, changed by the
body), ``event:body`` (a new event, placed by the body: outside the scope → 403), ``permission:…`` (event
types, reference data that is not area-scoped).

Likely duplicates (``GET …/duplicates``) are the service's nearby reports of the same type, cut to the
caller's scope; merging one (``POST …/merge``) is the desk's cancel, so it needs what cancel needs and both
events within the scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Final

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from gridgov.accounts.deps import require
from gridgov.accounts.permissions import Permission, Role
from gridgov.accounts.scoping import Principal
from gridgov.audit.context import ActorInfo, current_actor
from gridgov.core.batching import GroupCommit
from gridgov.core.db import transaction
from gridgov.core.deps import DbSession
from gridgov.core.errors import InvalidInput
from gridgov.core.ids import MAX_ROW_ID
from gridgov.events import service
from gridgov.events.models import Event, EventCategory, Whistle, WhistleSummons
from gridgov.events.schemas import (
    ActionIn,
    CategoryOut,
    CategoryRevision,
    EventDetail,
    EventIn,
    EventOut,
    MergeIn,
    StepOut,
    SummonsIn,
    SummonsOut,
    WhistleIn,
)
from gridgov.events.service import Actor, NewEvent
from gridgov.events.workflow import Action, State, allowed_actions

router = APIRouter(tags=["events"])
Reader = Annotated[Principal, require(Permission.events_read)]
Reporter = Annotated[Principal, require(Permission.events_report)]
Configurer = Annotated[Principal, require(Permission.events_configure)]
#: One report waiting to be filed: what was reported, who files it, who the audit names.
Submission = tuple[NewEvent, Actor, ActorInfo]

#: Which permission each workflow action needs (the whistle itself: POST …/whistle, events.desk).
ACTION_PERMISSION: Final[dict[Action, Permission]] = {
    Action.accept: Permission.events_desk,
    Action.cancel: Permission.events_desk,
    Action.dispatch: Permission.events_desk,
    Action.escalate: Permission.events_desk,
    Action.approve_extension: Permission.events_desk,
    Action.deny_extension: Permission.events_desk,
    Action.supervise: Permission.events_desk,
    Action.close: Permission.events_desk,
    Action.evaluate: Permission.events_desk,
    Action.reopen: Permission.events_desk,
    Action.whistle: Permission.events_desk,
    Action.whistle_rate: Permission.events_desk,
    Action.sign: Permission.events_handle,
    Action.return_: Permission.events_handle,
    Action.handle: Permission.events_handle,
    Action.request_extension: Permission.events_handle,
    Action.whistle_sign: Permission.events_handle,
    Action.whistle_contact: Permission.events_handle,
    Action.whistle_report: Permission.events_handle,
    Action.verify: Permission.events_verify,
    Action.fail_verification: Permission.events_verify,
}
#: Steps that go through their own routes, not POST …/actions.
WHISTLE_ACTIONS: Final = frozenset(
    {Action.whistle, Action.whistle_sign, Action.whistle_contact, Action.whistle_report, Action.whistle_rate}
)
_PHONE_CONTEXT: Final = "event.reporter_phone"  # the context events.service encrypts the phone under


# ---------------------------------------------------------------------------------------------------------
# Who acts, and may they


def actor_of(principal: Principal) -> Actor:
    """The service's ``Actor`` for the caller: display name, account, scope and org unit *code*; a
    department handler (no desk permission) acts for its own unit only (the service checks)."""
    return Actor(
        name=principal.display_name or principal.username,
        user_id=principal.user_id,
        scope=principal.scope,
        unit_code=principal.org_unit_code,
        any_unit=principal.can(Permission.events_desk),
    )


def require_action(principal: Principal, action: Action) -> None:
    principal.require(ACTION_PERMISSION[action])


def may(principal: Principal, action: Action) -> bool:
    return principal.can(ACTION_PERMISSION[action])


# ---------------------------------------------------------------------------------------------------------
# Rows → schemas


def _masked_phone(token: str | None) -> str | None:
    from gridgov.core.crypto import decrypt
    from gridgov.core.identifiers import mask_phone

    return mask_phone(decrypt(token, _PHONE_CONTEXT)) if token else None


def _masked_name(name: str | None) -> str | None:
    from gridgov.core.identifiers import mask_name

    return mask_name(name) if name else None


def _categories(session: Session, ids: Sequence[int]) -> dict[int, EventCategory]:
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(EventCategory).where(EventCategory.id.in_(set(ids))))}


def event_out(event: Event, category: EventCategory, principal: Principal) -> EventOut:
    actions = [
        a.value
        for a in allowed_actions(State(event.state))
        if a not in WHISTLE_ACTIONS - {Action.whistle} and may(principal, a)
    ]
    return EventOut(
        ticket=event.ticket,
        id=event.id,
        state=event.state,
        subtype_code=event.subtype_code,
        subtype_name=category.name,
        category_version=category.version,
        title=event.title,
        description=event.description,
        channel=event.channel,
        urgent=event.urgent,
        lon=event.lon,
        lat=event.lat,
        address_text=event.address_text,
        street_code=event.street_code,
        community_code=event.community_code,
        grid_code=event.grid_code,
        handling_unit_code=event.handling_unit_code,
        handling_level=event.handling_level,
        due_at=event.due_at,
        deadline_status=event.deadline_status,
        reworks=event.reworks,
        supervised=event.supervised,
        extension_pending=event.extension_pending,
        version=event.version,
        created_at=event.created_at,
        updated_at=event.updated_at,
        closed_at=event.closed_at,
        rating=event.rating,
        reporter_name=_masked_name(event.reporter_name),
        reporter_phone=_masked_phone(event.reporter_phone),
        allowed_actions=actions,
    )


def _summons(session: Session, event: Event) -> list[SummonsOut]:
    rows = session.execute(
        select(Whistle, WhistleSummons)
        .join(WhistleSummons, WhistleSummons.whistle_id == Whistle.id)
        .where(Whistle.event_id == event.id)
        .order_by(Whistle.id, WhistleSummons.department_code)
    )
    return [
        SummonsOut(
            whistle_id=whistle.id,
            ground=whistle.ground,
            hard_case=whistle.hard_case,
            blown_by=whistle.blown_by,
            blown_at=whistle.blown_at,
            department_code=summons.department_code,
            sign_due=summons.sign_due,
            contact_due=summons.contact_due,
            report_due=summons.report_due,
            signed_at=summons.signed_at,
            contacted_at=summons.contacted_at,
            reported_at=summons.reported_at,
            rating=summons.rating,
            comment=summons.comment,
        )
        for whistle, summons in rows
    ]


def event_detail(session: Session, event: Event, principal: Principal) -> EventDetail:
    session.flush()
    category = session.get(EventCategory, event.category_id)
    assert category is not None
    out = event_out(event, category, principal)
    return EventDetail(
        **out.model_dump(),
        timeline=[StepOut.model_validate(step) for step in service.timeline(session, event)],
        # Version 1 is the report itself: no whistle can have been blown yet (saves a query per filing).
        summons=_summons(session, event) if event.version > 1 else [],
    )


# ---------------------------------------------------------------------------------------------------------
# Event types


@router.get(
    "/api/events/categories",
    response_model=list[CategoryOut],
    openapi_extra={"x-scope": "permission:events.read"},
    summary="Event types (the current version of each), by class",
)
def list_categories(session: DbSession, principal: Reader) -> list[CategoryOut]:
    rows = session.scalars(
        select(EventCategory).where(EventCategory.active.is_(True)).order_by(EventCategory.code)
    )
    return [CategoryOut.model_validate(c) for c in rows]


@router.patch(
    "/api/events/categories/{code}",
    response_model=CategoryOut,
    openapi_extra={"x-scope": "permission:events.configure"},
    summary="Revise an event type: a new version (events already filed keep the rules they were filed under)",
)
def revise_category(
    session: DbSession, principal: Configurer, code: str, body: CategoryRevision
) -> CategoryOut:
    return CategoryOut.model_validate(service.revise_category(session, code, **body.changes()))


# ---------------------------------------------------------------------------------------------------------
# Events


def _channel(principal: Principal) -> str:
    return "department" if principal.role is Role.department_handler else "grid"


def _fresh_detail(filed: service.Filed, principal: Principal) -> EventDetail:
    """The answer for an event just filed, from the values written (nothing to read back)."""
    assert filed.category is not None
    event = Event(**filed.row)  # transient: never added to a session
    out = event_out(event, filed.category, principal)
    return EventDetail(**out.model_dump(), timeline=[StepOut(**filed.first_step)], summons=[])


def intake_writer(factory: sessionmaker[Session]) -> GroupCommit[Submission, service.Filed]:
    """The process's group-commit writer for filings (``app.state.event_intake``): concurrent reports are
    filed together, one transaction per batch, each answered after its commit."""

    def write(batch: Sequence[Submission]) -> list[service.Filed | Exception]:
        with transaction(factory) as session:
            outcomes: list[service.Filed | Exception] = list(
                service.file_events(
                    session,
                    [(new, actor) for new, actor, _who in batch],
                    audit_actors=[who for _new, _actor, who in batch],
                )
            )
        return outcomes

    return GroupCommit(write, name="event-intake")


@router.post(
    "/api/events",
    response_model=EventDetail,
    status_code=201,
    openapi_extra={"x-scope": "event:body"},
    summary="File an event by point or address (201; a retry with its Idempotency-Key: 200, the same event)",
)
async def report_event(
    request: Request,
    principal: Reporter,
    body: EventIn,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> EventDetail:
    new = NewEvent(
        subtype_code=body.subtype_code,
        title=body.title,
        channel=_channel(principal),
        description=body.description,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
        address_text=body.address_text,
        reporter_name=body.reporter_name,
        reporter_phone=body.reporter_phone,
        idempotency_key=idempotency_key,
        urgent=body.urgent,
    )
    # Filed with whatever other reports are waiting, in one transaction (``intake_writer``); the answer
    # comes after that commit. No request thread waits meanwhile.
    intake: GroupCommit[Submission, service.Filed] = request.app.state.event_intake
    filed = await asyncio.wrap_future(intake.submit((new, actor_of(principal), current_actor())))
    if filed.created:
        return _fresh_detail(filed, principal)
    # A retry answers with the earlier event as it is now: only when the caller may see it.
    factory: sessionmaker[Session] = request.app.state.session_factory

    def earlier() -> EventDetail:
        with transaction(factory) as session:
            event = service.get_event(session, filed.event_id, scope=principal.scope)
            return event_detail(session, event, principal)

    response.status_code = 200
    return await run_in_threadpool(earlier)


@router.get(
    "/api/events",
    response_model=list[EventOut],
    openapi_extra={"x-scope": "event:list"},
    summary="Events within my scope, newest first, with filters",
)
def list_events(
    session: DbSession,
    principal: Reader,
    state: Annotated[State | None, Query()] = None,
    subtype_code: Annotated[str | None, Query(max_length=8)] = None,
    street_code: Annotated[str | None, Query(max_length=15)] = None,
    community_code: Annotated[str | None, Query(max_length=15)] = None,
    grid_code: Annotated[str | None, Query(max_length=15)] = None,
    deadline_status: Annotated[str | None, Query(pattern="^(none|green|yellow|red)$")] = None,
    handling_unit_code: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> list[EventOut]:
    statement = select(Event).where(service.readable(principal.scope))
    filters = {
        Event.state: state.value if state is not None else None,
        Event.subtype_code: subtype_code,
        Event.street_code: street_code,
        Event.community_code: community_code,
        Event.grid_code: grid_code,
        Event.deadline_status: deadline_status,
        Event.handling_unit_code: handling_unit_code,
    }
    for column, value in filters.items():
        if value is not None:
            statement = statement.where(column == value)
    events = list(
        session.scalars(
            statement.order_by(Event.created_at.desc(), Event.id.desc()).limit(limit).offset(offset)
        )
    )
    categories = _categories(session, [e.category_id for e in events])
    return [event_out(e, categories[e.category_id], principal) for e in events]


@router.get(
    "/api/events.geojson",
    openapi_extra={"x-scope": "event:list"},
    summary="Events within my scope as map points (GeoJSON), newest first, by state",
)
def events_geojson(
    session: DbSession,
    principal: Reader,
    state: Annotated[list[State] | None, Query()] = None,
    street_code: Annotated[str | None, Query(max_length=15)] = None,
    community_code: Annotated[str | None, Query(max_length=15)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 2000,
) -> dict[str, object]:
    statement = select(Event, EventCategory.name).join(EventCategory, EventCategory.id == Event.category_id)
    statement = statement.where(service.readable(principal.scope), Event.lon.is_not(None))
    if state:
        statement = statement.where(Event.state.in_([s.value for s in state]))
    if street_code:
        statement = statement.where(Event.street_code == street_code)
    if community_code:
        statement = statement.where(Event.community_code == community_code)
    rows = session.execute(statement.order_by(Event.created_at.desc(), Event.id.desc()).limit(limit))
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [event.lon, event.lat]},
                "properties": {
                    "ticket": event.ticket,
                    "grid_code": event.grid_code,
                    "state": event.state,
                    "subtype": name,
                    "deadline_status": event.deadline_status,
                    "urgent": event.urgent,
                },
            }
            for event, name in rows
        ],
    }


@router.get(
    "/api/events/{ticket}",
    response_model=EventDetail,
    openapi_extra={"x-scope": "event:path"},
    summary="One event with its timeline and summoned departments",
)
def get_event(session: DbSession, principal: Reader, ticket: str) -> EventDetail:
    return event_detail(session, service.get_event(session, ticket, scope=principal.scope), principal)


@router.post(
    "/api/events/{ticket}/actions",
    response_model=EventDetail,
    openapi_extra={"x-scope": "event:write"},
    summary="A workflow action (accept, dispatch, sign, handle, verify, close …) on the version I read",
)
def act_on_event(session: DbSession, principal: Reader, ticket: str, body: ActionIn) -> EventDetail:
    action = body.action
    if action in WHISTLE_ACTIONS:
        raise InvalidInput(
            f"'{action.value}' has its own route: POST /api/events/{{ticket}}/whistle or …/summons"
        )
    require_action(principal, action)
    event = service.get_event(session, ticket, scope=principal.scope)
    actor = actor_of(principal)
    if action is Action.escalate:
        service.escalate(session, event, actor=actor, reason=body.reason or "", version=body.version)
        return event_detail(session, event, principal)
    unit = body.unit
    if action is Action.dispatch and not (unit and unit.strip()) and State(event.state) is State.accepted:
        unit = service.suggest_unit(session, event).code  # the 1+8+N rules pick; the desk may override
    service.act(
        session,
        event,
        action,
        actor=actor,
        version=body.version,
        note=body.note,
        reason=body.reason,
        unit=unit,
        rating=body.rating,
        duration=body.duration,
    )
    return event_detail(session, event, principal)


@router.post(
    "/api/events/{ticket}/whistle",
    response_model=EventDetail,
    openapi_extra={"x-scope": "event:write"},
    summary="Blow the whistle (吹哨): summon departments on a stated ground",
)
def blow_whistle(session: DbSession, principal: Reader, ticket: str, body: WhistleIn) -> EventDetail:
    require_action(principal, Action.whistle)
    event = service.get_event(session, ticket, scope=principal.scope)
    service.blow_whistle(
        session,
        event,
        actor=actor_of(principal),
        ground=body.ground,
        departments=body.departments,
        note=body.note,
        hard_case=body.hard_case,
        version=body.version,
    )
    return event_detail(session, event, principal)


@router.post(
    "/api/events/{ticket}/summons",
    response_model=EventDetail,
    openapi_extra={"x-scope": "event:write"},
    summary="A summoned department signs, contacts the street, reports in (报到); the desk rates it",
)
def summons_step(session: DbSession, principal: Reader, ticket: str, body: SummonsIn) -> EventDetail:
    action = Action(body.action)
    require_action(principal, action)
    event = service.get_event(session, ticket, scope=principal.scope)
    actor = actor_of(principal)
    service.summons_step(
        session, event, body.department, action, actor=actor, rating=body.rating, comment=body.comment
    )
    return event_detail(session, event, principal)


# ---------------------------------------------------------------------------------------------------------
# Likely duplicates and merging


@router.get(
    "/api/events/{ticket}/duplicates",
    response_model=list[EventOut],
    openapi_extra={"x-scope": "event:path"},
    summary="Likely duplicates: open events of one type reported near it in time and place, in my scope",
)
def event_duplicates(session: DbSession, principal: Reader, ticket: str) -> list[EventOut]:
    event = service.get_event(session, ticket, scope=principal.scope)
    found = service.likely_duplicates(session, event, scope=principal.scope)
    categories = _categories(session, [e.category_id for e in found])
    return [event_out(e, categories[e.category_id], principal) for e in found]


@router.post(
    "/api/events/{ticket}/merge",
    response_model=EventDetail,
    openapi_extra={"x-scope": "event:write"},
    summary="Merge a reported duplicate into the event it repeats (不予立案), on the version I read",
)
def merge_event(session: DbSession, principal: Reader, ticket: str, body: MergeIn) -> EventDetail:
    # A merge cancels the duplicate: whoever may cancel may merge (the routing policy above).
    require_action(principal, Action.cancel)
    duplicate = service.get_event(session, ticket, scope=principal.scope)
    into = service.get_event(session, body.into.strip().upper(), scope=principal.scope)
    service.merge(session, duplicate, into=into, actor=actor_of(principal), version=body.version)
    return event_detail(session, duplicate, principal)
