"""The video-alert webhook (issue 5, intake channels): ``POST /api/events/alerts``.

A video-analysis platform (占道经营, 垃圾堆放, 车辆违停 … seen by a camera) posts one JSON alert per
sighting, authenticated by the API token of an account that holds ``events.report``. The alert's own type
name is mapped to our event subtype through the taxonomy's names and aliases (``data/categories.yaml``, the
same table the 12345 import uses), and the alert is filed through ``service.submit`` on the ``video``
channel. Its idempotency key is ``video:<camera_id>:<alert_id>``, so a re-sent alert answers 200 with the
ticket the first one got (201).

**Nothing is lost.** An alert from an authenticated reporter that is refused — not JSON, a missing or bad
field, an unknown ``alert_type``, a place outside the district or the caller's scope, an unusable snapshot —
is answered with the reason (422, or 403 for the scope) *and* kept, raw body and reason and time, one JSON
line per alert, in ``var/rejects/video-alerts-YYYYMMDD.jsonl`` (appended under a file lock, so concurrent
requests and processes never interleave lines). After a person fixed them, ``gridgov events replay-alerts
FILE`` files them through the same rules (``replay_alerts``). Calls without a valid token, or without the
permission, are refused before the body is read and are not kept.

**The place is checked first**: an alert whose point lies in the district but outside the caller's area
scope is refused (403) whatever else it carries, before the fields are validated, so a caller learns
nothing about a place it may not report in (this is what ``x-scope: event:body`` promises; the route walk
knocks with a point outside the scope).

Layout: the shapes, then the service section (business rules; plain functions, a session passed in — a
candidate to move into ``service.py``), then the route (thin).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.core import jsonbody
from gridgov.core.clock import CHINA_TZ, get_clock
from gridgov.core.deps import DbSession
from gridgov.core.errors import Forbidden, GridgovError, InvalidInput
from gridgov.events import service
from gridgov.events.api import Reporter, actor_of
from gridgov.events.models import Event, EventCategory, EventPhoto
from gridgov.events.service import Actor, NewEvent

try:  # POSIX: an advisory lock around each append (Windows has no fcntl; O_APPEND alone is used there)
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms we run
    fcntl = None  # type: ignore[assignment]

VIDEO_CHANNEL: Final = "video"
REJECTS_PREFIX: Final = "video-alerts"
#: The largest snapshot as base64 text (a 10 MB photo, ``service.MAX_PHOTO_BYTES``, plus padding).
MAX_SNAPSHOT_CHARS: Final = (service.MAX_PHOTO_BYTES + 2) // 3 * 4 + 64
_DATA_URL: Final = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------------------
# Shapes


class AlertIn(BaseModel):
    """One alert of a video-analysis platform: what it saw, which camera, where and when."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    alert_id: str = Field(min_length=1, max_length=50, description="The platform's own id of the alert")
    camera_id: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[^:\s]+$",
        description="The camera's id (e.g. its 20-digit GB/T 28181 code); no spaces or ':'",
    )
    alert_type: str = Field(
        min_length=1,
        max_length=64,
        description="The platform's name for what it saw (占道经营, 垃圾堆放 …): an event type's name or "
        "alias (GET /api/events/categories)",
    )
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Literal["wgs84", "gcj02"] = Field(description="wgs84 (GPS) or gcj02 (Chinese map apps)")
    occurred_at: AwareDatetime = Field(description="ISO 8601 with its offset, e.g. 2025-03-01T09:30:00+08:00")
    description: str = Field(default="", max_length=2000)
    snapshot: str | None = Field(
        default=None,
        max_length=MAX_SNAPSHOT_CHARS,
        description="The frame as base64 JPEG or PNG (a data: URL prefix is accepted); its metadata is "
        "stripped before it is stored",
    )

    @field_validator("alert_id", "camera_id", mode="before")
    @classmethod
    def _number_as_text(cls, value: object) -> object:
        # Platforms often send numeric ids; 20-digit camera codes must keep every digit, so only integers.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class AlertReceipt(BaseModel):
    """What the platform gets back: the ticket to follow the event with (201 new, 200 a re-sent alert)."""

    ticket: str
    created: bool = Field(description="False: the alert was filed before; this is its event")
    subtype_code: str
    subtype_name: str
    state: str
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    snapshot_sha256: str | None = Field(description="The stored snapshot (metadata stripped), if any")


