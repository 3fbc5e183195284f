"""Open311 GeoReport v2 at ``/open311/v2/`` (issue 5, item 7): a protocol adapter over the events service.

Existing Open311 clients work against it unchanged:

- ``GET /services.{format}`` — every active event subtype as a service (``group`` = its major class);
  ``GET /services/{service_code}.{format}`` — its definition (no extra attributes).
- ``POST /requests.{format}`` — form-encoded as the spec says (JSON accepted too), with an ``api_key``;
  filed through `events.service.submit` on the public channel. An ``Idempotency-Key`` header makes a retry
  answer with the request the first attempt made (the key is kept per api_key, so clients cannot collide).
- ``GET /requests.{format}`` with the spec's filters (``service_request_id``, ``service_code``,
  ``start_date``, ``end_date``, ``status``; the last 90 days by default, at most 1,000 requests);
  ``GET /requests/{id}.{format}``; ``GET /tokens/{token}.{format}`` (we answer synchronously: the token is
  the ticket).
- ``json`` and ``xml``; errors as ``[{"code": N, "description": "…"}]`` / ``<errors><error>…`` with
  HTTP 400 (bad input, unknown service, outside the district), 403 (missing or unknown api_key) and
  404 (no such request).

Our workflow states map to ``open`` / ``closed``; ``status_notes`` says where the event stands, Chinese first.

What the public sees (`events.access`): the request list (without ``service_request_id``) shows only events
of the public classes (by default the urban-management classes: public space, like FixMyStreet); other events
(disputes, public security, care …) are answered only to whoever names their ticket *and* gives its
``access_code`` (returned to the client that filed it). At most `MAX_TICKETS` tickets per lookup (more: 400).
Reporter details (name, phone, e-mail) are never returned; an e-mail address is not stored (we have no
encrypted place for it).

Every route counts against the caller's rate limits (`core.ratelimit`: ``open311_get`` for reads,
``open311_post`` for filing, ``key_failures`` for a missing or wrong api_key): a refusal is a 429 in the
spec's error shape with ``Retry-After``.

API keys (`create_key`, `list_keys`, `revoke_key`, `check_key`) are stored as SHA-256 digests and shown once;
``gridgov open311 keys create NAME`` prints a new one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Final
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gridgov.accounts.middleware import client_address
from gridgov.accounts.models import OrgUnit
from gridgov.areas.models import Community, Street
from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.core import jsonbody
from gridgov.core.clock import CHINA_TZ, get_clock
from gridgov.core.deps import DbSession
from gridgov.core.errors import Conflict, GridgovError, InvalidInput, NotFound
from gridgov.core.ratelimit import RateLimited, limiter_of
from gridgov.events import access, service
from gridgov.events.models import Event, EventCategory, EventStep, Open311Key
from gridgov.events.workflow import State

router = APIRouter(prefix="/open311/v2", tags=["open311"])
# Open to everyone (POST needs an Open311 api_key instead of an account): see tests/test_scope_walk.py.
PUBLIC: Final = {"x-scope": "public"}

FORMATS: Final = ("json", "xml")
OPEN_STATES_311: Final = frozenset(
    {State.reported, State.accepted, State.dispatched, State.signed, State.handled, State.verified}
)
CLOSED_STATES_311: Final = frozenset({State.closed, State.evaluated, State.cancelled})
DEFAULT_WINDOW: Final = timedelta(days=90)
MAX_REQUESTS: Final = 1000
#: Tickets (and access codes) one lookup may name: enough for a client following its own requests.
MAX_TICKETS: Final = 20
KEY_NAME_MAX: Final = 64

# Where each state stands, said to the public (Chinese first). {unit}: the handling unit's name.
STATE_LABELS: Final = {
    State.reported: "已上报",
    State.accepted: "已立案",
    State.dispatched: "已派遣",
    State.signed: "已签收",
    State.handled: "已处置",
    State.verified: "已核查",
    State.closed: "已结案",
    State.evaluated: "已评价",
    State.cancelled: "不予立案",
}
STATE_SENTENCES: Final = {
    State.reported: "已上报，等待受理 (reported, awaiting review)",
    State.accepted: "已立案，等待派遣 (accepted, awaiting dispatch)",
    State.dispatched: "已派遣：{unit} (dispatched to {unit_en})",
    State.signed: "已签收：{unit} 正在处置 (taken on by {unit_en})",
    State.handled: "已处置，等待现场核查 (handled, awaiting on-site verification)",
    State.verified: "已现场核查，等待结案 (verified on site, awaiting closing)",
    State.closed: "已结案 (closed)",
    State.evaluated: "已结案并评价 (closed and evaluated)",
    State.cancelled: "不予立案 (not accepted)",
}


# ---------------------------------------------------------------------------------------------------------
# API keys (Open311 protocol adapters: stored as SHA-256, shown once)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, name: str) -> str:
    """A new api_key for a client called ``name``; returns the key (shown once, stored as its SHA-256)."""
    name = (name or "").strip()
    if not name or len(name) > KEY_NAME_MAX:
        raise InvalidInput(f"An Open311 key name is 1 to {KEY_NAME_MAX} characters")
    if session.scalars(select(Open311Key.id).where(Open311Key.name == name)).first() is not None:
        raise Conflict(f"An Open311 key named '{name}' exists already: revoke it or choose another name")
    key = secrets.token_urlsafe(32)
    session.add(Open311Key(name=name, key_hash=_digest(key), created_at=get_clock().now()))
    session.flush()
    return key


def list_keys(session: Session) -> list[Open311Key]:
    return list(session.scalars(select(Open311Key).order_by(Open311Key.name)))


def revoke_key(session: Session, name: str) -> Open311Key:
    """Stop a key working (kept for the record); revoking twice keeps the first time."""
    row = session.scalars(select(Open311Key).where(Open311Key.name == name)).first()
    if row is None:
        raise NotFound(f"No Open311 key named '{name}'")
    if row.revoked_at is None:
        row.revoked_at = get_clock().now()
        session.flush()
    return row


def check_key(session: Session, key: str | None) -> Open311Key | None:
    """The active key row for ``key``, or None when it is missing, unknown or revoked."""
    if not key:
        return None
    row = session.scalars(select(Open311Key).where(Open311Key.key_hash == _digest(key.strip()))).first()
    if row is None or row.revoked_at is not None:
        return None
    return row


# ---------------------------------------------------------------------------------------------------------
# Output: JSON and XML


class Open311Error(Exception):
    """An error answered in the spec's shape: ``[{"code": N, "description": "…"}]``."""

    def __init__(self, status: int, description: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = dict(headers or {})


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(400, f"Unknown format '{fmt}': use .json or .xml")
    return fmt


def _xml_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml(root: str, item: str, rows: Iterable[Mapping[str, object]]) -> bytes:
    top = ET.Element(root)
    for row in rows:
        element = ET.SubElement(top, item)
        for key, value in row.items():
            child = ET.SubElement(element, key)
            if isinstance(value, list):  # service definition attributes: none yet
                for entry in value:
                    ET.SubElement(child, "attribute").text = _xml_value(entry)
            else:
                child.text = _xml_value(value)
    return _xml_bytes(top)


def _xml_bytes(top: ET.Element) -> bytes:
    # The spec asks for the declaration with encoding="UTF-8" before the root element.
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(top, encoding="unicode").encode("utf-8")


def _answer(
    fmt: str, root: str, item: str, rows: Sequence[Mapping[str, object]], status: int = 200
) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, rows), status_code=status, media_type="text/xml; charset=utf-8")
    return JSONResponse(list(rows), status_code=status)


