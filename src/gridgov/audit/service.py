"""The audit trail: append entries to a hash chain, verify it, read it. The only code that writes it.

Chain. Entry ``n`` stores ``prev_hash`` = entry ``n-1``'s ``entry_hash`` (64 zeros for entry 1) and
``entry_hash`` = SHA-256 over the canonical serialisation of all its fields, ``prev_hash`` included
(``canonical_bytes``). Altering, inserting or removing an entry therefore breaks a hash or a link, and
``verify`` names the first entry where that happens. ``audit_head`` holds the newest id and hash and moves
in the same transaction as each append, so removing the *newest* entries (which leaves no hole) shows too.

Limit, by construction: someone who can rewrite both tables *and* recompute every hash defeats any chain
kept inside the same database. The defence is to keep the head somewhere else: ``gridgov audit head``
prints it for an operator to file (a ticket, a signed mail, paper); ``verify(expected=(id, hash))`` /
``gridgov audit verify --expect ID:HASH`` later proves the chain still contains that exact entry.

Concurrency. Appends must be strictly serial (each needs the previous hash), so they happen at commit:
``record`` and the flush hook only queue drafts on the session (each draft keeps the time it was made), and
a ``before_commit`` hook takes the append lock, reads the head, inserts the queued entries and moves the
head — then the commit releases the lock. On PostgreSQL the lock is a transaction-level advisory lock
(``pg_advisory_xact_lock``), so the next writer reads the committed head. On SQLite the append starts with
a no-op UPDATE of ``audit_head``, which takes the database's single write lock *before* the head is read
(a plain SELECT first could read a head another writer is about to move). Ids come from the head (head +
1), never from a sequence, so a rolled-back transaction leaves no gap; drafts made inside a savepoint that
rolls back are dropped with it.

Why at commit: the lock is held only for the append and the commit itself, not for the whole unit of work,
so concurrent writers no longer queue behind each other's reads, checks and responses. A holder of the
lock never waits for a row lock (every other write of its transaction is already done), so the lock
cannot take part in a deadlock.

Every ORM write is logged by a flush hook (``install_write_auditing``). Bulk statements
(``session.execute(delete(...))``, ``bulk_insert_mappings``) bypass ORM events; their callers log them
with ``record`` themselves.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Column, Row, Table, event, func, insert, inspect, select, text, update
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from gridgov.audit.context import ActorInfo, current_actor
from gridgov.audit.models import GENESIS_HASH, HEAD_ROW_ID, AuditHead, AuditLog
from gridgov.audit.schemas import (
    AuditEntry,
    AuditHeadInfo,
    AuditPage,
    BreakKind,
    BrokenEntry,
    VerifyResult,
)
from gridgov.core.clock import now
from gridgov.core.errors import InvalidInput

# Core tables: appends are Core statements, which fire no ORM events (the write hook cannot recurse).
LOG = cast(Table, AuditLog.__table__)
HEAD = cast(Table, AuditHead.__table__)

# Any fixed 64-bit key works; these are the ASCII bytes of "gridaudt", easy to spot in pg_locks.
APPEND_LOCK_KEY = 0x6772_6964_6175_6474
# Changing the serialisation needs a new tag, so old entries keep verifying under the old one.
HASH_FORMAT = "gridgov-audit-v1"
MAX_PAGE = 500

ACTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_MAX_LENGTHS = {"actor": 128, "actor_role": 32, "action": 64, "object_type": 64, "object_id": 128}
_MAX_CLIENT_ADDRESS = 64
_MAX_REASON = 1000
# Actions that unmask personal data must say why (typed by the operator, kept with the entry).
REASON_REQUIRED = frozenset({"personal.reveal"})

# A safety net for "details carry field names, never personal data": values shaped like a resident ID
# (with a valid GB 11643 check character) or a mainland mobile number are refused.
_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


# ---------------------------------------------------------------------------------------------------------
# The hash


def format_timestamp(value: datetime) -> str:
    """UTC, microseconds, 'Z': one spelling of an instant whatever zone it was written in."""
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(
    *,
    id: int,
    occurred_at: datetime,
    actor: str,
    actor_role: str | None,
    action: str,
    object_type: str,
    object_id: str | None,
    client_address: str | None,
    reason: str | None,
    details: str,
    prev_hash: str,
) -> bytes:
    """The bytes an entry hash covers: a JSON array in a fixed field order, UTF-8, no whitespace.

    An array (not "a|b|c") so no value can imitate a field boundary; null stays distinct from "".
    ``details`` is hashed as the stored text, so any edit to it counts.
    """
    fields = [
        HASH_FORMAT,
        id,
        format_timestamp(occurred_at),
        actor,
        actor_role,
        action,
        object_type,
        object_id,
        client_address,
        reason,
        details,
        prev_hash,
    ]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def compute_hash(**fields: Any) -> str:
    return hashlib.sha256(canonical_bytes(**fields)).hexdigest()


def _row_hash(row: Row[Any] | Mapping[str, Any]) -> str:
    values = row._mapping if isinstance(row, Row) else row
    return compute_hash(
        id=values["id"],
        occurred_at=values["occurred_at"],
        actor=values["actor"],
        actor_role=values["actor_role"],
        action=values["action"],
        object_type=values["object_type"],
        object_id=values["object_id"],
        client_address=values["client_address"],
        reason=values["reason"],
        details=values["details"],
        prev_hash=values["prev_hash"],
    )


# ---------------------------------------------------------------------------------------------------------
# Validation


def _looks_like_resident_id(candidate: str) -> bool:
    total = sum(int(digit) * weight for digit, weight in zip(candidate[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == candidate[17].upper()


def _personal_data_in(text_value: str) -> str | None:
    if any(_looks_like_resident_id(m.group(1)) for m in _RESIDENT_ID.finditer(text_value)):
        return "a resident ID number"
    if _MOBILE.search(text_value):
        return "a mobile phone number"
    return None


def _strings_in(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings_in(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings_in(item)
    else:  # anything else is stored as str(value) (json default=str), so it is checked as that
        yield str(value)


def _details_text(details: Mapping[str, Any] | None) -> str:
    if details is None:
        return "{}"
    if not isinstance(details, Mapping):
        raise InvalidInput("Audit details are a JSON object of field names and counts")
    for value in _strings_in(details):
        found = _personal_data_in(value)
        if found:
            raise InvalidInput(
                f"Audit details must not carry personal data, and one value looks like {found}: "
                "record the names of the fields involved, not their values"
            )
    try:
        return json.dumps(details, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Audit details are not JSON-serialisable: {exc}") from exc


def _check_length(name: str, value: str | None) -> None:
    limit = _MAX_LENGTHS[name]
    if value is not None and len(value) > limit:
        raise InvalidInput(f"Audit {name} is too long ({len(value)} characters, {limit} at most)")


@dataclass
class _Draft:
    """An entry before it has a place in the chain (id, prev_hash, entry_hash)."""

    action: str
    object_type: str
    object_id: str | None
    reason: str | None
    details: str
    actor: ActorInfo
    # When it happened (stored as UTC with microseconds, exactly what reads back from either backend and
    # gets re-hashed), not when the transaction committed.
    at: datetime = field(default_factory=lambda: now().astimezone(UTC))


def _draft(
    *,
    action: str,
    object_type: str,
    object_id: str | int | None,
    reason: str | None,
    details: Mapping[str, Any] | None,
    actor: ActorInfo | str | None,
) -> _Draft:
    who = _resolve_actor(actor)
    if not ACTION_PATTERN.match(action):
        raise InvalidInput(f"Audit action '{action}' is not a dotted verb like 'user.create' or 'auth.login'")
    if not object_type.strip():
        raise InvalidInput("Audit entries name the type of object acted on")
    oid = None if object_id is None else str(object_id)
    clean_reason = reason.strip() if reason is not None else None
    if action in REASON_REQUIRED and not clean_reason:
        raise InvalidInput(f"'{action}' needs a reason: say why this is needed")
    if clean_reason is not None:
        if len(clean_reason) > _MAX_REASON:
            raise InvalidInput(f"The reason is too long ({_MAX_REASON} characters at most)")
        found = _personal_data_in(clean_reason)
        if found:
            raise InvalidInput(f"The reason must not contain personal data, and it seems to contain {found}")
    for name, value in (
        ("actor", who.actor),
        ("actor_role", who.role),
        ("action", action),
        ("object_type", object_type),
        ("object_id", oid),
    ):
        _check_length(name, value)
    if not who.actor:
        raise InvalidInput("Audit entries need an actor")
    return _Draft(
        action=action,
        object_type=object_type,
        object_id=oid,
        reason=clean_reason or None,
        details=_details_text(details),
        actor=who,
    )


def _resolve_actor(actor: ActorInfo | str | None) -> ActorInfo:
    if actor is None:
        return current_actor()
    if isinstance(actor, str):
        # A named actor (e.g. "anonymous" for a failed login) still comes from this request's address.
        return ActorInfo(actor, None, current_actor().client_address)
    return actor


# ---------------------------------------------------------------------------------------------------------
# Appending


def _lock_tail(session: Session) -> None:
    """Serialise appends until this transaction ends (see the module docstring)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": APPEND_LOCK_KEY})
    elif dialect == "sqlite":
        # A write as the first statement: SQLite's write lock is taken before the head is read.
        session.execute(update(HEAD).where(HEAD.c.id == HEAD_ROW_ID).values(last_id=HEAD.c.last_id))
    else:
        session.execute(select(HEAD.c.id).where(HEAD.c.id == HEAD_ROW_ID).with_for_update())