# ---------------------------------------------------------------------------------------------------------
# Service: mapping, filing, keeping what was refused, replaying it (candidate for events/service.py)


class InvalidAlert(InvalidInput):
    """The alert's fields do not validate; ``errors`` are Pydantic's (the route lists them field by field)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__(_describe(errors))


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def alert_key(camera_id: str, alert_id: str) -> str:
    """The idempotency key of an alert (a camera id holds no ':', so the key reads back unambiguously)."""
    return f"{VIDEO_CHANNEL}:{camera_id}:{alert_id}"


@functools.cache
def _seed_aliases() -> dict[str, str]:
    """The seed taxonomy's aliases → subtype code (read once: parsing the YAML takes ~70 ms)."""
    from gridgov.events.taxonomy import iter_subtypes, load_categories

    return {alias: sub.code for sub in iter_subtypes(load_categories()) for alias in sub.aliases}


def subtype_for(session: Session, alert_type: str) -> str:
    """Our subtype code for the platform's name of what it saw: the name of an active event type (as the
    desk may have revised it), else an alias of the seed taxonomy — the precedence of the 12345 import's
    ``service._type_names``, without parsing the taxonomy file on every alert."""
    name = alert_type.strip()
    code = session.scalars(
        select(EventCategory.code).where(EventCategory.name == name, EventCategory.active.is_(True))
    ).first()
    if code is None:
        code = _seed_aliases().get(name)
    if code is None:
        raise InvalidInput(
            f"Unknown alert_type '{name}': not the name or alias of an event type "
            "(GET /api/events/categories; aliases in events/data/categories.yaml)"
        )
    return code


def decode_snapshot(text: str) -> bytes:
    """The snapshot's bytes from base64 (standard alphabet, padding required; a ``data:`` prefix allowed)."""
    stripped = _DATA_URL.sub("", text.strip(), count=1)
    stripped = "".join(stripped.split())  # line breaks some encoders insert every 76 characters
    try:
        data = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("snapshot: not valid base64") from exc
    if not data:
        raise InvalidInput("snapshot: empty")
    return data


def parse_alert(session: Session, body: bytes | str | dict[str, Any], *, actor: Actor) -> AlertIn:
    """The alert from a request body (raw JSON, or already a mapping); the place is checked first."""
    if isinstance(body, dict):
        data: object = body
    else:
        try:
            data = jsonbody.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput(f"The body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object (one alert)")
    _refuse_outside_scope(session, data, actor)
    try:
        return AlertIn.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise InvalidAlert(errors) from exc


def _refuse_outside_scope(session: Session, data: dict[str, Any], actor: Actor) -> None:
    """403 for a point of the district outside the actor's scope, before anything else is judged."""
    from gridgov.areas.service import area_index

    lon, lat = data.get("lon"), data.get("lat")
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in (lon, lat)
    ):
        return  # not a point: validation says why
    crs = data.get("crs") if data.get("crs") in ("wgs84", "gcj02") else "wgs84"
    try:
        located = area_index(session).locate(float(lon), float(lat), str(crs))  # type: ignore[arg-type]
    except GridgovError:
        return
    if located.grid is not None and not actor.scope.covers(located.grid.code):
        raise Forbidden("The alert's place lies outside your area scope")


def _new_event(alert: AlertIn, subtype_code: str) -> NewEvent:
    occurred = alert.occurred_at.astimezone(CHINA_TZ)
    lines = [
        alert.description,
        f"视频告警 {alert.alert_type}：摄像头 {alert.camera_id}，告警编号 {alert.alert_id}，"
        f"发生时间 {occurred:%Y-%m-%d %H:%M:%S}",
    ]
    return NewEvent(
        subtype_code=subtype_code,
        title=f"视频告警：{alert.alert_type}",
        channel=VIDEO_CHANNEL,
        description="\n".join(line for line in lines if line),
        lon=alert.lon,
        lat=alert.lat,
        crs=alert.crs,
        idempotency_key=alert_key(alert.camera_id, alert.alert_id),
        extra={
            "camera_id": alert.camera_id,
            "alert_id": alert.alert_id,
            "alert_type": alert.alert_type,
            "occurred_at": alert.occurred_at.isoformat(),
        },
    )