def _error(fmt: str, status: int, description: str) -> Response:
    rows = [{"code": status, "description": description}]
    return _answer(fmt if fmt in FORMATS else "json", "errors", "error", rows, status)


def error_response(request: Request, exc: Exception) -> Response:
    """The app's handler for `Open311Error` (registered in ``create_app``): every route raises it, and the
    answer takes the format the path asked for (JSON when that format is not one of ours). Raising rolls
    the request's transaction back."""
    assert isinstance(exc, Open311Error)
    response = _error(str(request.path_params.get("format", "json")), exc.status, exc.description)
    response.headers.update(exc.headers)
    return response


def _limit(request: Request, name: str, *, count: bool = True) -> None:
    """Count this call against the client's ``name`` limit (``count=False``: only check it is not full);
    over it: 429 in the spec's error shape, with Retry-After."""
    limiter = limiter_of(request)
    address = client_address(request) or "unknown"
    try:
        if count:
            limiter.hit(name, address)
        else:
            limiter.check(name, address)
    except RateLimited as exc:
        raise Open311Error(429, exc.message, headers={"Retry-After": str(exc.retry_after)}) from exc


def _from_domain(exc: GridgovError) -> Open311Error:
    status = exc.http_status if exc.http_status in (403, 404) else 400
    return Open311Error(status, exc.message)