def _read_head(session: Session) -> tuple[int, str, bool]:
    """(last id, last hash, restored): the head row, rebuilt from the chain's tail if someone removed it."""
    row = session.execute(select(HEAD.c.last_id, HEAD.c.last_hash).where(HEAD.c.id == HEAD_ROW_ID)).first()
    if row is not None:
        return int(row.last_id), str(row.last_hash), False
    tail = session.execute(select(LOG.c.id, LOG.c.entry_hash).order_by(LOG.c.id.desc()).limit(1)).first()
    last_id, last_hash = (int(tail.id), str(tail.entry_hash)) if tail else (0, GENESIS_HASH)
    session.execute(insert(HEAD).values(id=HEAD_ROW_ID, last_id=last_id, last_hash=last_hash))
    return last_id, last_hash, True


def _append(session: Session, drafts: Sequence[_Draft]) -> list[AuditEntry]:
    """Give each draft the next id and its hashes, insert them and move the head: one transaction."""
    _lock_tail(session)
    last_id, last_hash, restored = _read_head(session)
    if restored:
        # The missing head is itself evidence; keep it in the chain rather than repair silently.
        drafts = [
            _draft(
                action="audit.head_restored",
                object_type="audit_head",
                object_id=HEAD_ROW_ID,
                reason=None,
                details={"rebuilt_from_entry": last_id},
                actor=ActorInfo("system"),
            ),
            *drafts,
        ]
    rows: list[dict[str, Any]] = []
    for draft in drafts:
        address = draft.actor.client_address
        values: dict[str, Any] = {
            "id": last_id + 1,
            "occurred_at": draft.at,
            "actor": draft.actor.actor,
            "actor_role": draft.actor.role,
            "action": draft.action,
            "object_type": draft.object_type,
            "object_id": draft.object_id,
            # Cut rather than refuse: a proxy's odd address must not block the write being logged.
            "client_address": address[:_MAX_CLIENT_ADDRESS] if address else None,
            "reason": draft.reason,
            "details": draft.details,
            "prev_hash": last_hash,
        }
        values["entry_hash"] = _row_hash(values)
        rows.append(values)
        last_id, last_hash = values["id"], values["entry_hash"]
    session.execute(insert(LOG), rows)
    session.execute(update(HEAD).where(HEAD.c.id == HEAD_ROW_ID).values(last_id=last_id, last_hash=last_hash))
    return [_entry(values) for values in rows]