def file_alert(session: Session, alert: AlertIn, *, actor: Actor) -> tuple[Event, bool]:
    """File a validated alert with its snapshot; returns the event and whether it was made now (False: the
    alert was filed before, by the same account). The event and the snapshot go in one savepoint: an
    unusable snapshot files nothing."""
    code = subtype_for(session, alert.alert_type)
    picture = decode_snapshot(alert.snapshot) if alert.snapshot else None
    new = _new_event(alert, code)
    with session.begin_nested():
        event, created = service.submit(session, new, actor=actor)
        if not created and not actor.scope.covers(event.grid_code):
            raise Forbidden("That event lies outside your area scope")
        if created and picture is not None:
            try:
                service.store_photo(session, event, picture)
            except InvalidInput as exc:
                raise InvalidInput(f"snapshot: {exc.message}") from exc
    return event, created


def receipt_of(session: Session, event: Event, created: bool) -> AlertReceipt:
    category = session.get(EventCategory, event.category_id)
    photo = session.scalars(
        select(EventPhoto.sha256).where(EventPhoto.event_id == event.id).order_by(EventPhoto.id)
    ).first()
    return AlertReceipt(
        ticket=event.ticket,
        created=created,
        subtype_code=event.subtype_code,
        subtype_name=category.name if category is not None else event.subtype_code,
        state=event.state,
        grid_code=event.grid_code,
        community_code=event.community_code,
        street_code=event.street_code,
        snapshot_sha256=photo,
    )


def receive_alert(session: Session, raw: bytes, *, actor: Actor, username: str) -> tuple[Event, bool]:
    """The webhook's rule: file the alert; when it is refused, keep it (raw body, reason, time, account) in
    the day's rejects file, then refuse it (the error propagates)."""
    try:
        alert = parse_alert(session, raw, actor=actor)
        return file_alert(session, alert, actor=actor)
    except GridgovError as exc:
        keep_rejected(raw, exc.message, code=exc.code, username=username, user_id=actor.user_id)
        raise
    except Exception as exc:
        # A fault of ours (a database error …): the platform may retry, but the alert is kept either way.
        reason = f"server error ({type(exc).__name__})"
        keep_rejected(raw, reason, code="internal", username=username, user_id=actor.user_id)
        raise


def rejects_dir() -> Path:
    from gridgov.core.settings import get_settings

    return get_settings().var_dir / "rejects"


def rejects_file(at: datetime | None = None) -> Path:
    """The day's rejects file (the day in China time): ``var/rejects/video-alerts-YYYYMMDD.jsonl``."""
    day = (at or get_clock().now()).astimezone(CHINA_TZ)
    return rejects_dir() / f"{REJECTS_PREFIX}-{day:%Y%m%d}.jsonl"


