"""The tasks API (issue 6): verification tasks within the caller's area scope, their answers, and the
detection rules' on/off switches. Thin routes over ``tasks.service``.

Scoping: every task read goes through ``tasks.service`` with the caller's ``Principal.scope`` (a task
outside it: 403); lists hold only tasks inside it. ``x-scope`` (tests/test_scope_walk.py): the walk has no
probe for task ids yet, so the task routes declare their permission (``permission:tasks.read`` /
``permission:tasks.work``) and tests/test_tasks_api.py knocks on tasks outside the scope itself; the rule
switches and the run (``POST /api/tasks/rules/run``, after an import) are district-wide configuration
(``permission:ingest.manage``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from gridgov.accounts.deps import require
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.core.clock import now as clock_now
from gridgov.core.deps import DbSession
from gridgov.core.errors import NotFound
from gridgov.core.i18n import pick_language, translate
from gridgov.core.ids import MAX_ROW_ID, OptionalRowId, RowId
from gridgov.tasks import service
from gridgov.tasks.models import Task
from gridgov.tasks.schemas import (
    AnswerIn,
    CorrectableFieldOut,
    FieldValue,
    RuleOut,
    RuleSwitchIn,
    RunRulesIn,
    TargetOut,
    TaskDetail,
    TaskOut,
    TaskPage,
)

router = APIRouter(tags=["tasks"])
Reader = Annotated[Principal, require(Permission.tasks_read)]
Worker = Annotated[Principal, require(Permission.tasks_work)]
Configurer = Annotated[Principal, require(Permission.ingest_manage)]
_LINEAGE = re.compile(r"^b(\d+):r(\d+)$|^t(\d+)$")


def lineage_label(lineage: str | None, lang: str) -> str | None:
    """Where a value came from, as a person reads it: an import batch and row, or a verification task."""
    if not lineage:
        return None
    found = _LINEAGE.match(lineage)
    if found is None:
        return lineage
    if found.group(3):
        return translate("tasks.lineage.task", lang, id=found.group(3))
    return translate("tasks.lineage.batch", lang, batch=found.group(1), row=found.group(2))


def task_out(task: Task, record_url: str | None = None) -> TaskOut:
    return TaskOut.model_validate(
        {
            **{c.name: getattr(task, c.name) for c in Task.__table__.columns},
            "overdue": service.is_overdue(task, clock_now()),
            "has_photo": task.photo_sha256 is not None,
            "record_url": record_url or service.record_url(task),
        }
    )


def task_detail(session: Session, task: Task, lang: str) -> TaskDetail:
    """A task with its target's current values (masked where personal) and what may be corrected."""
    handlers = service.target_kind(task.target_kind)
    target = None
    correctable: list[CorrectableFieldOut] = []
    url = None
    if handlers is not None and handlers.describe is not None:
        view = handlers.describe(session, task.target_id, lang)
        url = view.record_url or None
        target = TargetOut(
            label=view.label,
            exists=view.exists,
            record_url=view.record_url,
            values=[
                FieldValue(
                    field=name,
                    label=label,
                    value=value,
                    lineage=view.lineage_labels.get(name) or lineage_label(view.lineage.get(name), lang),
                )
                for name, label, value in view.values
            ],
        )
    if handlers is not None and handlers.fields is not None:
        correctable = [
            CorrectableFieldOut(name=f.name, label=f.label, input=f.input, options=list(f.options))
            for f in handlers.fields(lang)
        ]
    out = task_out(task, url)
    return TaskDetail(**out.model_dump(), target=target, correctable=correctable)


@router.get(
    "/api/tasks",
    response_model=TaskPage,
    summary="Verification tasks within the caller's area scope",
    openapi_extra={"x-scope": "permission:tasks.read"},
)
def list_tasks(
    session: DbSession,
    principal: Reader,
    rule: Annotated[str | None, Query(max_length=32)] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
    overdue: bool = False,
    target_kind: Annotated[str | None, Query(max_length=16)] = None,
    grid_code: Annotated[str | None, Query(max_length=15)] = None,
    target_id: OptionalRowId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> TaskPage:
    where = service.TaskFilter(
        rule=rule,
        state=state,
        overdue=overdue,
        target_kind=target_kind,
        grid_code=grid_code,
        target_id=target_id,
    )
    tasks = service.list_tasks(session, principal.scope, where, limit=limit, offset=offset)
    return TaskPage(
        total=service.count_tasks(session, principal.scope, where), items=[task_out(t) for t in tasks]
    )


@router.get(
    "/api/tasks/rules",
    response_model=list[RuleOut],
    summary="The detection rules and whether each is switched on",
    openapi_extra={"x-scope": "permission:tasks.read"},
)
def list_rules(request: Request, session: DbSession, _principal: Reader) -> list[dict[str, Any]]:
    return service.rule_catalogue(session, pick_language(request))


@router.put(
    "/api/tasks/rules/{rule}",
    response_model=RuleOut,
    summary="Switch a detection rule on or off (district-wide)",
    openapi_extra={"x-scope": "permission:ingest.manage"},
)
def switch_rule(
    request: Request, session: DbSession, principal: Configurer, rule: str, body: RuleSwitchIn
) -> dict[str, Any]:
    lang = pick_language(request)
    known = {item["rule"] for item in service.rule_catalogue(session, lang)}
    if rule not in known:
        raise NotFound(translate("tasks.error.rule_unknown", lang, rule=rule[:40]))
    service.switch_rule(session, rule, enabled=body.enabled, by=principal.username)
    return next(item for item in service.rule_catalogue(session, lang) if item["rule"] == rule)


@router.post(
    "/api/tasks/rules/run",
    response_model=dict[str, int],
    summary="Run the switched-on detection rules now (after an import, say): tasks created per rule",
    openapi_extra={"x-scope": "permission:ingest.manage"},
)
def run_rules(session: DbSession, _principal: Configurer, body: RunRulesIn) -> dict[str, int]:
    return service.run_rules(session, rules=body.rules, batch_id=body.batch_id)


@router.get(
    "/api/tasks/{task_id}",
    response_model=TaskDetail,
    summary="One task with its target's current values and evidence",
    openapi_extra={"x-scope": "permission:tasks.read"},
)
def get_task(request: Request, session: DbSession, principal: Reader, task_id: RowId) -> TaskDetail:
    task = service.get_task(session, task_id, principal.scope)
    return task_detail(session, task, pick_language(request))


@router.post(
    "/api/tasks/{task_id}/answer",
    response_model=TaskDetail,
    summary="Answer a task: confirmed / corrected (with the corrected values) / not found",
    openapi_extra={"x-scope": "permission:tasks.work"},
)
def answer_task(
    request: Request, session: DbSession, principal: Worker, task_id: RowId, body: AnswerIn
) -> TaskDetail:
    lang = pick_language(request)
    task = service.answer_task(
        session,
        task_id,
        by=service.Answerer(
            user_id=principal.user_id,
            name=principal.display_name or principal.username,
            scope=principal.scope,
        ),
        answer=body.answer,
        corrected=dict(body.corrected or {}),
        note=body.note,
        lang=lang,
    )
    return task_detail(session, task, lang)
