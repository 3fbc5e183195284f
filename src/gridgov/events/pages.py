"""HTML pages of the events line (issue 5, item 8): the public snap-report (随手拍) form and ticket-status
page, the event desk (受理/派遣台) and the event detail with its timeline, map and action forms.

- ``/report`` needs no login. Its form carries a double-submit CSRF token (a cookie and a hidden field, as the
  login form does before anyone is logged in) and an idempotency key made when the form was served, so a
  double submit files one event. The page calls ``events.service.submit`` with channel ``public``.
- ``/report/{ticket}`` shows a reporter what became of the report: state, type, time, the public steps of the
  timeline (never a name, phone or operator's note) and the rating. An event of a non-public class
  (`events.access`) is shown only with the access code printed on the receipt (``?access_code=``); without
  it, the page answers as for an unknown ticket. Filing and looking up are rate-limited per client.
- ``/report/addresses?q=`` feeds the form's address type-ahead: at most 8 building-level standard addresses
  (text and point only, never a dwelling) from the address library's in-memory index; no login, like the form.
- ``/events`` and ``/events/{ticket}`` are the desk: the queue within the caller's area scope (events with
  likely duplicates in the scope marked), and one event with the actions the API allows this caller and its
  likely duplicates, which the desk may merge; static/js/events.js posts them to ``/api/events/...`` with
  the event's version and the session's CSRF header.

Every string is translated in the templates; scripts get theirs in JSON blocks (the CSP allows no inline
script).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from gridgov.accounts.deps import require_page
from gridgov.accounts.middleware import client_address
from gridgov.accounts.models import OrgUnit
from gridgov.accounts.pages import cookie_secure
from gridgov.accounts.permissions import Permission, Role
from gridgov.accounts.scoping import Principal
from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.core.deps import DbSession
from gridgov.core.errors import GridgovError, InvalidInput, NotFound, OutsideDistrict
from gridgov.core.i18n import pick_language, translate
from gridgov.core.ratelimit import RateLimited, limiter_of
from gridgov.core.settings import get_settings
from gridgov.core.templating import render
from gridgov.events import access, service
from gridgov.events.models import Event, EventCategory
from gridgov.events.schemas import AddressSuggestion
from gridgov.events.service import SYSTEM, NewEvent
from gridgov.events.workflow import ACTIONS, OPEN_STATES, Action, State

router = APIRouter(tags=["pages"], include_in_schema=False)

NANSHAN_DISTRICT_CODE: Final = "440305000000"
REPORT_CSRF_COOKIE: Final = "gridgov_report_csrf"
LOCAL_TIME: Final = ZoneInfo("Asia/Shanghai")
_TICKET: Final = re.compile(r"^[0-9A-Za-z]{4,24}$")
_TOKEN: Final = re.compile(r"^[0-9A-Za-z_-]{16,64}$")
#: Timeline steps a reporter sees on the public ticket page (internal turns — returns, extensions,
#: supervision, escalation, the whistle — stay on the desk).
PUBLIC_STEPS: Final = frozenset(
    {"report", "accept", "cancel", "dispatch", "sign", "handle", "verify", "close", "evaluate", "reopen"}
)
#: The desk's tabs: every state, and the overdue (red) events across the open states.
DESK_TABS: Final = ("all", *(s.value for s in State), "overdue")
DESK_LIMIT: Final = 200
#: Actions the desk page does not offer as workflow buttons (the whistle has its own form).
_OWN_FORMS: Final = frozenset({Action.whistle})
#: States in which an event's likely duplicates matter to the desk (a finished event is not merged into).
_LIVE_STATES: Final = frozenset({State.reported, *OPEN_STATES})
#: The public type-ahead: query length bounds, suggestions shown, and hits asked of the index for them
#: (it ranks buildings first, but a building's dwellings, never offered, can crowd out looser building hits).
ADDRESS_QUERY_MIN: Final = 2
ADDRESS_QUERY_MAX: Final = 100
ADDRESS_SUGGESTIONS: Final = 8
_ADDRESS_HITS: Final = 40


def local_time(moment: datetime | None) -> str:
    """A stored (UTC) time as Shenzhen wall-clock time, to the minute."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M")


