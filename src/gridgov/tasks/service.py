"""Verification tasks (由"采"变"核", issue 6): made in bulk by the detection rules (``gridgov.rules``) or by
any line through ``create_tasks``, listed and opened through the caller's area scope, answered by the grid
worker of the record's grid — confirmed / corrected (with the corrected values) / not found — with an
optional note and photo.

``tasks`` sits above ``registry`` and ``ingest`` in the layering, so it never imports them. What an answer
does to its target record is the business of the package that owns the record: it registers a
**write-back handler** per target kind (``register_write_back``), which ``answer_task`` calls in the same
transaction, after the answer itself was checked. A handler validates everything before it writes, and
raises (``InvalidInput`` naming the field) rather than half-write; the caller's transaction then rolls back.

The handlers for people, rentals, legal entities and dwellings live in ``gridgov.ingest.verify`` (the
import pipeline's field types, address matching and area counts). Packages that register handlers are
named in ``TARGET_PROVIDERS`` and imported on first need — a plugin list (as a web framework's installed
apps), not a code dependency — so the web app, the command line and a test all find the handlers without
the application factory having to know about them.

Due dates are counted on the working-day calendar (``core.calendar``) from the injectable clock
(``core.clock``). De-duplication: at most one *open* task per rule + target (a unique constraint on
``open_slot`` holds it in the database too), and a rule does not ask again about the same facts (its
``dedupe_key``) once a grid worker has answered them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, Protocol

from sqlalchemy import ColumnElement, Table, and_, func, insert, select, tuple_
from sqlalchemy.orm import Session

from gridgov.areas.scope import DISTRICT_CODE, AreaScope
from gridgov.core import files
from gridgov.core.calendar import get_calendar
from gridgov.core.clock import now as clock_now
from gridgov.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from gridgov.core.i18n import translate
from gridgov.tasks.models import Task, TaskRuleSetting

TASK: Final = Task.__table__
ANSWERS: Final = ("confirmed", "corrected", "not_found")
Answer = Literal["confirmed", "corrected", "not_found"]
STATES: Final = ("open", "done", "cancelled")
TARGET_KINDS: Final = ("person", "rental", "entity", "dwelling")
#: Working days a grid worker has for a verification task unless the rule says otherwise.
DEFAULT_DUE_DAYS: Final = 5
#: Modules (lower in the layering) that register write-back handlers and the rule catalogue, imported on
#: first need.
TARGET_PROVIDERS: Final = ("gridgov.ingest.verify", "gridgov.rules.service")
MAX_NOTE: Final = 2000
#: Where each target kind's record page lives (the registry pages).
RECORD_PAGES: Final = {
    "person": "/registry/people/{id}",
    "rental": "/registry/rentals/{id}",
    "entity": "/registry/entities/{id}",
    "dwelling": "/registry/dwellings/{code}",
}


# ---------------------------------------------------------------------------------------------------------
# Write-back handlers


class WriteBack(Protocol):
    """What an answer does to the target record, in the caller's transaction. Returns what changed, for
    the task's record (masked where personal: ``{field: shown value}``); raises ``InvalidInput`` (naming
    the field) before writing anything when the corrected values are wrong."""

    def __call__(
        self, session: Session, task: Task, answer: str, corrected: dict[str, Any], lang: str
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CorrectableField:
    """A field a grid worker may correct on a target kind: how the form asks for it."""

    name: str
    label: str
    input: str = "text"  # text | date | number | tel | select | textarea
    options: tuple[tuple[str, str], ...] = ()  # select: (value, label)


@dataclass(frozen=True)
class TargetView:
    """A target record as the task form shows it: its current values (masked where personal), the link
    to its record page and its lineage (field → where the value came from)."""

    label: str
    values: list[tuple[str, str, str]]  # (field, label, shown value)
    record_url: str
    lineage: dict[str, str] = field(default_factory=dict)
    exists: bool = True
    # The lineage as a person reads it, where the provider can say more (the source's name): field → text.
    lineage_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetKind:
    write_back: WriteBack
    describe: Callable[[Session, int, str], TargetView] | None = None
    fields: Callable[[str], list[CorrectableField]] | None = None


_TARGETS: dict[str, TargetKind] = {}
_loaded = False


def register_write_back(
    kind: str,
    handler: WriteBack,
    *,
    describe: Callable[[Session, int, str], TargetView] | None = None,
    fields: Callable[[str], list[CorrectableField]] | None = None,
) -> None:
    """Register what an answer does to a ``kind`` target (and, for the form, how to show the record and
    which fields may be corrected). A later registration for the same kind replaces the earlier one."""
    _TARGETS[kind] = TargetKind(write_back=handler, describe=describe, fields=fields)


def _load_providers() -> None:
    global _loaded
    if not _loaded:
        for module in TARGET_PROVIDERS:
            importlib.import_module(module)
        _loaded = True


def target_kind(kind: str) -> TargetKind | None:
    """The registered handlers of a target kind (the provider modules are imported on first need)."""
    _load_providers()
    return _TARGETS.get(kind)


#: The detection rules' catalogue (``gridgov.rules`` registers it): session, language → one dict per rule
#: (rule, title, target_kind, due_days, default, enabled).
_CATALOGUE: list[Callable[[Session, str], list[dict[str, Any]]]] = []


#: The detection rules' runner (``gridgov.rules`` registers it): session, rule names (None: all), batch id →
#: tasks created per rule.
_RUNNER: list[Callable[[Session, list[str] | None, int | None], dict[str, int]]] = []


def register_rule_catalogue(
    catalogue: Callable[[Session, str], list[dict[str, Any]]],
    runner: Callable[[Session, list[str] | None, int | None], dict[str, int]] | None = None,
) -> None:
    _CATALOGUE[:] = [catalogue]
    if runner is not None:
        _RUNNER[:] = [runner]


def run_rules(
    session: Session, *, rules: list[str] | None = None, batch_id: int | None = None
) -> dict[str, int]:
    """Run the detection rules (the registered runner: ``gridgov.rules.service.run_rules``)."""
    _load_providers()
    if not _RUNNER:
        raise InvalidInput("No detection rules are installed")
    return _RUNNER[0](session, rules, batch_id)


def rule_catalogue(session: Session, lang: str) -> list[dict[str, Any]]:
    """The detection rules, their titles and whether each is switched on (empty without a rules package)."""
    _load_providers()
    return _CATALOGUE[0](session, lang) if _CATALOGUE else []


def record_url(task: Task, code: str | None = None) -> str:
    """The page of the task's target record."""
    pattern = RECORD_PAGES.get(task.target_kind, "")
    return pattern.format(id=task.target_id, code=code or task.target_id)


