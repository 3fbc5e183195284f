"""Registry tables: the three "lines" of block data (population, housing, legal entities).

Every record carries ``street_code``, ``community_code`` and ``grid_code`` (kept right when its address
changes) and ``lineage``: field name → where its current value came from, as ``"b<batch id>:r<row>"`` (an
import batch and its row) or ``"t<task id>"`` (a grid worker's verification). Personal identifiers are
stored encrypted (``*_enc``, AES-GCM under ``core.crypto``) with a keyed lookup hash (``*_hash``) for
matching; names are stored as written and masked wherever they are shown.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.audit.models import UTCDateTime
from gridgov.core.db import Base


class _Placed:
    """Where a record lies: the area codes of its (matched) address."""

    street_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    community_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The last import batch that saw this record: a row of the same batch seen again is a duplicate.
    seen_batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Building(_Placed, Base):
    __tablename__ = "reg_building"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # its standard address code
    address_text: Mapped[str] = mapped_column(Text)
    # residential | commercial | office | industrial | mixed | village | public
    use: Mapped[str | None] = mapped_column(String(16), nullable=True)
    floors: Mapped[int | None] = mapped_column(Integer, nullable=True)
    structure: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Dwelling(_Placed, Base):
    __tablename__ = "reg_dwelling"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # its standard address code
    building_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    address_text: Mapped[str] = mapped_column(Text)
    # owner_occupied | rented | vacant | commercial | unknown
    use: Mapped[str] = mapped_column(String(16), default="unknown")


class Person(_Placed, Base):
    __tablename__ = "reg_person"
    # Finding the candidates of a person known without a document number (fuzzy identity).
    __table_args__ = (Index("ix_reg_person_name_key_birth", "name_key", "birth_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    id_number_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    id_valid: Mapped[bool] = mapped_column(Boolean, default=True)  # False: kept as written, to verify
    doc_type: Mapped[str] = mapped_column(String(16), default="resident_id")
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the name without spaces
    sex: Mapped[str | None] = mapped_column(String(8), nullable=True)
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    household_type: Mapped[str | None] = mapped_column(String(16), nullable=True)  # registered | floating
    phone_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    dwelling_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    address_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    address_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    move_in_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    moved_out_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="resident")  # resident | moved_out
    version: Mapped[int] = mapped_column(Integer, default=1)


class Rental(_Placed, Base):
    __tablename__ = "reg_rental"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # One registration: the dwelling (or, unplaced, the address as written), the landlord, the start date.
    identity_key: Mapped[str] = mapped_column(String(64), unique=True)
    dwelling_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    address_text: Mapped[str] = mapped_column(Text)
    landlord_name: Mapped[str] = mapped_column(String(64))
    landlord_id_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    landlord_id_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    landlord_phone_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    landlord_phone_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    declared_occupants: Mapped[int | None] = mapped_column(Integer, nullable=True)


class RentalTenant(Base):
    """A tenant named on a rental registration, by the lookup hash of their ID (a person when known)."""

    __tablename__ = "reg_rental_tenant"

    rental_id: Mapped[int] = mapped_column(ForeignKey("reg_rental.id"), primary_key=True)
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("reg_person.id"), nullable=True, index=True)


class LegalEntity(_Placed, Base):
    """A business on the register; its area codes are those of its operating address."""

    __tablename__ = "reg_legal_entity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credit_code: Mapped[str] = mapped_column(String(32), unique=True)  # as written when it fails its check
    credit_code_valid: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str] = mapped_column(String(200))
    entity_type: Mapped[str] = mapped_column(String(32))
    legal_representative: Mapped[str | None] = mapped_column(String(64), nullable=True)
    registered_capital_wan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    established_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # active | deregistered | revoked | moved_out
    industry: Mapped[str | None] = mapped_column(String(64), nullable=True)
    registered_address_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    registered_address_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    operating_address_text: Mapped[str] = mapped_column(Text)
    operating_address_code: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    risk_level: Mapped[str | None] = mapped_column(String(8), nullable=True)  # low | medium | high
    three_small_kind: Mapped[str | None] = mapped_column(String(24), nullable=True)


class CareTag(Base):
    """A key-person care tag (重点人员): seen only by roles that need it."""

    __tablename__ = "reg_care_tag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("reg_person.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    care_every_days: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))


class RegistryChange(Base):
    """Something the data says happened (moved in, moved out, new tenant, entity moved or deregistered):
    what the verification rules read."""

    __tablename__ = "reg_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    record_kind: Mapped[str] = mapped_column(String(16))  # person | rental | entity | dwelling
    record_id: Mapped[int] = mapped_column(Integer)
    grid_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdentityReview(Base):
    """A doubtful merge (身份存疑): a record made from a row without a document number, and the person it
    may be. A person decides: merge (the record folds into the candidate) or keep apart."""

    __tablename__ = "reg_identity_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_kind: Mapped[str] = mapped_column(String(16))  # person
    record_id: Mapped[int] = mapped_column(Integer, index=True)
    candidate_id: Mapped[int] = mapped_column(Integer, index=True)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSON)  # field → same | same_building | different
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | merged | kept_apart
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    row_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class AreaCount(Base):
    """A maintained count per area (district, street, community or grid code) and metric, so area
    statistics are a lookup, not a scan of millions of rows."""

    __tablename__ = "reg_area_count"

    area_code: Mapped[str] = mapped_column(String(15), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)