def record(
    session: Session,
    *,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    actor: ActorInfo | str | None = None,
) -> None:
    """Queue one entry in ``session``'s transaction: appended to the chain when it commits, lost with it.

    A bad entry is refused here (InvalidInput), not at commit. ``actor`` defaults to the context actor
    (``gridgov.audit.context``); a plain string names the actor and keeps the request's client address.
    ``details`` holds field names and counts, never personal values.
    """
    draft = _draft(
        action=action,
        object_type=object_type,
        object_id=object_id,
        reason=reason,
        details=details,
        actor=actor,
    )
    session.connection()  # begin the transaction now, so a rollback before the commit drops the draft
    _queue(session, [draft])


def record_created(
    session: Session, table: str, rows: Sequence[tuple[int | str, Iterable[str], ActorInfo | None]]
) -> None:
    """Log rows a Core ``INSERT`` wrote (the write hook sees only ORM flushes) exactly as the hook logs an
    ORM insert: ``record.create`` with the names of the columns given a value. ``rows`` holds, per row, its
    key, the columns set and who wrote it (None: the context actor)."""
    session.connection()
    _queue(
        session,
        [
            _Draft(
                action="record.create",
                object_type=table[: _MAX_LENGTHS["object_type"]],
                object_id=str(key)[: _MAX_LENGTHS["object_id"]],
                reason=None,
                details=_details_text({"columns": sorted(columns)}),
                actor=actor or current_actor(),
            )
            for key, columns, actor in rows
        ],
    )


