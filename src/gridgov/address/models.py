"""The standard address library: one hierarchical table of addresses, plus aliases.

One table rather than one per level (road, number, estate, building, unit, room): every level shares the
same columns (code, text, area codes, location, validity), a Shenzhen library from another district
arrives with levels we do not know in advance, and the matcher indexes all levels the same way. Areas
outside our hierarchy are kept as text (``district_text`` …) with their codes left empty.

Changes made by people (create, edit, retire, aliases) leave one ``AddressHistory`` row each, and bump
``revision``: a library-wide change number (the newest change holds the highest), so "has the matchable
library changed" is one indexed ``max()`` (``service.library_version``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.core.db import Base


class StdAddress(Base):
    __tablename__ = "std_address"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    # building | dwelling | text (a library line whose parts are not known yet); more levels as they come
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("std_address.id"), nullable=True, index=True)
    external_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    text: Mapped[str] = mapped_column(Text)
    district_text: Mapped[str | None] = mapped_column(String(32), nullable=True)
    street_text: Mapped[str | None] = mapped_column(String(32), nullable=True)
    community_text: Mapped[str | None] = mapped_column(String(32), nullable=True)
    street_code: Mapped[str | None] = mapped_column(String(15), nullable=True)
    community_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    road: Mapped[str | None] = mapped_column(String(64), nullable=True)
    house_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    site_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    site_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    building: Mapped[str | None] = mapped_column(String(32), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    floor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    room: Mapped[str | None] = mapped_column(String(16), nullable=True)
    use: Mapped[str | None] = mapped_column(String(16), nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("std_address.id"), nullable=True)
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The library-wide change number of this address's latest change (0: imported, never edited).
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def status(self) -> str:
        """``active``, or ``retired`` once ``valid_to`` is set (retired addresses match nothing)."""
        return "active" if self.valid_to is None else "retired"


class AddressAlias(Base):
    """Another name for an address: a common name (俗称, "南山医院") or a former one (a renamed road)."""

    __tablename__ = "address_alias"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("std_address.id"), index=True)
    alias: Mapped[str] = mapped_column(String(256), index=True)  # a former name is a whole address text
    kind: Mapped[str] = mapped_column(String(16))  # common | former
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)


class AddressHistory(Base):
    """One change made to a standard address by a person: who, when, what (old → new), and why."""

    __tablename__ = "std_address_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("std_address.id"), index=True)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))  # create | edit | retire | alias
    # {"field": {"old": …, "new": …}} for every field that changed.
    changes: Mapped[dict[str, dict[str, object]]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
