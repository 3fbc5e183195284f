"""Event API shapes (Pydantic v2): what a report, a workflow action, the whistle and a summons step carry in,
and what an event, its timeline and its summoned departments look like going out.

Personal data goes out masked: the reporter's phone (stored encrypted) as ``138****5678``, the name as
``王**``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gridgov.core.ids import MAX_ROW_ID
from gridgov.events.workflow import Action


class EventIn(BaseModel):
    """A report: what is wrong and where — a map point (WGS84 or GCJ-02) or an address text."""

    model_config = ConfigDict(extra="forbid")

    subtype_code: str = Field(
        min_length=1, max_length=8, description="An event type from /api/events/categories"
    )
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    address_text: str | None = Field(default=None, max_length=500)
    reporter_name: str | None = Field(default=None, max_length=64)
    reporter_phone: str | None = Field(default=None, max_length=32)
    urgent: bool | None = Field(default=None, description="Default: the event type's own urgency")

    @model_validator(mode="after")
    def _a_place(self) -> EventIn:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both lon and lat, or neither")
        if self.lon is None and not (self.address_text and self.address_text.strip()):
            raise ValueError("say where it is: a map point (lon, lat) or an address_text")
        return self


class StepOut(BaseModel):
    """One entry of the timeline: the action, who took it, when, from which state to which."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    action: str
    from_state: str | None
    to_state: str
    actor_name: str
    actor_user_id: int | None
    at: datetime
    note: str | None
    data: dict[str, Any]


class SummonsOut(BaseModel):
    """A department summoned by the whistle: its three deadlines, when it met each, the street's rating."""

    whistle_id: int
    ground: str
    hard_case: bool
    blown_by: str
    blown_at: datetime
    department_code: str
    sign_due: datetime
    contact_due: datetime
    report_due: datetime
    signed_at: datetime | None
    contacted_at: datetime | None
    reported_at: datetime | None
    rating: int | None
    comment: str | None


class EventOut(BaseModel):
    ticket: str
    id: int
    state: str
    subtype_code: str
    subtype_name: str
    category_version: int
    title: str
    description: str
    channel: str
    urgent: bool
    lon: float | None
    lat: float | None
    address_text: str | None
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    handling_unit_code: str | None
    handling_level: str | None
    due_at: datetime | None
    deadline_status: str
    reworks: int
    supervised: bool
    extension_pending: float | None
    version: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    rating: int | None
    reporter_name: str | None = Field(description="Masked")
    reporter_phone: str | None = Field(description="Masked")
    allowed_actions: list[str] = Field(
        description="What the event's state allows and the caller's permissions let them do "
        "(the whistle's per-department steps go through /summons)"
    )


class EventDetail(EventOut):
    timeline: list[StepOut]
    summons: list[SummonsOut]


class ActionIn(BaseModel):
    """One workflow action; ``version`` is the event version the caller read (a stale one gets 409)."""

    model_config = ConfigDict(extra="forbid")

    action: Action
    version: int = Field(ge=1, le=MAX_ROW_ID)
    note: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=2000)
    unit: str | None = Field(
        default=None,
        max_length=32,
        description="dispatch: the handling unit (default: the one the rules pick)",
    )
    rating: int | None = Field(default=None, ge=1, le=5)
    duration: float | None = Field(
        default=None, gt=0, le=2000, description="request_extension: working hours"
    )


class WhistleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ground: Literal["beyond_powers", "no_owner", "spans_areas", "many_departments", "emergency"]
    departments: list[str] = Field(min_length=1, max_length=20)
    note: str | None = Field(default=None, max_length=2000)
    hard_case: bool = False
    version: int = Field(ge=1, le=MAX_ROW_ID)


class SummonsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str = Field(min_length=1, max_length=32)
    action: Literal["whistle_sign", "whistle_contact", "whistle_report", "whistle_rate"]
    rating: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    version: int
    major_code: str
    major_name: str
    name: str
    name_en: str | None
    domain: str
    level: str
    department_code: str
    limit_value: float
    limit_unit: str
    closing: str
    urgent: bool
    whistle_hint: bool
    created_at: datetime


class CategoryRevision(BaseModel):
    """The fields of an event type that may change; the change makes a new version."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=64)
    name_en: str | None = Field(default=None, max_length=128)
    level: Literal["community", "street", "district"] | None = None
    department_code: str | None = Field(default=None, min_length=1, max_length=32)
    limit_value: float | None = Field(default=None, gt=0)
    limit_unit: Literal["working_hours", "working_days"] | None = None
    closing: str | None = Field(default=None, min_length=1, max_length=2000)
    urgent: bool | None = None

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}

    @model_validator(mode="after")
    def _something(self) -> CategoryRevision:
        if not self.changes():
            raise ValueError("change at least one field")
        return self


class MergeIn(BaseModel):
    """Merge the event in the path (a duplicate, still reported) into the event it repeats."""

    model_config = ConfigDict(extra="forbid")

    into: str = Field(min_length=4, max_length=24, description="Ticket of the event it repeats")
    version: int = Field(ge=1, le=MAX_ROW_ID, description="The version of the duplicate the caller read")


class AddressSuggestion(BaseModel):
    """A building-level standard address offered to the public report form: its text and its point only."""

    text: str
    lon: float
    lat: float