# ---------------------------------------------------------------------------------------------------------
# Creating


@dataclass
class NewTask:
    """A task to create: which rule asks what about which record, where, on what evidence."""

    rule: str
    target_kind: str
    target_id: int
    title: str
    what_to_check: str
    evidence: dict[str, Any]
    street_code: str | None = None
    community_code: str | None = None
    grid_code: str | None = None
    dedupe_key: str | None = None
    kind: str = "verify"
    batch_id: int | None = None
    due_days: int = DEFAULT_DUE_DAYS


def due_after(working_days: int, *, start: datetime | None = None) -> datetime:
    """The moment ``working_days`` working days after ``start`` (default: the clock's now)."""
    return get_calendar().add_working_days(start or clock_now(), working_days)


def create_tasks(session: Session, new: Iterable[NewTask]) -> list[int]:
    """Create tasks in bulk (one executemany); returns the ids of those created.

    Skipped: a task whose rule + target already has an open task (or comes twice in ``new``), and one
    whose rule + target + ``dedupe_key`` was already asked (answered or cancelled: the same facts are not
    asked again). This is the hook for any line — the identity review queue's doubtful merges among them
    (rule ``merge_in_doubt``, target the person) — to hand work to grid workers.
    """
    wanted: dict[tuple[str, str, int], NewTask] = {}
    for item in new:
        if item.target_kind not in TARGET_KINDS:
            raise InvalidInput(f"Unknown task target kind '{item.target_kind}'")
        wanted.setdefault((item.rule, item.target_kind, item.target_id), item)
    if not wanted:
        return []
    taken = _already_asked(session, list(wanted.values()))
    now = clock_now()
    due_cache: dict[int, datetime] = {}
    rows = []
    for key, item in wanted.items():
        if key in taken.open or (*key, item.dedupe_key) in taken.asked:
            continue
        if item.due_days not in due_cache:
            due_cache[item.due_days] = due_after(item.due_days, start=now)
        rows.append(
            {
                "kind": item.kind,
                "rule": item.rule[:32],
                "target_kind": item.target_kind,
                "target_id": item.target_id,
                "street_code": item.street_code,
                "community_code": item.community_code,
                "grid_code": item.grid_code,
                "title": item.title[:200],
                "what_to_check": item.what_to_check,
                "evidence": item.evidence,
                "due_at": due_cache[item.due_days],
                "state": "open",
                "created_at": now,
                "batch_id": item.batch_id,
                "dedupe_key": item.dedupe_key,
                "open_slot": 1,
            }
        )
    if not rows:
        return []
    table: Table = TASK  # type: ignore[assignment]
    return list(session.scalars(insert(table).returning(table.c.id), rows))


