"""Audit trail in/out shapes: an entry, a page of entries, and what verification found."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AuditEntry(BaseModel):
    """One entry as stored; ``details`` is the decoded JSON object."""

    model_config = ConfigDict(frozen=True)

    id: int
    occurred_at: datetime
    actor: str
    actor_role: str | None = None
    action: str
    object_type: str
    object_id: str | None = None
    client_address: str | None = None
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    entry_hash: str


class AuditPage(BaseModel):
    """Entries newest first; pass ``next_before_id`` as ``before_id`` for the next (older) page."""

    entries: list[AuditEntry]
    next_before_id: int | None = None


BreakKind = Literal[
    "altered",  # the entry's hash does not recompute
    "link",  # prev_hash is not the previous entry's hash (``ref``: that entry)
    "genesis",  # entry 1's prev_hash is not 64 zeros
    "missing",  # ids ``id``..``ref`` are absent
    "head_missing",  # the audit_head row is gone
    "head_mismatch",  # the last entry is not the one audit_head records
    "head_behind",  # entries exist after audit_head's id
    "filed_missing",  # an operator-filed head (id, hash) is not in the chain
    "filed_mismatch",  # … or is there with another hash
]


class BrokenEntry(BaseModel):
    """The first place the chain does not hold. ``id`` is None when the head row itself is missing."""

    id: int | None
    kind: BreakKind
    reason: str
    ref: int | None = Field(default=None, description="The other entry involved (previous one, end of a gap)")


class AuditHeadInfo(BaseModel):
    """The newest entry's id and hash: what an operator files outside the database."""

    last_id: int
    last_hash: str
    occurred_at: datetime | None = None


class VerifyResult(BaseModel):
    ok: bool
    entries: int = Field(description="Entries checked (up to the head, or up to the first break)")
    head_id: int
    head_hash: str
    broken: BrokenEntry | None = None

    @property
    def summary(self) -> str:
        if self.broken is None:
            return f"audit trail intact: {self.entries} entries, head {self.head_hash}"
        where = f"entry {self.broken.id}" if self.broken.id is not None else "the head"
        return f"audit trail broken at {where}: {self.broken.reason}"
