"""Grid-worker tasks (核查任务): what to check about which record, in which grid, by when; and the
per-rule on/off switches that the detection rules (``gridgov.rules``) read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.audit.models import UTCDateTime
from gridgov.core.db import Base


class Task(Base):
    __tablename__ = "task"
    __table_args__ = (
        # At most one open task per rule and target: ``open_slot`` is 1 while the task is open and NULL
        # once it is answered or cancelled (NULLs never collide, on SQLite and PostgreSQL alike).
        UniqueConstraint("rule", "target_kind", "target_id", "open_slot", name="uq_task_open_slot"),
        Index("ix_task_target", "target_kind", "target_id"),
        # Open tasks counted per area and grouped by the area one level down (area statistics): each
        # level's count reads one of these indexes only, never the task rows.
        Index("ix_task_state_street", "state", "street_code", "community_code"),
        Index("ix_task_state_community", "state", "community_code", "grid_code"),
        Index("ix_task_state_grid", "state", "grid_code"),
    )

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
    # What the rule saw (a short fingerprint of the facts): a rule does not ask again about the same facts
    # once a grid worker has answered, only when they change.
    dedupe_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    open_slot: Mapped[int | None] = mapped_column(Integer, nullable=True, default=1)
    answered_by: Mapped[str | None] = mapped_column(String(128), nullable=True)  # display name, as answered
    photo_mime: Mapped[str | None] = mapped_column(String(32), nullable=True)


class TaskRuleSetting(Base):
    """A detection rule switched on or off by an operator, overriding the shipped default (rules.yaml)."""

    __tablename__ = "task_rule_setting"

    rule: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(128))