# ---------------------------------------------------------------------------------------------------------
# Services


def _active_categories(session: Session) -> list[EventCategory]:
    rows = session.scalars(
        select(EventCategory)
        .where(EventCategory.active.is_(True))
        .order_by(EventCategory.code, EventCategory.version.desc())
    )
    newest: dict[str, EventCategory] = {}
    for row in rows:
        newest.setdefault(row.code, row)
    return list(newest.values())


def _limit_text(category: EventCategory) -> str:
    value = f"{category.limit_value:g}"
    if category.limit_unit == "working_days":
        return f"{value} 个工作日 ({value} working days)"
    return f"{value} 个工作小时 ({value} working hours)"


def service_row(category: EventCategory) -> dict[str, object]:
    english = f" ({category.name_en})" if category.name_en else ""
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": (
            f"{category.name}{english}。处置时限 {_limit_text(category)}；结案条件：{category.closing}"
        ),
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(k for k in (category.name, category.name_en, category.major_name) if k),
        "group": category.major_name,
    }


@router.get(
    "/services.{format}", openapi_extra=PUBLIC, summary="Open311: the services (event subtypes) we accept"
)
def list_services(session: DbSession, format: str) -> Response:
    fmt = _check_format(format)
    rows = [service_row(c) for c in _active_categories(session)]
    return _answer(fmt, "services", "service", rows)


@router.get(
    "/services/{service_code}.{format}",
    openapi_extra=PUBLIC,
    summary="Open311: one service's definition (no extra attributes)",
)
def service_definition(session: DbSession, service_code: str, format: str) -> Response:
    fmt = _check_format(format)
    try:
        category = service.current_category(session, service_code)
    except InvalidInput:
        return _error(fmt, 404, f"No service '{service_code}': see /open311/v2/services.{fmt}")
    definition: dict[str, object] = {"service_code": category.code, "attributes": []}
    if fmt == "xml":
        top = ET.Element("service_definition")
        ET.SubElement(top, "service_code").text = category.code
        ET.SubElement(top, "attributes")
        return Response(_xml_bytes(top), media_type="text/xml; charset=utf-8")
    return JSONResponse(definition)


# ---------------------------------------------------------------------------------------------------------
# Requests: reading


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(CHINA_TZ).isoformat(timespec="seconds")


def open_or_closed(state: str) -> str:
    return "closed" if State(state) in CLOSED_STATES_311 else "open"


def status_notes(event: Event, unit: OrgUnit | None, note: str | None) -> str:
    """Where the event stands: the reason given for its current state, or a sentence about it."""
    state = State(event.state)
    if note and note.strip():
        return f"{STATE_LABELS[state]}：{note.strip()}"
    name = unit.name if unit is not None else "处置单位"
    name_en = (unit.name_en or unit.name) if unit is not None else "the handling unit"
    return STATE_SENTENCES[state].format(unit=name, unit_en=name_en)


@dataclass
class _Lookups:
    units: dict[str, OrgUnit]
    notes: dict[int, str | None]
    places: dict[str, str]


