"""The tasks pages (issue 6): a grid worker's task list and task form, made for a phone (390 px wide: one
column, big touch targets, no horizontal scroll, the camera for the photo), and the same list with filters
(rule, state, overdue) for street and community operators. Server-rendered, no script: the form is a plain
multipart POST carrying the session's CSRF token in a hidden field (checked here, as the login form's is).

- ``/tasks`` — the tasks within the caller's area scope, open ones first, soonest due first.
- ``/tasks/{id}`` — one task: what to check, the record's current values (masked where personal) with where
  each came from, the evidence, and — while open, for whoever may answer — the three answers, the
  corrected-value fields of the record's kind, a note and a photo. Answered, it shows the answer and links
  to the record's page.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from gridgov.accounts.deps import require_page
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.areas.models import Community, Grid
from gridgov.core.clock import CHINA_TZ
from gridgov.core.clock import now as clock_now
from gridgov.core.db import transaction
from gridgov.core.deps import DbSession
from gridgov.core.errors import GridgovError, InvalidInput
from gridgov.core.files import MAX_PHOTO_BYTES
from gridgov.core.i18n import pick_language, translate
from gridgov.core.ids import RowId
from gridgov.core.templating import render
from gridgov.tasks import service
from gridgov.tasks.api import task_detail

router = APIRouter(tags=["pages"], include_in_schema=False)
PAGE_SIZE: Final = 30
Reader = Annotated[Principal, require_page(Permission.tasks_read)]
_CORRECTED_PREFIX: Final = "c_"


def local_time(moment: datetime | None) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if moment else ""


def answer_labels(lang: str) -> dict[str, str]:
    return {
        "confirmed": translate("tasks.answer.confirmed", lang),
        "corrected": translate("tasks.answer.corrected", lang),
        "not_found": translate("tasks.answer.not_found", lang),
    }


def state_labels(lang: str) -> dict[str, str]:
    return {
        "open": translate("tasks.state.open", lang),
        "done": translate("tasks.state.done", lang),
        "cancelled": translate("tasks.state.cancelled", lang),
    }


def said_labels(lang: str) -> dict[str, str]:
    """What each piece of evidence says, as a person reads it."""
    return {
        "lives_here": translate("tasks.said.lives_here", lang),
        "rental_registered": translate("tasks.said.rental_registered", lang),
        "moved_in": translate("tasks.said.moved_in", lang),
        "declared_occupants": translate("tasks.said.declared_occupants", lang),
        "residents_counted": translate("tasks.said.residents_counted", lang),
        "operates_at": translate("tasks.said.operates_at", lang),
        "address_use": translate("tasks.said.address_use", lang),
        "operates_at_unplaced": translate("tasks.said.operates_at_unplaced", lang),
        "placed_by_registered_address": translate("tasks.said.placed_by_registered_address", lang),
        "address_written": translate("tasks.said.address_written", lang),
        "id_fails_check": translate("tasks.said.id_fails_check", lang),
    }


def fact_labels(lang: str) -> dict[str, str]:
    """Labels of the facts evidence carries."""
    return {
        "address": translate("tasks.fact.address", lang),
        "move_in_date": translate("tasks.fact.move_in_date", lang),
        "rental_id": translate("tasks.fact.rental_id", lang),
        "start_date": translate("tasks.fact.start_date", lang),
        "declared_occupants": translate("tasks.fact.declared_occupants", lang),
        "residents": translate("tasks.fact.residents", lang),
        "address_code": translate("tasks.fact.address_code", lang),
        "matched_code": translate("tasks.fact.address_code", lang),
        "level": translate("tasks.fact.level", lang),
        "use": translate("tasks.fact.use", lang),
        "building_use": translate("tasks.fact.building_use", lang),
        "score": translate("tasks.fact.score", lang),
        "auto_accept": translate("tasks.fact.auto_accept", lang),
        "from_grid": translate("tasks.fact.from_grid", lang),
        "to_grid": translate("tasks.fact.to_grid", lang),
    }


_FACT_SKIP: Final = frozenset(
    {"said", "source", "source_title", "file", "batch", "row", "lineage", "change", "at"}
)


def evidence_items(evidence: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """The evidence's facts, each with what it says, who said it (source, batch, row) and its values."""
    said = said_labels(lang)
    labels = fact_labels(lang)
    items = []
    for fact in evidence.get("facts") or []:
        if not isinstance(fact, dict):
            continue
        source = None
        if fact.get("batch") is not None and fact.get("row") is not None:
            source = translate(
                "tasks.evidence.source",
                lang,
                source=fact.get("source_title") or fact.get("source") or "",
                batch=fact["batch"],
                row=fact["row"],
            )
        elif fact.get("batch") is not None:
            source = translate("tasks.evidence.batch", lang, batch=fact["batch"])
        values = [
            (labels.get(key, key), value)
            for key, value in fact.items()
            if key not in _FACT_SKIP and value not in (None, "")
        ]
        kind = str(fact.get("said"))
        items.append({"said": said.get(kind, kind), "source": source, "values": values})
    return items


def _area_names(session: Session, codes: set[str]) -> dict[str, str]:
    codes = {c for c in codes if c}
    if not codes:
        return {}
    names = dict(session.execute(select(Grid.code, Grid.name).where(Grid.code.in_(codes))).all())
    names.update(
        session.execute(select(Community.code, Community.name).where(Community.code.in_(codes))).all()
    )
    return {str(k): str(v) for k, v in names.items()}