def _category_name(category: EventCategory, lang: str) -> str:
    return category.name_en if lang == "en" and category.name_en else category.name


def _area_names(session: Session, codes: set[str]) -> dict[str, str]:
    from gridgov.areas.models import Community, Street

    codes.discard("")
    if not codes:
        return {}
    names: dict[str, str] = {}
    for model in (Street, Community):
        for code, name in session.execute(select(model.code, model.name).where(model.code.in_(codes))):
            names[code] = name
    return names


def _unit_names(session: Session) -> dict[str, str]:
    return {code: name for code, name in session.execute(select(OrgUnit.code, OrgUnit.name))}


def _map_config(request: Request) -> dict[str, Any]:
    root = request.scope.get("root_path", "")
    return {
        "tileUrl": get_settings().tile_url,
        "outlines": f"{root}/report/streets.geojson",
        "addresses": f"{root}/report/addresses",
    }


# ---------------------------------------------------------------------------------------------------------
# Public: the snap-report form, the street outlines it draws, the ticket page


def _categories_by_class(session: Session, lang: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(EventCategory).where(EventCategory.active.is_(True)).order_by(EventCategory.code)
    )
    groups: dict[str, dict[str, Any]] = {}
    for category in rows:
        group = groups.setdefault(
            category.major_code, {"code": category.major_code, "name": category.major_name, "types": []}
        )
        group["types"].append({"code": category.code, "name": _category_name(category, lang)})
    return list(groups.values())


def _report_csrf(request: Request) -> str:
    """The double-submit token: the one this browser already holds (several open tabs keep working)."""
    held = request.cookies.get(REPORT_CSRF_COOKIE, "")
    return held if _TOKEN.match(held) else secrets.token_urlsafe(24)


