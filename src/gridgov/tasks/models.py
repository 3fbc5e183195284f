"""Grid-worker tasks (核查任务): what to check about which record, in which grid, by when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.audit.models import UTCDateTime
from gridgov.core.db import Base


class Task(Base):
    __tablename__ = "task"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # verify | inspect | visit
    rule: Mapped[str] = mapped_column(String(32), index=True)  # the rule that made it
    target_kind: Mapped[str] = mapped_column(String(16))  # person | rental | entity | dwelling | address
    target_id: Mapped[int] = mapped_column(Integer)
    street_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    community_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    grid_code: Mapped[str | None] = mapped_column(String(15), nullable=True, index=True)
    title: Mapped[str] = mapped_column(String(200))
    what_to_check: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | done | cancelled
    answer: Mapped[str | None] = mapped_column(String(16), nullable=True)  # confirmed | corrected | not_found
    corrected: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    photo_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answered_by_user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    batch_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