@router.get("/tasks", response_class=HTMLResponse)
def task_list(
    request: Request,
    session: DbSession,
    principal: Reader,
    rule: Annotated[str, Query(max_length=32)] = "",
    state: Annotated[str, Query(max_length=16)] = "open",
    overdue: Annotated[str, Query(max_length=8)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    lang = pick_language(request)
    state = state if state in (*service.STATES, "all") else "open"
    where = service.TaskFilter(
        rule=rule or None, state=None if state == "all" else state, overdue=overdue == "1"
    )
    tasks = service.list_tasks(
        session, principal.scope, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    total = service.count_tasks(session, principal.scope, where)
    rules = service.rules_in_scope(session, principal.scope)
    names = _area_names(session, {t.grid_code or t.community_code or "" for t in tasks})
    now = clock_now()
    query = {"rule": rule, "state": state, "overdue": overdue}
    more = urlencode({**query, "page": page + 1}) if page * PAGE_SIZE < total else None
    return render(
        request,
        "tasks/list.html",
        {
            "nav": "tasks",
            "tasks": [
                {
                    "task": t,
                    "due": local_time(t.due_at),
                    "overdue": service.is_overdue(t, now),
                    "area": names.get(t.grid_code or t.community_code or "", t.grid_code or ""),
                }
                for t in tasks
            ],
            "total": total,
            "summary": service.counts_by_state(session, principal.scope),
            "rules": rules,
            "filters": query,
            "more": more,
            "page": page,
            "states": state_labels(lang),
            "answers": answer_labels(lang),
            "can_work": principal.can(Permission.tasks_work),
        },
    )


def _detail_context(
    request: Request, session: Session, principal: Principal, task_id: int, lang: str
) -> dict[str, Any]:
    task = service.get_task(session, task_id, principal.scope)
    detail = task_detail(session, task, lang)
    names = _area_names(session, {task.grid_code or "", task.community_code or ""})
    return {
        "nav": "tasks",
        "task": detail,
        "due": local_time(task.due_at),
        "answered_at": local_time(task.answered_at),
        "area": " · ".join(
            name for name in (names.get(task.community_code or ""), names.get(task.grid_code or "")) if name
        ),
        "evidence": evidence_items(task.evidence or {}, lang),
        "answers": answer_labels(lang),
        "states": state_labels(lang),
        "can_answer": principal.can(Permission.tasks_work) and task.state == "open",
        "field_labels": {f.name: f.label for f in detail.correctable},
    }


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, session: DbSession, principal: Reader, task_id: RowId) -> Response:
    lang = pick_language(request)
    context = _detail_context(request, session, principal, task_id, lang)
    context["just_answered"] = request.query_params.get("answered") == "1"
    return render(request, "tasks/detail.html", context)


@router.post("/tasks/{task_id}", response_class=HTMLResponse)
async def answer_task(request: Request, principal: Reader, task_id: RowId) -> Response:
    """The task form's answer: on success back to the task (now showing its answer), else the form again
    with the reason and what was typed."""
    lang = pick_language(request)
    form = await request.form()
    sent = str(form.get("csrf_token") or "")
    expected = getattr(request.state, "csrf_token", None) or ""
    upload = form.get("photo")
    photo = b""
    if isinstance(upload, UploadFile) and upload.filename:
        photo = await upload.read(MAX_PHOTO_BYTES + 1)
    answer = str(form.get("answer") or "")
    corrected = {
        key.removeprefix(_CORRECTED_PREFIX): str(value).strip()
        for key, value in form.multi_items()
        if key.startswith(_CORRECTED_PREFIX) and isinstance(value, str) and value.strip()
    }
    note = str(form.get("note") or "")[: service.MAX_NOTE + 1]
    factory = request.app.state.session_factory

    def work() -> str | None:
        # A browser session proves the form is its own with the session's token; an API token is not
        # ambient (no cookie), so it needs none.
        if principal.via != "token" and not (expected and hmac.compare_digest(expected, sent)):
            return translate("tasks.error.csrf", lang)
        principal.require(Permission.tasks_work)
        try:
            with transaction(factory) as session:
                service.answer_task(
                    session,
                    task_id,
                    by=service.Answerer(
                        user_id=principal.user_id,
                        name=principal.display_name or principal.username,
                        scope=principal.scope,
                    ),
                    answer=answer if answer else "",
                    corrected=corrected if answer == "corrected" else None,
                    note=note,
                    photo=photo or None,
                    lang=lang,
                )
        except InvalidInput as error:
            return error.message
        except GridgovError as error:
            if error.http_status in (403, 404):
                raise
            return error.message
        return None

    if not answer:
        problem: str | None = translate("tasks.error.choose_answer", lang)
    else:
        problem = await run_in_threadpool(work)
    if problem is None:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/tasks/{task_id}?answered=1", 303)

    def again() -> dict[str, Any]:
        with transaction(factory) as session:
            return _detail_context(request, session, principal, task_id, lang)

    context = await run_in_threadpool(again)
    context.update(error=problem, form={"answer": answer, "corrected": corrected, "note": note})
    return render(request, "tasks/detail.html", context, status_code=422)