def _lookups(session: Session, events: Sequence[Event]) -> _Lookups:
    unit_codes = {e.handling_unit_code for e in events if e.handling_unit_code}
    units = (
        {u.code: u for u in session.scalars(select(OrgUnit).where(OrgUnit.code.in_(unit_codes)))}
        if unit_codes
        else {}
    )
    notes: dict[int, str | None] = {}
    ids = [e.id for e in events]
    if ids:
        # The latest step that changed the state (or reported the event) says why it stands where it does.
        latest = (
            select(func.max(EventStep.id))
            .where(
                EventStep.event_id.in_(ids),
                or_(EventStep.from_state.is_(None), EventStep.from_state != EventStep.to_state),
            )
            .group_by(EventStep.event_id)
        )
        for step in session.scalars(select(EventStep).where(EventStep.id.in_(latest))):
            notes[step.event_id] = step.note
    places: dict[str, str] = {}
    street_codes = {e.street_code for e in events if e.street_code}
    community_codes = {e.community_code for e in events if e.community_code}
    if street_codes:
        places.update(
            {s.code: s.name for s in session.scalars(select(Street).where(Street.code.in_(street_codes)))}
        )
    if community_codes:
        places.update(
            {
                c.code: c.name
                for c in session.scalars(select(Community).where(Community.code.in_(community_codes)))
            }
        )
    return _Lookups(units=units, notes=notes, places=places)


def _address(event: Event, places: Mapping[str, str]) -> str | None:
    if event.address_text:
        return event.address_text
    parts = [places.get(code or "", "") for code in (event.street_code, event.community_code)]
    text = "".join(parts)
    return f"南山区{text}" if text else None


def request_row(event: Event, category: EventCategory, lookups: _Lookups) -> dict[str, object]:
    unit = lookups.units.get(event.handling_unit_code or "")
    return {
        "service_request_id": event.ticket,
        "status": open_or_closed(event.state),
        "status_notes": status_notes(event, unit, lookups.notes.get(event.id)),
        "service_name": category.name,
        "service_code": category.code,
        "description": event.description or event.title,
        "agency_responsible": unit.name if unit is not None else None,
        "service_notice": f"处置时限 {_limit_text(category)}",
        "requested_datetime": _iso(event.created_at),
        "updated_datetime": _iso(event.updated_at),
        "expected_datetime": _iso(event.due_at),
        "address": _address(event, lookups.places),
        "address_id": event.std_address_code,
        "zipcode": None,
        "lat": event.lat,
        "long": event.lon,
        "media_url": None,
    }


def _rows(session: Session, pairs: Sequence[tuple[Event, EventCategory]]) -> list[dict[str, object]]:
    lookups = _lookups(session, [event for event, _ in pairs])
    return [request_row(event, category, lookups) for event, category in pairs]


def _parse_when(text: str, name: str) -> datetime:
    """A w3 / ISO 8601 date or datetime; without an offset it is China time."""
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(
            raw.replace("Z", "+00:00").replace(" ", "+", 1) if "T" in raw else raw
        )
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(raw), time())
        except ValueError:
            raise Open311Error(
                400, f"{name} is not an ISO 8601 date-time (e.g. 2024-05-01T09:00:00+08:00)"
            ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA_TZ)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def find_requests(
    session: Session,
    *,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
    access_code: str | None = None,
) -> list[tuple[Event, EventCategory]]:
    """The events a GET /requests names: by ticket (overrides every other filter; at most `MAX_TICKETS`;
    an event of a non-public class only with its access code among ``access_code``), or the public
    classes' events in a window (the last 90 days by default), newest first, at most 1,000."""
    query = select(Event, EventCategory).join(EventCategory, EventCategory.id == Event.category_id)
    tickets = _split(service_request_id)
    if tickets:
        codes = _split(access_code)
        if len(tickets) > MAX_TICKETS or len(codes) > MAX_TICKETS:
            raise Open311Error(
                400, f"Name at most {MAX_TICKETS} service_request_id values (and access codes) at a time"
            )
        query = query.where(Event.ticket.in_(tickets))
        return [
            (e, c)
            for e, c in session.execute(query.order_by(Event.created_at.desc()))
            if access.may_follow(e, c, codes)
        ]
    query = query.where(access.public_clause())
    codes = _split(service_code)
    if codes:
        query = query.where(Event.subtype_code.in_(codes))
    wanted = _split(status)
    if wanted:
        unknown = [s for s in wanted if s not in ("open", "closed")]
        if unknown:
            raise Open311Error(400, f"status is open or closed, not '{unknown[0]}'")
        states = [
            s.value for s in (*OPEN_STATES_311, *CLOSED_STATES_311) if open_or_closed(s.value) in wanted
        ]
        query = query.where(Event.state.in_(states))
    start = _parse_when(start_date, "start_date") if start_date else None
    end = _parse_when(end_date, "end_date") if end_date else None
    if start is None and end is None:
        end = get_clock().now()
        start = end - DEFAULT_WINDOW
    elif start is None:
        assert end is not None
        start = end - DEFAULT_WINDOW
    if start is not None and end is not None and end < start:
        raise Open311Error(400, "end_date is before start_date")
    query = query.where(Event.created_at >= start.astimezone(UTC))
    if end is not None:
        query = query.where(Event.created_at <= end.astimezone(UTC))
    query = query.order_by(Event.created_at.desc(), Event.id.desc()).limit(MAX_REQUESTS)
    return [(e, c) for e, c in session.execute(query)]


