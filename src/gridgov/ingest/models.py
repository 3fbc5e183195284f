"""Ingest tables: registered sources, import batches and their quarantined rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.audit.models import UTCDateTime
from gridgov.core.db import Base


class Source(Base):
    """A department system registered once with its mapping spec (YAML, ``ingest.mapping``)."""

    __tablename__ = "ingest_source"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(128))
    department: Mapped[str] = mapped_column(String(128))
    system: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(32))
    contact: Mapped[str | None] = mapped_column(String(128), nullable=True)
    record_kind: Mapped[str] = mapped_column(String(16))
    spec_yaml: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)  # HTTP push
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Batch(Base):
    """One file (or push) through the pipeline. Every row ends accepted, merged, unchanged or quarantined;
    ``next_row`` is where a batch that stopped half-way resumes."""

    __tablename__ = "ingest_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("ingest_source.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    rows: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    merged: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    next_row: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_by: Mapped[str] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class QuarantineRow(Base):
    """A row that could not be taken, as it arrived, with its reasons: a person fixes and replays it."""

    __tablename__ = "ingest_quarantine"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("ingest_batch.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    row_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The cells as they arrived, encrypted (``service.seal_cells``: a token string in the JSON column).
    cells: Mapped[Any] = mapped_column(JSON)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | replayed | dismissed
    resolved_batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
