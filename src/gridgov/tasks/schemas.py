"""Task schemas: what the API gives and takes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridgov.core.ids import MAX_ROW_ID


class TaskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    rule: str
    target_kind: str
    target_id: int
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    title: str
    what_to_check: str
    evidence: dict[str, Any]
    due_at: datetime
    overdue: bool = False
    state: str
    answer: str | None
    corrected: dict[str, Any] | None
    note: str | None
    has_photo: bool = False
    answered_by: str | None
    answered_at: datetime | None
    created_at: datetime
    batch_id: int | None
    record_url: str


class FieldValue(BaseModel):
    field: str
    label: str
    value: str
    lineage: str | None = None


class CorrectableFieldOut(BaseModel):
    name: str
    label: str
    input: str
    options: list[tuple[str, str]] = Field(default_factory=list)


class TargetOut(BaseModel):
    label: str
    exists: bool
    record_url: str
    values: list[FieldValue]


class TaskDetail(TaskOut):
    target: TargetOut | None = None
    correctable: list[CorrectableFieldOut] = Field(default_factory=list)


class AnswerIn(BaseModel):
    """An answer: ``corrected`` only with ``corrected`` (field → new value, as the form sends text)."""

    model_config = ConfigDict(extra="forbid")

    answer: Literal["confirmed", "corrected", "not_found"]
    corrected: dict[str, str | Annotated[int, Field(ge=-MAX_ROW_ID, le=MAX_ROW_ID)] | None] | None = None
    note: str | None = Field(default=None, max_length=2000)


class TaskPage(BaseModel):
    total: int
    items: list[TaskOut]


class RuleOut(BaseModel):
    rule: str
    title: str
    target_kind: str
    due_days: int
    default: bool
    enabled: bool


class RuleSwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class RunRulesIn(BaseModel):
    """Which rules to run (all switched-on ones when empty), and on which import batch's records only."""

    model_config = ConfigDict(extra="forbid")

    rules: list[str] | None = Field(default=None, max_length=32)
    batch_id: int | None = Field(None, ge=1, le=MAX_ROW_ID)
