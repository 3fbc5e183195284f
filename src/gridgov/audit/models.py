"""The audit tables: ``audit_log`` (append-only, hash-chained) and ``audit_head`` (its last id and hash).

``audit_log`` rows are never updated or deleted by the application. Three layers keep it that way: the
service has no such function; an ORM guard (below) refuses flushing a new, changed or deleted ``AuditLog``
or ``AuditHead`` instance (entries are written by ``gridgov.audit.service.record`` only, with Core
statements, so the chain fields are always computed); and on PostgreSQL the migration installs triggers
that refuse UPDATE, DELETE and TRUNCATE of ``audit_log`` whoever issues them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from gridgov.core.db import Base
from gridgov.core.errors import GridgovError

GENESIS_HASH = "0" * 64
HEAD_ROW_ID = 1


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC on both backends.

    SQLite keeps no offset, so values are normalised to UTC on the way in and marked UTC on the way out;
    the entry hash covers the timestamp, so it must read back exactly as it was written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("audit timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_occurred_at", "occurred_at"),
        Index("ix_audit_log_actor", "actor"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_object", "object_type", "object_id"),
    )

    # Assigned by record() as head + 1 under the append lock, never by a sequence: a PostgreSQL sequence
    # skips numbers on rollback, and the verifier reads every gap as deleted entries.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    actor_role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    client_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Canonical JSON (sorted keys); names of fields, never their values when they are personal data.
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row (id 1): the last entry's id and hash, moved in the same transaction as each append.

    Deleting the newest entries leaves no gap inside the chain; the head still names them.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditLogIsAppendOnly(GridgovError):
    code = "audit_append_only"
    http_status = 409


_GUARDED = (AuditLog, AuditHead)


def _refuse_orm_changes(session: Session, _flush_context: Any, _instances: Any) -> None:
    for obj in session.new:
        if isinstance(obj, _GUARDED):
            raise AuditLogIsAppendOnly(
                f"{type(obj).__name__} rows are written by gridgov.audit.service.record() only, "
                "which computes the hash chain; do not add them through the ORM"
            )
    for obj in session.deleted:
        if isinstance(obj, _GUARDED):
            raise AuditLogIsAppendOnly(
                f"The audit trail is append-only: deleting {type(obj).__name__} refused"
            )
    for obj in session.dirty:
        if isinstance(obj, _GUARDED) and session.is_modified(obj):
            raise AuditLogIsAppendOnly(
                f"The audit trail is append-only: changing {type(obj).__name__} refused"
            )


# On the Session class, so every session (whatever sessionmaker made it) carries the guard. Registered at
# import: a process that can load AuditLog instances can never flush changes to them.
if not event.contains(Session, "before_flush", _refuse_orm_changes):
    event.listen(Session, "before_flush", _refuse_orm_changes)
