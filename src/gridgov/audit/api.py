"""Audit routes: read the trail, verify the chain, fetch the head. Auditors only (``audit.read``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from gridgov.accounts.deps import require
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.audit import service
from gridgov.audit.schemas import AuditHeadInfo, AuditPage, VerifyResult
from gridgov.core.clock import CHINA_TZ
from gridgov.core.deps import DbSession
from gridgov.core.ids import MAX_ROW_ID

# Audit entries are district-wide: only holders of audit.read see them (route walk: "permission" kind).
AUDITORS = {"x-scope": "permission:audit.read"}
router = APIRouter(tags=["audit"])

Auditor = Annotated[Principal, require(Permission.audit_read)]


def _aware(value: datetime | None) -> datetime | None:
    # A time without an offset is the platform's local time (China Standard Time), as operators write it.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=CHINA_TZ)


@router.get(
    "/api/audit",
    openapi_extra=AUDITORS,
    response_model=AuditPage,
    summary="Audit entries, newest first (keyset paging)",
)
def list_audit(
    session: DbSession,
    _auditor: Auditor,
    actor: Annotated[str | None, Query(max_length=128, description="Exact actor")] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="Exact action, or a prefix ending in * (auth.*)")
    ] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[datetime | None, Query(description="From (inclusive); no offset means UTC+8")] = None,
    until: Annotated[datetime | None, Query(description="To (exclusive); no offset means UTC+8")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="next_before_id of the previous page")
    ] = None,
) -> AuditPage:
    return service.list_entries(
        session,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        since=_aware(since),
        until=_aware(until),
        limit=limit,
        before_id=before_id,
    )


@router.get(
    "/api/audit/verify", openapi_extra=AUDITORS, response_model=VerifyResult, summary="Verify the hash chain"
)
def verify_audit(
    session: DbSession,
    _auditor: Auditor,
    expect: Annotated[
        str | None, Query(max_length=80, description="A head filed earlier, as ID:HASH: must still be there")
    ] = None,
) -> VerifyResult:
    return service.verify(session, expected=service.parse_filed_head(expect))


@router.get(
    "/api/audit/head",
    openapi_extra=AUDITORS,
    response_model=AuditHeadInfo,
    summary="The newest entry's id and hash",
)
def audit_head(session: DbSession, _auditor: Auditor) -> AuditHeadInfo:
    """For filing outside the database: a chain rewritten afterwards will not contain this hash."""
    return service.head_info(session)