def _report_form(
    request: Request,
    session: Session,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    lang = pick_language(request)
    token = _report_csrf(request)
    form = dict(values or {})
    # One key per filled-in form: a second press of the button (or a retry) finds the first event.
    if not _TOKEN.match(form.get("idempotency_key", "")):
        form["idempotency_key"] = secrets.token_urlsafe(24)
    response = render(
        request,
        "events/report.html",
        {
            "nav": "report",
            "groups": _categories_by_class(session, lang),
            "form": form,
            "error": error,
            "report_csrf": token,
            "events_config": {**_map_config(request), "page": "report"},
        },
        status_code=status_code,
    )
    response.set_cookie(
        REPORT_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        max_age=3 * 3600,
    )
    return response


@router.get("/report", response_class=HTMLResponse)
def report_form(request: Request, session: DbSession) -> Response:
    """The public snap-report (随手拍) form: no login."""
    return _report_form(request, session)


def _coordinate(text: str, low: float, high: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


class _PhotoRefused(Exception):
    """A report's photo cannot be used: the report is not filed (its savepoint rolls back)."""


@router.post("/report", response_class=HTMLResponse, openapi_extra={"x-scope": "public"})
def submit_report(
    request: Request,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    idempotency_key: Annotated[str, Form(max_length=64)] = "",
    subtype_code: Annotated[str, Form(max_length=8)] = "",
    title: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    lon: Annotated[str, Form(max_length=32)] = "",
    lat: Annotated[str, Form(max_length=32)] = "",
    address_text: Annotated[str, Form(max_length=500)] = "",
    reporter_name: Annotated[str, Form(max_length=64)] = "",
    reporter_phone: Annotated[str, Form(max_length=32)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """File a public report, with its photo if one is sent; answer with its ticket code and access code (a
    repeated submit answers with the same ticket and a new access code; the earlier code stops working)."""
    lang = pick_language(request)
    values = {
        "idempotency_key": idempotency_key,
        "subtype_code": subtype_code,
        "title": title,
        "description": description,
        "lon": lon,
        "lat": lat,
        "address_text": address_text,
        "reporter_name": reporter_name,
        "reporter_phone": reporter_phone,
    }

    def again(message: str, status: int) -> Response:
        return _report_form(request, session, values=values, error=message, status_code=status)

    try:
        limiter_of(request).hit("report", client_address(request) or "unknown")
    except RateLimited as exc:
        refused = again(translate("report.error.rate", lang, seconds=exc.retry_after), 429)
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    expected = request.cookies.get(REPORT_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return again(translate("report.error.csrf", lang), 403)
    if not _TOKEN.match(idempotency_key):
        return again(translate("report.error.expired", lang), 400)
    if not subtype_code:
        return again(translate("report.error.type", lang), 422)
    if not title.strip():
        return again(translate("report.error.title", lang), 422)
    point_lon = _coordinate(lon, -180, 180) if lon else None
    point_lat = _coordinate(lat, -90, 90) if lat else None
    has_point = point_lon is not None and point_lat is not None
    if not has_point and not address_text.strip():
        return again(translate("report.error.place", lang), 422)
    if reporter_phone.strip():
        from gridgov.core.identifiers import normalise_phone

        try:
            normalise_phone(reporter_phone)
        except InvalidInput:
            return again(translate("report.error.phone", lang), 422)
    new = NewEvent(
        subtype_code=subtype_code,
        title=title.strip(),
        channel="public",
        description=description.strip(),
        lon=point_lon if has_point else None,
        lat=point_lat if has_point else None,
        address_text=address_text.strip() or None,
        reporter_name=reporter_name.strip() or None,
        reporter_phone=reporter_phone.strip() or None,
        idempotency_key=f"public:{idempotency_key}",
    )
    picture = photo.file.read(service.MAX_PHOTO_BYTES + 1) if photo is not None and photo.filename else b""
    try:
        # The event and its photo together: a photo that cannot be used files nothing (the form says why).
        with session.begin_nested():
            event, created = service.submit(session, new, actor=SYSTEM)
            if created and picture:
                try:
                    service.store_photo(session, event, picture)
                except InvalidInput as exc:
                    raise _PhotoRefused(exc.message) from exc
            code = access.issue(session, event)
    except _PhotoRefused as refused:
        return again(translate("report.error.photo", lang, reason=str(refused)), 422)
    except OutsideDistrict:
        return again(translate("report.error.outside", lang), 422)
    except GridgovError:
        if has_point:
            return again(translate("report.error.failed", lang), 422)
        return again(translate("report.error.address", lang), 422)
    return render(
        request,
        "events/report_done.html",
        {
            "nav": "report",
            "ticket": event.ticket,
            "access_code": code,
            "created_at": local_time(event.created_at),
        },
    )


@router.get("/report/streets.geojson")
def street_outlines(session: DbSession) -> Response:
    """The district's street outlines for the public map (public information; no finer areas)."""
    from gridgov.areas import service as areas

    try:
        streets = areas.children(session, NANSHAN_DISTRICT_CODE, scope=WHOLE_DISTRICT)
    except NotFound:
        streets = []
    return JSONResponse(
        areas.feature_collection(streets),
        media_type="application/geo+json",
        headers={"Cache-Control": "max-age=3600"},
    )


@router.get(
    "/report/addresses",
    response_model=list[AddressSuggestion],
    openapi_extra={"x-scope": "public"},
)
def address_suggestions(session: DbSession, q: Annotated[str, Query()] = "") -> list[AddressSuggestion]:
    """Type-ahead for the public form: building-level standard addresses containing ``q``, with their points
    (no login; public information: the texts and places of buildings, never a dwelling or anyone's data)."""
    from gridgov.address.typeahead import search_addresses

    text = q.strip()
    if not ADDRESS_QUERY_MIN <= len(text) <= ADDRESS_QUERY_MAX:
        raise InvalidInput(
            f"Type {ADDRESS_QUERY_MIN} to {ADDRESS_QUERY_MAX} characters of the address (got {len(text)})"
        )
    hits = search_addresses(
        session,
        text,
        # Lines without an area in our hierarchy come from other districts: not for a Nanshan report.
        visible=lambda area: area is not None,
        limit=_ADDRESS_HITS,
        # While a large library's index is first built in the background, an anonymous caller gets no
        # suggestions rather than the table-scanning LIKE fallback.
        fallback=lambda: [],
    )
    found = [
        AddressSuggestion(text=a.text, lon=a.lon, lat=a.lat)
        for a in hits
        if a.level == "building" and a.lon is not None and a.lat is not None
    ]
    return found[:ADDRESS_SUGGESTIONS]


def _event_by_ticket(session: Session, ticket: str, principal: Principal | None = None) -> Event:
    if not _TICKET.match(ticket):
        raise NotFound(f"No event {ticket[:24]}")
    return service.get_event(session, ticket, scope=principal.scope if principal else WHOLE_DISTRICT)


@router.get("/report/{ticket}", response_class=HTMLResponse)
def ticket_page(
    request: Request,
    session: DbSession,
    ticket: str,
    access_code: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """What became of a report, for whoever holds the ticket code (and, for a non-public class, the access
    code): nobody's name, phone or note. An unknown ticket and a non-public one without its code answer
    alike: 404 and a form asking for both."""
    lang = pick_language(request)
    try:
        limiter_of(request).hit("ticket_page", client_address(request) or "unknown")
    except RateLimited as exc:
        refused = render(
            request,
            "error.html",
            {"status": 429, "message": translate("report.error.rate", lang, seconds=exc.retry_after)},
            status_code=429,
        )
        refused.headers["Retry-After"] = str(exc.retry_after)
        return refused
    event: Event | None
    try:
        event = _event_by_ticket(session, ticket.upper())
    except NotFound:
        event = None
    category = session.get(EventCategory, event.category_id) if event is not None else None
    if event is None or category is None or not access.may_follow(event, category, [access_code]):
        return render(
            request,
            "events/ticket_code.html",
            {
                "nav": "report",
                "ticket": ticket.upper() if _TICKET.match(ticket) else "",
                "tried": bool(access_code),
            },
            status_code=404,
        )
    steps = [
        {"action": step.action, "at": local_time(step.at)}
        for step in service.timeline(session, event)
        if step.action in PUBLIC_STEPS
    ]
    areas = _area_names(session, {event.street_code or "", event.community_code or ""})
    return render(
        request,
        "events/ticket.html",
        {
            "nav": "report",
            "event": event,
            "type_name": _category_name(category, lang),
            "street": areas.get(event.street_code or ""),
            "community": areas.get(event.community_code or ""),
            "created_at": local_time(event.created_at),
            "closed_at": local_time(event.closed_at),
            "steps": steps,
        },
    )


# ---------------------------------------------------------------------------------------------------------
# The desk


@router.get("/events", response_class=HTMLResponse)
def desk_page(
    request: Request,
    session: DbSession,
    principal: Annotated[Principal, require_page(Permission.events_read)],
    state: Annotated[str, Query(max_length=16)] = "all",
    urgent: Annotated[bool, Query()] = False,
) -> Response:
    """The queue within my scope: by state (or overdue), urgent ones only on request, newest first."""
    lang = pick_language(request)
    tab = state if state in DESK_TABS else "all"
    in_scope = principal.scope.clause(Event.grid_code)
    if principal.role is Role.department_handler:
        # A department's desk is its inbox: what was dispatched to it or whistled it in.
        from gridgov.events.api import actor_of

        unit_code = actor_of(principal).unit_code
        if unit_code:
            in_scope = and_(in_scope, service.inbox_clause(unit_code))
    counts: dict[str, int] = defaultdict(int)
    for value, count in session.execute(
        select(Event.state, func.count()).where(in_scope).group_by(Event.state)
    ):
        counts[value] = int(count)
        counts["all"] += int(count)
    counts["overdue"] = int(
        session.scalar(
            select(func.count()).select_from(Event).where(in_scope, Event.deadline_status == "red")
        )
        or 0
    )
    statement = select(Event, EventCategory).join(EventCategory, EventCategory.id == Event.category_id)
    statement = statement.where(in_scope)
    if tab == "overdue":
        statement = statement.where(Event.deadline_status == "red")
    elif tab != "all":
        statement = statement.where(Event.state == tab)
    if urgent:
        statement = statement.where(Event.urgent.is_(True))
    events = [
        (event, category)
        for event, category in session.execute(
            statement.order_by(Event.created_at.desc(), Event.id.desc()).limit(DESK_LIMIT)
        )
    ]
    areas = _area_names(
        session, {e.street_code or "" for e, _c in events} | {e.community_code or "" for e, _c in events}
    )
    units = _unit_names(session)
    duplicates = _duplicate_counts(session, [e for e, _c in events], principal)
    return render(
        request,
        "events/desk.html",
        {
            "nav": "events",
            "tab": tab,
            "tabs": DESK_TABS,
            "urgent": urgent,
            "counts": counts,
            "limit": DESK_LIMIT,
            "rows": [
                {
                    "event": e,
                    "type_name": _category_name(c, lang),
                    "place": " › ".join(
                        n for n in (areas.get(e.street_code or ""), areas.get(e.community_code or "")) if n
                    ),
                    "unit": units.get(e.handling_unit_code or "", e.handling_unit_code or ""),
                    "created_at": local_time(e.created_at),
                    "due_at": local_time(e.due_at),
                    "duplicates": duplicates.get(e.id, 0),
                }
                for e, c in events
            ],
        },
    )


def _duplicate_counts(session: Session, events: list[Event], principal: Principal) -> dict[int, int]:
    """How many likely duplicates within the caller's scope each live event of the queue has (by id)."""
    live = [event for event in events if State(event.state) in _LIVE_STATES]
    found = service.likely_duplicates_of(session, live, scope=principal.scope)
    return {event_id: len(duplicates) for event_id, duplicates in found.items()}


def _duplicate_rows(
    request: Request, session: Session, event: Event, principal: Principal, lang: str
) -> list[dict[str, Any]]:
    """The event's likely duplicates within the caller's scope, each with the merges the desk may make:
    this event into it (while this one is still reported), or it into this one (while it is reported and
    this one is live)."""
    from gridgov.events.api import may

    found = service.likely_duplicates(session, event, scope=principal.scope)
    if not found:
        return []
    root = request.scope.get("root_path", "")
    can_merge = may(principal, Action.cancel)
    categories = {
        c.id: c
        for c in session.scalars(
            select(EventCategory).where(EventCategory.id.in_({e.category_id for e in found}))
        )
    }
    areas = _area_names(session, {e.community_code or "" for e in found})
    rows = []
    for other in found:
        merges = []
        if can_merge and event.state == State.reported.value:
            merges.append(
                {
                    "kind": "this_into",
                    "url": f"{root}/api/events/{event.ticket}/merge",
                    "into": other.ticket,
                    "version": event.version,
                }
            )
        if can_merge and other.state == State.reported.value and State(event.state) in _LIVE_STATES:
            merges.append(
                {
                    "kind": "into_this",
                    "url": f"{root}/api/events/{other.ticket}/merge",
                    "into": event.ticket,
                    "version": other.version,
                }
            )
        rows.append(
            {
                "event": other,
                "type_name": _category_name(categories[other.category_id], lang),
                "place": areas.get(other.community_code or "", ""),
                "created_at": local_time(other.created_at),
                "merges": merges,
            }
        )
    return rows


def _merged_into(session: Session, event: Event, principal: Principal) -> dict[str, Any] | None:
    """The event this one was merged into: its ticket, linked when the caller may open it."""
    if event.duplicate_of_id is None:
        return None
    into = session.get(Event, event.duplicate_of_id)
    if into is None:
        return None
    return {"ticket": into.ticket, "visible": principal.scope.covers(into.grid_code)}


def _action_forms(event: Event, allowed: list[str]) -> list[dict[str, Any]]:
    """The actions to offer: what the API allows this caller, minus those the event's data rules out."""
    forms = []
    for name in allowed:
        action = Action(name)
        if action in _OWN_FORMS:
            continue
        if action in (Action.approve_extension, Action.deny_extension) and event.extension_pending is None:
            continue
        if action is Action.request_extension and event.extension_pending is not None:
            continue
        rule = ACTIONS[action]
        needs = [
            field
            for field, needed in (
                ("unit", rule.needs_unit),
                ("reason", rule.needs_reason),
                ("rating", rule.needs_rating),
                ("duration", rule.needs_duration),
            )
            if needed
        ]
        forms.append({"action": action.value, "needs": needs})
    return forms


@router.get("/events/{ticket}", response_class=HTMLResponse)
def event_page(
    request: Request,
    session: DbSession,
    principal: Annotated[Principal, require_page(Permission.events_read)],
    ticket: str,
) -> Response:
    """One event: its fields, the pin, the full timeline, summoned departments and the actions I may take."""
    from gridgov.events.api import event_detail

    lang = pick_language(request)
    event = _event_by_ticket(session, ticket, principal)
    detail = event_detail(session, event, principal)
    category = session.get(EventCategory, event.category_id)
    assert category is not None
    units = {
        u.code: u
        for u in session.scalars(select(OrgUnit).where(OrgUnit.active.is_(True)).order_by(OrgUnit.code))
    }
    suggested = None
    if "dispatch" in detail.allowed_actions:
        try:
            suggested = service.suggest_unit(session, event).code
        except NotFound:
            suggested = None
    unit_groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for unit in units.values():
        unit_groups[unit.kind].append({"code": unit.code, "name": unit.name})
    areas = _area_names(session, {event.street_code or "", event.community_code or ""})
    forms = _action_forms(event, detail.allowed_actions)
    root = request.scope.get("root_path", "")
    config = {
        **_map_config(request),
        "page": "detail",
        "ticket": event.ticket,
        "version": event.version,
        "lon": event.lon,
        "lat": event.lat,
        # Cookie-authenticated API writes echo the session's CSRF token (X-CSRF-Token).
        "csrfToken": getattr(request.state, "csrf_token", None),
        "api": {
            "actions": f"{root}/api/events/{event.ticket}/actions",
            "whistle": f"{root}/api/events/{event.ticket}/whistle",
            "summons": f"{root}/api/events/{event.ticket}/summons",
        },
    }
    return render(
        request,
        "events/detail.html",
        {
            "nav": "events",
            "event": detail,
            "type_name": _category_name(category, lang),
            "category": category,
            "street": areas.get(event.street_code or ""),
            "community": areas.get(event.community_code or ""),
            "unit_name": units[event.handling_unit_code].name
            if event.handling_unit_code in units
            else event.handling_unit_code,
            "units": units,
            "unit_groups": dict(unit_groups),
            "departments": unit_groups.get("department", []),
            "suggested": suggested,
            "forms": forms,
            "can_whistle": "whistle" in detail.allowed_actions,
            "can_handle": principal.can(Permission.events_handle),
            "can_desk": principal.can(Permission.events_desk),
            "grounds": service.WHISTLE_GROUNDS,
            "duplicates": _duplicate_rows(request, session, event, principal, lang),
            "merged_into": _merged_into(session, event, principal),
            "duplicate_radius": round(service.DUPLICATE_RADIUS_M),
            "duplicate_hours": round(service.DUPLICATE_WINDOW.total_seconds() / 3600),
            "timeline": [{"step": step, "at": local_time(step.at)} for step in detail.timeline],
            "summons": [
                {
                    "row": s,
                    "name": units[s.department_code].name
                    if s.department_code in units
                    else s.department_code,
                    "times": {
                        name: local_time(getattr(s, name))
                        for name in (
                            "blown_at",
                            "sign_due",
                            "signed_at",
                            "contact_due",
                            "contacted_at",
                            "report_due",
                            "reported_at",
                        )
                    },
                }
                for s in detail.summons
            ],
            "times": {
                "created_at": local_time(detail.created_at),
                "due_at": local_time(detail.due_at),
                "closed_at": local_time(detail.closed_at),
            },
            "events_config": config,
        },
    )