def _body_fields(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """The body as received: UTF-8 text (or a mapping a person wrote), else its bytes in base64."""
    if isinstance(raw, dict | str):
        return {"body": raw}
    try:
        return {"body": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(raw).decode("ascii")}


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line, whole: O_APPEND, an exclusive lock while writing, fsync before unlocking
    (a refused alert is the only copy we have). The file is private (0600): snapshots show people."""
    line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        view = memoryview(line)
        while view:
            written = os.write(descriptor, view)
            view = view[written:]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)  # also releases the lock


def keep_rejected(
    raw: bytes | str | dict[str, Any],
    reason: str,
    *,
    code: str = "invalid_input",
    username: str | None = None,
    user_id: int | None = None,
) -> Path:
    """Keep a refused alert in the day's rejects file; returns the file."""
    now = get_clock().now()
    target = rejects_file(now)
    record = {
        "received_at": now.isoformat(),
        "reason": reason,
        "code": code,
        "username": username,
        "user_id": user_id,
        **_body_fields(raw),
    }
    append_line(target, record)
    return target


@dataclass
class ReplayLine:
    line: int
    status: Literal["filed", "duplicate", "refused"]
    ticket: str | None = None
    reason: str | None = None


@dataclass
class ReplayReport:
    path: str
    lines: int = 0
    filed: int = 0
    duplicate: int = 0
    refused: int = 0
    rejects_file: str | None = None
    results: list[ReplayLine] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _records(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield number, text.rstrip("\n")


def _actor_named(session: Session, username: object) -> Actor:
    """The account that sent the alert, acting again — the same scope and permission rules as the webhook."""
    from gridgov.accounts import service as accounts
    from gridgov.accounts.permissions import Permission

    if not isinstance(username, str) or not username.strip():
        raise InvalidInput("the line names no account ('username'): say whose alert it is")
    user = accounts.get_user_by_name(session, username)
    if not user.is_active:
        raise Forbidden(f"the account '{username}' is disabled")
    principal = accounts.principal_of(user)
    principal.require(Permission.events_report)
    return actor_of(principal)


def _replay_body(record: dict[str, Any]) -> bytes | str | dict[str, Any]:
    if "body" in record and isinstance(record["body"], str | dict):
        body: bytes | str | dict[str, Any] = record["body"]
        return body
    if isinstance(record.get("body_base64"), str):
        try:
            return base64.b64decode(record["body_base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("body_base64 is not valid base64") from exc
    raise InvalidInput("the line has no 'body' (the alert as text or as a JSON object)")


def replay_alerts(session: Session, path: Path) -> ReplayReport:
    """File the alerts kept in a rejects file (after a person fixed them) through the same rules as the
    webhook, each as the account that sent it and in its own savepoint; lines still refused go, with their
    new reason, to a new rejects file (``<name>.rejected-<time>.jsonl``), which can be replayed in turn.
    A line's ``body`` is the alert as received (text) or as a person rewrote it (a JSON object)."""
    report = ReplayReport(path=str(path))
    still: list[dict[str, Any]] = []
    for number, text in _records(path):
        report.lines += 1
        try:
            record = json.loads(text)
        except ValueError:
            record = {"line_text": text}
        if not isinstance(record, dict):
            record = {"line_text": text}
        try:
            if "line_text" in record:
                raise InvalidInput(f"line {number} is not a JSON object")
            body = _replay_body(record)
            with session.begin_nested():
                actor = _actor_named(session, record.get("username"))
                alert = parse_alert(session, body, actor=actor)
                event, created = file_alert(session, alert, actor=actor)
        except GridgovError as exc:
            report.refused += 1
            report.results.append(ReplayLine(number, "refused", reason=exc.message))
            still.append({**record, "reason": exc.message, "code": exc.code, "replayed_at": _now_text()})
            continue
        if created:
            report.filed += 1
            report.results.append(ReplayLine(number, "filed", ticket=event.ticket))
        else:
            report.duplicate += 1
            report.results.append(ReplayLine(number, "duplicate", ticket=event.ticket))
    session.flush()
    if still:
        report.rejects_file = str(_write_still_refused(path, still))
    return report


def _now_text() -> str:
    return get_clock().now().isoformat()


def _write_still_refused(source: Path, records: list[dict[str, Any]]) -> Path:
    """A new file in the rejects folder, never one that exists (a second replay in the same second gets
    its own name)."""
    stamp = get_clock().now().astimezone(CHINA_TZ).strftime("%Y%m%d-%H%M%S")
    stem = source.name.removesuffix(".jsonl")
    folder = rejects_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        suffix = f"-{attempt}" if attempt else ""
        target = folder / f"{stem}.rejected-{stamp}{suffix}.jsonl"
        try:
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8", errors="surrogateescape") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return target
    raise InvalidInput(f"Could not make a new rejects file next to {stem} in {folder}")  # pragma: no cover


# ---------------------------------------------------------------------------------------------------------
# Route

router = APIRouter(tags=["events"])


async def _raw_body(request: Request) -> bytes:
    """The body exactly as received (kept as it came when the alert is refused)."""
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


@router.post(
    "/api/events/alerts",
    response_model=AlertReceipt,
    status_code=201,
    openapi_extra={
        "x-scope": "event:body",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": AlertIn.model_json_schema()}},
        },
    },
    responses={
        200: {"model": AlertReceipt, "description": "A re-sent alert: the event the first one made"},
        403: {"description": "No events.report permission, or the place lies outside your area scope (kept)"},
        422: {"description": "Refused, with the reason; the alert is kept in var/rejects/ for review"},
    },
    summary="Video-alert webhook: file an alert as an event (201; re-sent: 200 and the same ticket)",
)
def receive_video_alert(
    session: DbSession, principal: Reporter, raw: RawBody, response: Response
) -> AlertReceipt:
    actor = actor_of(principal)
    try:
        event, created = receive_alert(session, raw, actor=actor, username=principal.username)
    except InvalidAlert as exc:
        raise RequestValidationError(exc.errors) from exc  # the uniform 422, field by field
    if not created:
        response.status_code = 200
    return receipt_of(session, event, created)
