"""The auditor's page: the audit trail newest first, with filters, paging and the chain's status.

The chain status comes in a second request (htmx, ``/audit/status``) because verifying walks and hashes
every entry; the list shows at once. Without scripts, a link reloads the page with ``verify=1`` and the
status rendered in place.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridgov.accounts.deps import optional_principal
from gridgov.accounts.permissions import Permission
from gridgov.audit import service
from gridgov.audit.schemas import AuditEntry
from gridgov.core.clock import CHINA_TZ
from gridgov.core.deps import DbSession
from gridgov.core.templating import render

router = APIRouter(tags=["pages"])


PAGE_SIZE = 50
LOGIN_PATH = "/login"
# Filter inputs, the length the columns allow.
TEXT_FILTERS: dict[str, int] = {"actor": 128, "action": 64, "object_type": 64, "object_id": 128}


def _refusal(request: Request, *, fragment: bool = False) -> Response | None:
    """A redirect to the login page, a 403 page, or None when the caller may read the audit trail.

    A fragment is refused with a fragment: a redirect would be followed by the script and the login
    page swapped into the status box.
    """
    principal = optional_principal(request)
    if fragment and (principal is None or not principal.can(Permission.audit_read)):
        status = 401 if principal is None else 403
        return render(request, "audit/_status.html", {"status": None}, status_code=status)
    if principal is None:
        root = request.scope.get("root_path", "")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{root}{LOGIN_PATH}?next={quote(target, safe='/')}", status_code=303)
    if not principal.can(Permission.audit_read):
        return render(request, "audit/forbidden.html", {"nav": "audit"}, status_code=403)
    return None


def _day(value: str | None) -> tuple[date | None, bool]:
    """(the date, whether the input was bad): a page ignores a malformed date and says so, not a 422."""
    if not value or not value.strip():
        return None, False
    try:
        return date.fromisoformat(value.strip()), False
    except ValueError:
        return None, True


def _row(entry: AuditEntry) -> dict[str, Any]:
    columns = entry.details.get("columns")
    if isinstance(columns, list) and len(entry.details) == 1:
        details = ", ".join(str(c) for c in columns)
    elif entry.details:
        details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    else:
        details = ""
    return {
        "entry": entry,
        "time": entry.occurred_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        "details": details,
        "hash_short": entry.entry_hash[:12],
    }


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request,
    session: DbSession,
    date_from: Annotated[str | None, Query(alias="from")] = None,
    date_to: Annotated[str | None, Query(alias="to")] = None,
    before_id: str | None = None,
    verify: str | None = None,
) -> Response:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    texts = {
        name: (request.query_params.get(name) or "").strip()[:limit] for name, limit in TEXT_FILTERS.items()
    }
    first_day, bad_from = _day(date_from)
    last_day, bad_to = _day(date_to)
    since = datetime.combine(first_day, time(0), CHINA_TZ) if first_day else None
    until = datetime.combine(last_day + timedelta(days=1), time(0), CHINA_TZ) if last_day else None
    cursor = int(before_id) if before_id and before_id.isdigit() and int(before_id) > 0 else None
    page = service.list_entries(
        session,
        actor=texts["actor"] or None,
        action=texts["action"] or None,
        object_type=texts["object_type"] or None,
        object_id=texts["object_id"] or None,
        since=since,
        until=until,
        limit=PAGE_SIZE,
        before_id=cursor,
    )
    filters = {
        **texts,
        "from": first_day.isoformat() if first_day else "",
        "to": last_day.isoformat() if last_day else "",
    }
    kept = {name: value for name, value in filters.items() if value}
    path = request.url.path
    root = request.scope.get("root_path", "")
    return render(
        request,
        "audit/index.html",
        {
            "nav": "audit",
            "filters": filters,
            "filtered": bool(kept),
            "bad_date": bad_from or bad_to,
            "rows": [_row(entry) for entry in page.entries],
            "paged": cursor is not None,
            "newest_url": f"{path}?{urlencode(kept)}" if kept else path,
            "older_url": (
                f"{path}?{urlencode({**kept, 'before_id': page.next_before_id})}"
                if page.next_before_id is not None
                else None
            ),
            "status": service.verify(session) if verify == "1" else None,
            "status_url": f"{root}/audit/status",
            "verify_url": f"{path}?{urlencode({**kept, 'verify': '1'})}",
            "reset_url": path,
        },
    )


@router.get("/audit/status", response_class=HTMLResponse, include_in_schema=False)
def audit_status(request: Request, session: DbSession) -> Response:
    """The chain status as an HTML fragment for the page (htmx swaps it in)."""
    refusal = _refusal(request, fragment=True)
    if refusal is not None:
        return refusal
    return render(request, "audit/_status.html", {"status": service.verify(session)})