# The session's queued drafts, each with the (savepoint) transaction it was made in.
_PENDING = "gridgov.audit.pending"


def _queue(session: Session, drafts: Sequence[_Draft]) -> None:
    made_in = session.get_nested_transaction() or session.get_transaction()
    pending: list[tuple[SessionTransaction | None, _Draft]] = session.info.setdefault(_PENDING, [])
    pending.extend((made_in, draft) for draft in drafts)


def pending_count(session: Session) -> int:
    """Entries queued on ``session``, not yet in the chain (they go in when it commits)."""
    return len(session.info.get(_PENDING, ()))


def _append_on_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint released: its drafts wait for the outermost commit
    session.flush()  # the last changes' drafts join the queue before it is written
    pending = session.info.pop(_PENDING, None)
    if pending:
        _append(session, [draft for _made_in, draft in pending])


def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return

    def inside(transaction: SessionTransaction | None) -> bool:
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    session.info[_PENDING] = [(made_in, draft) for made_in, draft in pending if not inside(made_in)]


def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


# ---------------------------------------------------------------------------------------------------------
# Reading


def _entry(values: Mapping[Any, Any]) -> AuditEntry:
    try:
        details = json.loads(values["details"])
    except (TypeError, ValueError):
        details = None
    if not isinstance(details, dict):
        # Only a hand-edited row gets here; show the raw text rather than fail the auditor's page.
        details = {"unparsed": str(values["details"])}
    return AuditEntry(
        id=values["id"],
        occurred_at=values["occurred_at"],
        actor=values["actor"],
        actor_role=values["actor_role"],
        action=values["action"],
        object_type=values["object_type"],
        object_id=values["object_id"],
        client_address=values["client_address"],
        reason=values["reason"],
        details=details,
        prev_hash=values["prev_hash"],
        entry_hash=values["entry_hash"],
    )


