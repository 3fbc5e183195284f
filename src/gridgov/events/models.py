"""Event tables: versioned categories, events, their steps (the timeline every transition writes), photos, and
the whistle with each summoned department. Handling units (the 1+8+N command system, departments, community
workstations) are `accounts.models.OrgUnit`: the accounts that act for them belong to them.

An event keeps the category *version* it was filed under (`category_id` points at one version): editing a
subtype's time limit makes a new version and never moves the deadlines of events already filed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridgov.audit.models import UTCDateTime  # aware datetimes, stored as UTC on both backends
from gridgov.core.db import Base


class EventCategory(Base):
    """One version of a subtype's rules. (code, version) is unique; the newest active version applies to new
    events, older ones stay for the events filed under them."""

    __tablename__ = "event_category"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_event_category_code_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), index=True)
    version: Mapped[int] = mapped_column(Integer)
    major_code: Mapped[str] = mapped_column(String(4))
    major_name: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str | None] = mapped_column(String(128), nullable=True)
    domain: Mapped[str] = mapped_column(String(16))  # urban | social
    level: Mapped[str] = mapped_column(String(16))  # default handling level
    department_code: Mapped[str] = mapped_column(String(32))
    limit_value: Mapped[float] = mapped_column(Float)
    limit_unit: Mapped[str] = mapped_column(String(16))  # working_hours | working_days
    closing: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    whistle_hint: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Event(Base):
    __tablename__ = "event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What a reporter is told to follow the event with (public, unguessable enough to share).
    ticket: Mapped[str] = mapped_column(String(24), unique=True)
    # The second secret a public reporter holds (printed on the receipt, returned to an Open311 client): an
    # event of a non-public class is shown by ticket only together with it. SHA-256 of ticket + code.
    access_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))  # grid | public | hotline | department | video
    # A retried submission carries the same key and finds the event it already made.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("event_category.id"), index=True)
    subtype_code: Mapped[str] = mapped_column(String(8), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), index=True)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    address_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    std_address_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    street_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    community_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    reporter_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reporter_phone: Mapped[str | None] = mapped_column(String(200), nullable=True)  # encrypted (core.crypto)
    reporter_phone_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    reporter_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    handling_unit_code: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    handling_level: Mapped[str | None] = mapped_column(String(16), nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    deadline_status: Mapped[str] = mapped_column(String(8), default="none")  # none | green | yellow | red
    reworks: Mapped[int] = mapped_column(Integer, default=0)
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_pending: Mapped[float | None] = mapped_column(Float, nullable=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Optimistic lock: a change names the version it read; a stale one is refused, never merged.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class EventStep(Base):
    """One entry of an event's timeline: an action, who took it, when, from which state to which."""

    __tablename__ = "event_step"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    # Lets a new event and its first step go in one flush (the step's key is known only then).
    event: Mapped[Event] = relationship()


class EventPhoto(Base):
    """A photo stored content-addressed (sha256), its location metadata stripped from the stored copy."""

    __tablename__ = "event_photo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("event_step.id"), nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    mime: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Whistle(Base):
    """The street blew the whistle (吹哨) on an event, on a stated ground."""

    __tablename__ = "whistle"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    # beyond_powers | no_owner | spans_areas | many_departments | emergency
    ground: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    hard_case: Mapped[bool] = mapped_column(Boolean, default=False)
    blown_by: Mapped[str] = mapped_column(String(128))
    blown_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WhistleSummons(Base):
    """One department summoned by a whistle: its three deadlines and when it met each (报到)."""

    __tablename__ = "whistle_summons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    whistle_id: Mapped[int] = mapped_column(ForeignKey("whistle.id"), index=True)
    department_code: Mapped[str] = mapped_column(String(32), index=True)
    sign_due: Mapped[datetime] = mapped_column(UTCDateTime())
    contact_due: Mapped[datetime] = mapped_column(UTCDateTime())
    report_due: Mapped[datetime] = mapped_column(UTCDateTime())
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)


class Open311Key(Base):
    """An Open311 ``api_key`` (GeoReport v2): shown once when made, kept as its SHA-256."""

    __tablename__ = "open311_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