@dataclass
class _Taken:
    open: set[tuple[str, str, int]]
    asked: set[tuple[str, str, int, str | None]]


def _already_asked(session: Session, items: Sequence[NewTask]) -> _Taken:
    """Existing tasks for these rules + targets: the open ones, and the facts already asked."""
    taken = _Taken(open=set(), asked=set())
    by_rule: dict[tuple[str, str], list[int]] = {}
    for item in items:
        by_rule.setdefault((item.rule, item.target_kind), []).append(item.target_id)
    for (rule, kind), ids in by_rule.items():
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            for target_id, state, key in session.execute(
                select(Task.target_id, Task.state, Task.dedupe_key).where(
                    Task.rule == rule, Task.target_kind == kind, Task.target_id.in_(chunk)
                )
            ):
                if state == "open":
                    taken.open.add((rule, kind, target_id))
                taken.asked.add((rule, kind, target_id, key))
    return taken


# ---------------------------------------------------------------------------------------------------------
# Reading, within the caller's scope


def area_of(task: Task) -> str:
    """The finest area code a task has (a task its rule could not place belongs to the district)."""
    return task.grid_code or task.community_code or task.street_code or DISTRICT_CODE


def _in_scope(scope: AreaScope) -> ColumnElement[bool]:
    return scope.clause(func.coalesce(Task.grid_code, Task.community_code, Task.street_code, DISTRICT_CODE))


@dataclass(frozen=True)
class TaskFilter:
    rule: str | None = None
    state: str | None = None
    overdue: bool = False
    target_kind: str | None = None
    grid_code: str | None = None
    target_id: int | None = None


def _filtered(scope: AreaScope, where: TaskFilter) -> list[ColumnElement[bool]]:
    clauses = [_in_scope(scope)]
    if where.rule:
        clauses.append(Task.rule == where.rule)
    if where.state:
        if where.state not in STATES:
            raise InvalidInput(f"Unknown task state '{where.state}' (open, done, cancelled)")
        clauses.append(Task.state == where.state)
    if where.overdue:
        clauses.append(and_(Task.state == "open", Task.due_at < clock_now()))
    if where.target_kind:
        clauses.append(Task.target_kind == where.target_kind)
    if where.grid_code:
        clauses.append(Task.grid_code == where.grid_code)
    if where.target_id is not None:
        clauses.append(Task.target_id == where.target_id)
    return clauses


def list_tasks(
    session: Session, scope: AreaScope, where: TaskFilter | None = None, *, limit: int = 100, offset: int = 0
) -> list[Task]:
    """Tasks inside ``scope`` (the scoping helper's area scope), open ones first, soonest due first."""
    clauses = _filtered(scope, where or TaskFilter())
    ordering = (
        (Task.state != "open"),
        Task.due_at,
        Task.id,
    )
    return list(session.scalars(select(Task).where(*clauses).order_by(*ordering).limit(limit).offset(offset)))


def count_tasks(session: Session, scope: AreaScope, where: TaskFilter | None = None) -> int:
    clauses = _filtered(scope, where or TaskFilter())
    return int(session.scalar(select(func.count()).select_from(Task).where(*clauses)) or 0)


def counts_by_state(session: Session, scope: AreaScope) -> dict[str, int]:
    """Open, overdue and done tasks in the scope (the list page's summary)."""
    base = _in_scope(scope)
    rows = session.execute(select(Task.state, func.count()).where(base).group_by(Task.state)).all()
    counts = {state: int(n) for state, n in rows}
    overdue = session.scalar(
        select(func.count()).where(base, Task.state == "open", Task.due_at < clock_now())
    )
    return {
        "open": counts.get("open", 0),
        "done": counts.get("done", 0),
        "overdue": int(overdue or 0),
    }


def rules_in_scope(session: Session, scope: AreaScope) -> list[tuple[str, str]]:
    """The rules that made tasks inside ``scope``, each with a title of one of its tasks (for filters)."""
    rows = session.execute(
        select(Task.rule, func.min(Task.title))
        .where(_in_scope(scope))
        .group_by(Task.rule)
        .order_by(Task.rule)
    ).all()
    return [(str(rule), str(title)) for rule, title in rows]


def get_task(session: Session, task_id: int, scope: AreaScope) -> Task:
    """One task; ``NotFound`` when there is none, ``Forbidden`` when it lies outside ``scope``."""
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"No task {task_id}")
    if not scope.covers(area_of(task)):
        raise Forbidden("That task lies outside your area scope")
    return task