@router.get(
    "/requests.{format}",
    openapi_extra=PUBLIC,
    summary="Open311: service requests (filters: service_request_id, service_code, start/end_date, status)",
)
def list_requests(
    request: Request,
    session: DbSession,
    format: str,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: str | None = None,
    jurisdiction_id: str | None = None,
    access_code: str | None = None,
) -> Response:
    fmt = _check_format(format)
    _limit(request, "open311_get")
    pairs = find_requests(
        session,
        service_request_id=service_request_id,
        service_code=service_code,
        start_date=start_date,
        end_date=end_date,
        status=status,
        access_code=access_code,
    )
    return _answer(fmt, "service_requests", "request", _rows(session, pairs))


@router.get(
    "/requests/{service_request_id}.{format}", openapi_extra=PUBLIC, summary="Open311: one service request"
)
def get_request(
    request: Request,
    session: DbSession,
    service_request_id: str,
    format: str,
    access_code: str | None = None,
) -> Response:
    fmt = _check_format(format)
    _limit(request, "open311_get")
    if "," in service_request_id or not service_request_id.strip():
        return _error(fmt, 404, f"No service request '{service_request_id}'")
    pairs = find_requests(session, service_request_id=service_request_id, access_code=access_code)
    if len(pairs) != 1:
        return _error(fmt, 404, f"No service request '{service_request_id}'")
    return _answer(fmt, "service_requests", "request", _rows(session, pairs))


@router.get(
    "/tokens/{token}.{format}",
    openapi_extra=PUBLIC,
    summary="Open311: the service request a token stands for (we answer at once: the token is the ticket)",
)
def get_token(
    request: Request, session: DbSession, token: str, format: str, access_code: str | None = None
) -> Response:
    fmt = _check_format(format)
    _limit(request, "open311_get")
    # The same rule as the request itself: a non-public event's ticket only with its access code.
    found = (
        find_requests(session, service_request_id=token, access_code=access_code)
        if token.strip() and "," not in token
        else []
    )
    if len(found) != 1:
        return _error(fmt, 404, f"No token '{token}'")
    event = found[0][0]
    rows = [{"service_request_id": event.ticket, "token": event.ticket}]
    return _answer(fmt, "service_requests", "request", rows)


# ---------------------------------------------------------------------------------------------------------
# Requests: filing


async def _fields(request: Request) -> dict[str, str] | Open311Error:
    """The POST parameters: form-encoded (the spec) or JSON; the query string fills what the body lacks.
    Read here, before the (synchronous) route runs; a body that cannot be read comes back as the error."""
    fields: dict[str, str] = {}
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            body = jsonbody.loads(await request.body())
            if not isinstance(body, dict):
                return Open311Error(400, "The JSON body must be an object of request parameters")
            fields = {
                str(k): str(v) for k, v in body.items() if v is not None and not isinstance(v, dict | list)
            }
        else:
            form = await request.form()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
    except ValueError:
        return Open311Error(400, "The body is not valid form data or JSON")
    for key, value in request.query_params.items():
        fields.setdefault(key, value)
    return fields