def list_entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> AuditPage:
    """Entries newest first, filtered; keyset paging by id (``before_id`` = the previous page's last id).

    ``action`` matches exactly, or by prefix when it ends in ``*`` (``auth.*``). ``since`` is inclusive,
    ``until`` exclusive; both must be timezone-aware.
    """
    limit = max(1, min(limit, MAX_PAGE))
    query = select(LOG).order_by(LOG.c.id.desc()).limit(limit + 1)
    if actor:
        query = query.where(LOG.c.actor == actor)
    if action:
        if action.endswith("*"):
            prefix = action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(LOG.c.action.like(f"{prefix}%", escape="\\"))
        else:
            query = query.where(LOG.c.action == action)
    if object_type:
        query = query.where(LOG.c.object_type == object_type)
    if object_id:
        query = query.where(LOG.c.object_id == object_id)
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound.tzinfo is None:
            raise InvalidInput(f"'{name}' needs a time zone (e.g. 2026-12-01T09:00:00+08:00)")
    if since is not None:
        query = query.where(LOG.c.occurred_at >= since)
    if until is not None:
        query = query.where(LOG.c.occurred_at < until)
    if before_id is not None:
        query = query.where(LOG.c.id < before_id)
    rows = session.execute(query).all()
    entries = [_entry(row._mapping) for row in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(entries=entries, next_before_id=entries[-1].id if more and entries else None)


def head_info(session: Session) -> AuditHeadInfo:
    """The head as recorded in ``audit_head`` (what ``gridgov audit head`` prints for filing)."""
    row = session.execute(select(HEAD.c.last_id, HEAD.c.last_hash).where(HEAD.c.id == HEAD_ROW_ID)).first()
    if row is None:
        tail = session.execute(select(LOG.c.id, LOG.c.entry_hash).order_by(LOG.c.id.desc()).limit(1)).first()
        last_id, last_hash = (int(tail.id), str(tail.entry_hash)) if tail else (0, GENESIS_HASH)
    else:
        last_id, last_hash = int(row.last_id), str(row.last_hash)
    occurred = session.scalar(select(LOG.c.occurred_at).where(LOG.c.id == last_id)) if last_id else None
    return AuditHeadInfo(last_id=last_id, last_hash=last_hash, occurred_at=occurred)


# ---------------------------------------------------------------------------------------------------------
# Verifying


def _broken(kind: BreakKind, entry_id: int | None, ref: int | None = None) -> BrokenEntry:
    if kind == "missing":
        first, last = entry_id or 0, ref or 0
        reason = f"entry {first} missing" if first == last else f"entries {first}..{last} missing"
    else:
        reason = {
            "altered": "hash mismatch — row altered",
            "link": f"prev_hash does not match entry {ref}",
            "genesis": "prev_hash is not the genesis hash",
            "head_missing": "audit_head row missing — removal of the newest entries cannot be ruled out",
            "head_mismatch": "hash does not match the one audit_head records",
            "head_behind": f"entries after audit_head ({ref}): the head was moved back",
            "filed_missing": "not in the chain, but an operator filed it as the head: entries were removed",
            "filed_mismatch": "hash differs from the filed head — the chain was rewritten",
        }[kind]
    return BrokenEntry(id=entry_id, kind=kind, reason=reason, ref=ref)


def parse_filed_head(value: str | None) -> tuple[int, str] | None:
    """``ID:HASH`` as printed by ``gridgov audit head`` (and filed by an operator)."""
    if not value:
        return None
    entry_id, _, digest = value.strip().partition(":")
    digest = digest.strip().lower()
    if (
        not entry_id.strip().isdigit()
        or len(digest) != 64
        or any(c not in "0123456789abcdef" for c in digest)
    ):
        raise InvalidInput("Give the filed head as ID:HASH, e.g. 42:3f1a…(64 hex digits)")
    return int(entry_id), digest


def verify(session: Session, *, expected: tuple[int, str] | None = None) -> VerifyResult:
    """Walk the chain in id order and report the first entry where it does not hold.

    Checks: ids run 1, 2, 3… without gaps; each hash recomputes; each ``prev_hash`` is the previous
    entry's hash; the last entry is the one ``audit_head`` names. ``expected`` = (id, hash) filed
    earlier by an operator: the chain must still contain exactly that entry.

    The head is read first and only entries up to it are walked, so appends committed meanwhile
    neither hide nor fake a break.
    """
    head = session.execute(select(HEAD.c.last_id, HEAD.c.last_hash).where(HEAD.c.id == HEAD_ROW_ID)).first()
    if head is None:
        count = session.scalar(select(func.count()).select_from(LOG)) or 0
        return VerifyResult(
            ok=False, entries=count, head_id=0, head_hash=GENESIS_HASH, broken=_broken("head_missing", None)
        )
    head_id, head_hash = int(head.last_id), str(head.last_hash)

    def result(count: int, broken: BrokenEntry | None = None) -> VerifyResult:
        return VerifyResult(
            ok=broken is None, entries=count, head_id=head_id, head_hash=head_hash, broken=broken
        )

    previous_id, previous_hash = 0, GENESIS_HASH
    filed_found: str | None = None
    rows = session.execute(
        select(LOG).where(LOG.c.id <= head_id).order_by(LOG.c.id).execution_options(yield_per=2000)
    )
    for row in rows:
        entry_id = int(row.id)
        if entry_id != previous_id + 1:
            return result(previous_id, _broken("missing", previous_id + 1, entry_id - 1))
        if _row_hash(row) != row.entry_hash:
            return result(previous_id, _broken("altered", entry_id))
        if row.prev_hash != previous_hash:
            if previous_id == 0:
                return result(previous_id, _broken("genesis", entry_id))
            return result(previous_id, _broken("link", entry_id, previous_id))
        if expected is not None and entry_id == expected[0]:
            filed_found = str(row.entry_hash)
        previous_id, previous_hash = entry_id, str(row.entry_hash)
    count = previous_id  # ids are continuous from 1 here
    if previous_id < head_id:
        # Nothing inside the chain is out of place: its newest entries are gone, and the head says so.
        return result(count, _broken("missing", previous_id + 1, head_id))
    if previous_hash != head_hash:
        return result(count, _broken("head_mismatch", head_id))
    newest = session.scalar(select(func.max(LOG.c.id))) or 0
    if newest > head_id:
        # Appends may have committed since the head was read; only a head still behind them is wrong.
        current = session.scalar(select(HEAD.c.last_id).where(HEAD.c.id == HEAD_ROW_ID)) or 0
        if current < newest:
            return result(count, _broken("head_behind", head_id + 1, head_id))
    if expected is not None:
        filed_id, filed_hash = expected
        if filed_found is None:
            return result(count, _broken("filed_missing", filed_id))
        if filed_found != filed_hash.strip().lower():
            return result(count, _broken("filed_mismatch", filed_id))
    return result(count)


# ---------------------------------------------------------------------------------------------------------
# Every ORM write is logged


_AUDIT_TABLES = frozenset({LOG.name, HEAD.name})


def _table_name(obj: object) -> str | None:
    mapper = inspect(obj).mapper
    table = mapper.local_table
    name = getattr(table, "name", None)
    return None if name is None or name in _AUDIT_TABLES else str(name)


def _primary_key(obj: object) -> str | None:
    state = inspect(obj)
    mapper = state.mapper
    values: list[Any] = []
    for column in mapper.primary_key:
        prop = mapper.get_property_by_column(column)
        values.append(state.dict.get(prop.key))
    if all(v is None for v in values) and state.identity is not None:
        values = list(state.identity)
    if all(v is None for v in values):
        return None
    return ",".join("" if v is None else str(v) for v in values)


def _column_names(obj: object, *, changed_only: bool) -> list[str]:
    state = inspect(obj)
    names: list[str] = []
    for prop in state.mapper.column_attrs:
        column = prop.columns[0]
        if not isinstance(column, Column):
            continue
        if changed_only:
            if state.attrs[prop.key].history.has_changes():
                names.append(column.name)
        elif state.dict.get(prop.key) is not None:
            names.append(column.name)
    return sorted(names)


def _has_auditable_changes(session: Session) -> bool:
    if any(_table_name(obj) for obj in session.new) or any(_table_name(obj) for obj in session.deleted):
        return True
    return any(_table_name(obj) and session.is_modified(obj) for obj in session.dirty)


def _audit_flush(session: Session, _flush_context: UOWTransaction) -> None:
    # After the flush statements, before the session forgets them: new rows have their keys now, and
    # new/dirty/deleted and attribute histories still describe what was written.
    drafts: list[_Draft] = []
    for obj in session.new:
        table = _table_name(obj)
        if table:
            names = _column_names(obj, changed_only=False)
            drafts.append(_hook_draft("record.create", table, obj, {"columns": names}))
    for obj in session.dirty:
        table = _table_name(obj)
        if table and session.is_modified(obj):
            names = _column_names(obj, changed_only=True)
            if names:  # only a relationship collection changed: no row of this table was written
                drafts.append(_hook_draft("record.update", table, obj, {"columns": names}))
    for obj in session.deleted:
        table = _table_name(obj)
        if table:
            drafts.append(_hook_draft("record.delete", table, obj, None))
    if drafts:
        _queue(session, drafts)


def _hook_draft(action: str, table: str, obj: object, details: Mapping[str, Any] | None) -> _Draft:
    object_id = _primary_key(obj)
    return _Draft(
        action=action,
        object_type=table[: _MAX_LENGTHS["object_type"]],
        # A very long composite key is cut rather than let the audit refuse the write it describes.
        object_id=object_id[: _MAX_LENGTHS["object_id"]] if object_id else None,
        reason=None,
        details=_details_text(details),
        actor=current_actor(),
    )


def install_write_auditing() -> None:
    """Log every ORM insert/update/delete of every mapped table (audit tables aside). Idempotent.

    Listens on the ``Session`` class, so all sessions of the process are covered. Call once at start-up
    (``create_app``, the CLI entry point, the test configuration).
    """
    if not event.contains(Session, "after_flush", _audit_flush):
        event.listen(Session, "after_flush", _audit_flush)


def uninstall_write_auditing() -> None:
    """Undo ``install_write_auditing`` (tests that measure raw write paths)."""
    if event.contains(Session, "after_flush", _audit_flush):
        event.remove(Session, "after_flush", _audit_flush)


# Queued entries (from ``record`` or the write hook) reach the chain at commit, in every session of the
# process, whether or not the write hook is installed. Appends are Core statements, which fire no ORM
# events, so logging a write cannot log itself.
event.listen(Session, "before_commit", _append_on_commit)
event.listen(Session, "after_soft_rollback", _drop_rolled_back)
event.listen(Session, "after_transaction_end", _forget_at_end)


def write_auditing_installed() -> bool:
    return event.contains(Session, "after_flush", _audit_flush)