def is_overdue(task: Task, at: datetime | None = None) -> bool:
    return task.state == "open" and task.due_at < (at or clock_now())


# ---------------------------------------------------------------------------------------------------------
# Answering


@dataclass(frozen=True)
class Answerer:
    """Who answers: the account and the name shown on the task."""

    user_id: int | None
    name: str
    scope: AreaScope


def answer_task(
    session: Session,
    task_id: int,
    *,
    by: Answerer,
    answer: str,
    corrected: dict[str, Any] | None = None,
    note: str | None = None,
    photo: bytes | None = None,
    lang: str = "zh-CN",
) -> Task:
    """Answer a task: confirmed / corrected (with the corrected values) / not_found, with an optional note
    and photo. The target's write-back handler runs in the same transaction; who and when are recorded.

    Refused: a task outside the answerer's scope (403), one already answered (409), an unknown answer,
    corrected values with another answer or none with "corrected", and corrected values the handler
    finds wrong (422, naming the field) — in every case before anything is written.
    """
    task = get_task(session, task_id, by.scope)
    # Lock the row (PostgreSQL) so that two answers at once cannot both find it open.
    session.refresh(task, with_for_update=True)
    if task.state != "open":
        raise Conflict(translate("tasks.error.answered", lang, id=task.id))
    if answer not in ANSWERS:
        raise InvalidInput(translate("tasks.error.answer", lang))
    values = {k: v for k, v in (corrected or {}).items() if v is not None and str(v).strip() != ""}
    if answer == "corrected" and not values:
        raise InvalidInput(translate("tasks.error.nothing_corrected", lang))
    if answer != "corrected" and values:
        raise InvalidInput(translate("tasks.error.values_without_correction", lang))
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise InvalidInput(translate("tasks.error.note_too_long", lang, limit=MAX_NOTE))
    handlers = target_kind(task.target_kind)
    if handlers is None:
        raise InvalidInput(f"No write-back is registered for '{task.target_kind}' targets")
    try:
        stored = files.store_photo(photo) if photo else None  # checked before the record is touched
    except InvalidInput:
        raise InvalidInput(
            translate("tasks.error.photo", lang, megabytes=files.MAX_PHOTO_BYTES // (1024 * 1024))
        ) from None
    changed = handlers.write_back(session, task, answer, values, lang)
    task.state = "done"
    task.open_slot = None
    task.answer = answer
    task.corrected = changed or None
    task.note = text or None
    task.photo_sha256 = stored.sha256 if stored else None
    task.photo_mime = stored.mime if stored else None
    task.answered_by_user_id = by.user_id
    task.answered_by = by.name[:128]
    task.answered_at = clock_now()
    session.flush()
    return task


def cancel_open_tasks(session: Session, *, rule: str, target_kind: str, target_ids: Sequence[int]) -> int:
    """Cancel the open tasks of a rule on these targets (when the facts that made them are gone)."""
    count = 0
    for start in range(0, len(target_ids), 5000):
        chunk = list(target_ids[start : start + 5000])
        for task in session.scalars(
            select(Task).where(
                Task.rule == rule,
                Task.target_kind == target_kind,
                Task.target_id.in_(chunk),
                Task.state == "open",
            )
        ):
            task.state = "cancelled"
            task.open_slot = None
            count += 1
    session.flush()
    return count


# ---------------------------------------------------------------------------------------------------------
# Rule switches (the rules themselves live in ``gridgov.rules``; their on/off state is kept here)


def rule_switches(session: Session) -> dict[str, bool]:
    """Rules an operator switched on or off, overriding the shipped defaults."""
    return {row.rule: row.enabled for row in session.scalars(select(TaskRuleSetting))}


def switch_rule(session: Session, rule: str, *, enabled: bool, by: str) -> TaskRuleSetting:
    """Switch a rule on or off (persisted; the shipped default no longer applies to it)."""
    setting = session.get(TaskRuleSetting, rule)
    if setting is None:
        setting = TaskRuleSetting(rule=rule, enabled=enabled, updated_at=clock_now(), updated_by=by[:128])
        session.add(setting)
    setting.enabled = enabled
    setting.updated_at = clock_now()
    setting.updated_by = by[:128]
    session.flush()
    return setting


def open_task_counts(session: Session, targets: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Open tasks per (target kind, target id), for pages that list records."""
    wanted = list(set(targets))
    if not wanted:
        return {}
    rows = session.execute(
        select(Task.target_kind, Task.target_id, func.count())
        .where(Task.state == "open", tuple_(Task.target_kind, Task.target_id).in_(wanted))
        .group_by(Task.target_kind, Task.target_id)
    ).all()
    return {(kind, int(target)): int(n) for kind, target, n in rows}