def _coordinate(fields: Mapping[str, str], name: str, low: float, high: float) -> float:
    try:
        value = float(fields[name])
    except ValueError:
        raise Open311Error(400, f"{name} is not a number (WGS84 decimal degrees)") from None
    if not low <= value <= high:
        raise Open311Error(400, f"{name} must lie between {low:g} and {high:g}")
    return value


def new_event(fields: Mapping[str, str], *, idempotency_key: str | None) -> service.NewEvent:
    """The spec's POST parameters as an intake submission."""
    code = (fields.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required: see /open311/v2/services.json")
    lat_given = bool((fields.get("lat") or "").strip())
    lon_given = bool((fields.get("long") or "").strip())
    address = (fields.get("address_string") or "").strip() or None
    lat = lon = None
    if lat_given or lon_given:
        if not (lat_given and lon_given):
            raise Open311Error(400, "Give both lat and long (WGS84), or an address_string")
        lat = _coordinate(fields, "lat", -90.0, 90.0)
        lon = _coordinate(fields, "long", -180.0, 180.0)
    elif address is None:
        raise Open311Error(400, "Say where it is: lat and long (WGS84), or an address_string")
    description = (fields.get("description") or "").strip()
    media_url = (fields.get("media_url") or "").strip()
    if media_url:
        description = f"{description}\n照片 (media_url): {media_url}".strip()
    first_line = next((line.strip() for line in description.splitlines() if line.strip()), "")
    title = first_line[:60] or ""
    name = " ".join(
        p for p in ((fields.get("first_name") or "").strip(), (fields.get("last_name") or "").strip()) if p
    )
    return service.NewEvent(
        subtype_code=code,
        title=title,
        channel="public",
        description=description,
        lon=lon,
        lat=lat,
        address_text=address,
        reporter_name=name[:64] or None,
        reporter_phone=(fields.get("phone") or "").strip() or None,
        idempotency_key=idempotency_key,
    )


_POST_FIELDS: Final = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": {
        name: {"type": "string"}
        for name in (
            "api_key",
            "service_code",
            "lat",
            "long",
            "address_string",
            "description",
            "first_name",
            "last_name",
            "phone",
            "email",
            "media_url",
            "jurisdiction_id",
        )
    },
}


@router.post(
    "/requests.{format}",
    openapi_extra={
        **PUBLIC,
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _POST_FIELDS},
                "application/json": {"schema": _POST_FIELDS},
            },
        },
    },
    summary="Open311: file a service request (api_key; lat/long or address_string)",
)
def post_request(
    request: Request,
    session: DbSession,
    format: str,
    fields: Annotated[dict[str, str] | Open311Error, Depends(_fields)],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    fmt = _check_format(format)
    _limit(request, "open311_post")
    if isinstance(fields, Open311Error):
        raise fields
    _limit(request, "key_failures", count=False)  # too many wrong keys lately: not even tried
    key = check_key(session, fields.get("api_key"))
    if key is None:
        _limit(request, "key_failures")
        raise Open311Error(403, "A valid api_key is required to file a request (ask the district for one)")
    # Kept per api_key: one client's keys never reach another client's requests.
    retry_key = idempotency_key.strip() if idempotency_key else ""
    new = new_event(fields, idempotency_key=f"open311:{key.id}:{retry_key}" if retry_key else None)
    try:
        if not new.title:
            new.title = service.current_category(session, new.subtype_code).name
        event, _created = service.submit(
            session, new, actor=service.Actor(name=f"open311:{key.name}", scope=WHOLE_DISTRICT)
        )
    except GridgovError as exc:
        raise _from_domain(exc) from exc
    # A retry answers with a new code for the same event (the earlier one stops working).
    code = access.issue(session, event)
    notice = (
        f"已收到，受理编号 {event.ticket}，查询码 {code}，可凭编号和查询码查询进度 "
        f"(received: follow it with {event.ticket} and access code {code})"
    )
    rows = [
        {
            "service_request_id": event.ticket,
            "service_notice": notice,
            "account_id": None,
            # Ours, after the spec's fields: the second secret that follows a non-public request.
            "access_code": code,
        }
    ]
    return _answer(fmt, "service_requests", "request", rows)
