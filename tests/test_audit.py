"""The audit trail: the hash chain, its verifier against real tampering, append-only guards, write
auditing, the API, the auditor page and the CLI — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine, String, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response
from typer.testing import CliRunner

from gridgov.accounts.permissions import Role, permissions_of
from gridgov.accounts.scoping import AreaScope, Principal
from gridgov.areas.models import District
from gridgov.audit import service
from gridgov.audit.context import ActorInfo, actor_context, cli_actor, current_actor
from gridgov.audit.models import GENESIS_HASH, AuditHead, AuditLog, AuditLogIsAppendOnly
from gridgov.core.clock import CHINA_TZ, FrozenClock, use_clock
from gridgov.core.db import Base, get_engine, session_factory
from gridgov.core.errors import GridgovError, InvalidInput
from gridgov.core.migrate import downgrade, upgrade
from gridgov.core.settings import get_settings

START = datetime(2026, 12, 1, 9, 0, tzinfo=CHINA_TZ)


@pytest.fixture
def audit_engine(backend: str, empty_engine_factory: Callable[[str], Engine]) -> Engine:
    return empty_engine_factory(backend)


@pytest.fixture
def sqlite_engine(empty_engine_factory: Callable[[str], Engine]) -> Engine:
    return empty_engine_factory("sqlite")


@pytest.fixture
def factory(audit_engine: Engine) -> sessionmaker[Session]:
    return session_factory(audit_engine)


@pytest.fixture
def write_auditing() -> Iterator[None]:
    """Every ORM write logged for this test; left as found (the app may have installed it already)."""
    was_installed = service.write_auditing_installed()
    service.install_write_auditing()
    yield
    if not was_installed:
        service.uninstall_write_auditing()


def add_entries(factory: sessionmaker[Session], count: int, **fields: Any) -> None:
    with factory() as session:
        for n in range(count):
            service.record(
                session,
                action=fields.get("action", "user.create"),
                object_type=fields.get("object_type", "user"),
                object_id=fields.get("object_id", n + 1),
                details=fields.get("details", {"fields": ["username", "role"]}),
                reason=fields.get("reason"),
            )
        session.commit()


def verify(engine: Engine, **kwargs: Any) -> Any:
    with session_factory(engine)() as session:
        return service.verify(session, **kwargs)


def sqlite_edit(engine: Engine, *statements: str) -> None:
    """Tamper as someone with the sqlite3 command line would: straight into the file, no app involved."""
    connection = sqlite3.connect(str(engine.url.database))
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


# ---- the chain ---------------------------------------------------------------------------------------


def test_record_appends_a_chain_from_genesis(factory: sessionmaker[Session], audit_engine: Engine) -> None:
    with use_clock(FrozenClock(START)), factory() as session:
        service.record(session, action="auth.login", object_type="user", object_id=7)
        with actor_context(ActorInfo("wangfang", "district_operator", "10.1.2.3")):
            service.record(
                session,
                action="personal.reveal",
                object_type="person",
                object_id="42",
                reason="  核查出租屋登记信息  ",
                details={"fields": ["id_number", "phone"]},
            )
        service.record(session, action="data.export", object_type="rental", actor="cli:ops")
        assert service.pending_count(session) == 3
        assert session.scalar(select(AuditLog.id)) is None  # queued: the chain moves at commit
        session.commit()
        assert service.pending_count(session) == 0

    with factory() as session:
        third, second, first = service.list_entries(session).entries
    assert (first.id, second.id, third.id) == (1, 2, 3)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.entry_hash and third.prev_hash == second.entry_hash
    assert first.actor == "system" and first.actor_role is None
    assert (second.actor, second.actor_role, second.client_address) == (
        "wangfang",
        "district_operator",
        "10.1.2.3",
    )
    assert second.reason == "核查出租屋登记信息"
    assert second.occurred_at == START
    assert third.actor == "cli:ops"

    result = verify(audit_engine)
    assert result.ok and result.entries == 3 and result.broken is None
    assert (result.head_id, result.head_hash) == (3, third.entry_hash)
    assert result.summary == f"audit trail intact: 3 entries, head {third.entry_hash}"

    with factory() as session:
        stored = session.execute(select(AuditLog).where(AuditLog.id == 2)).scalar_one()
        assert stored.occurred_at == START  # timezone-aware, the same instant
        assert json.loads(stored.details) == {"fields": ["id_number", "phone"]}
        head = session.get(AuditHead, 1)
        assert head is not None and (head.last_id, head.last_hash) == (3, third.entry_hash)


def test_an_empty_trail_verifies(factory: sessionmaker[Session], audit_engine: Engine) -> None:
    result = verify(audit_engine)
    assert result.ok and result.entries == 0 and result.head_hash == GENESIS_HASH


def test_a_rolled_back_entry_leaves_no_gap(factory: sessionmaker[Session], audit_engine: Engine) -> None:
    add_entries(factory, 2)
    with factory() as session:
        service.record(session, action="user.update", object_type="user", object_id=1)
        session.rollback()
    add_entries(factory, 1)
    result = verify(audit_engine)
    assert result.ok and result.entries == 3


def test_hash_canonicalisation_is_fixed() -> None:
    """A golden value: changing the serialisation would orphan every stored entry (bump HASH_FORMAT)."""
    fields: dict[str, Any] = {
        "id": 1,
        "occurred_at": datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
        "actor": "审计员",
        "actor_role": None,
        "action": "auth.login",
        "object_type": "user",
        "object_id": "1",
        "client_address": None,
        "reason": None,
        "details": "{}",
        "prev_hash": GENESIS_HASH,
    }
    canonical = service.canonical_bytes(**fields)
    assert (
        canonical
        == (
            '["gridgov-audit-v1",1,"2026-12-01T01:00:00.000000Z","审计员",null,"auth.login","user","1",'
            'null,null,"{}","' + GENESIS_HASH + '"]'
        ).encode()
    )
    # The same instant written in China time hashes the same.
    same = {**fields, "occurred_at": datetime(2026, 12, 1, 9, 0, tzinfo=CHINA_TZ)}
    assert service.compute_hash(**same) == service.compute_hash(**fields)
    # null and "" differ; so does any field.
    assert service.compute_hash(**{**fields, "reason": ""}) != service.compute_hash(**fields)
    assert service.compute_hash(**{**fields, "prev_hash": "1" * 64}) != service.compute_hash(**fields)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "login"}, "dotted verb"),
        ({"action": "Auth.Login"}, "dotted verb"),
        ({"action": "personal.reveal"}, "needs a reason"),
        ({"action": "personal.reveal", "reason": "   "}, "needs a reason"),
        ({"details": {"id_number": "11010519491231002X"}}, "resident ID"),
        ({"details": {"values": ["13812345678"]}}, "mobile phone"),
        ({"action": "personal.reveal", "reason": "查 11010519491231002X 的住址"}, "personal data"),
        ({"object_type": " "}, "type of object"),
        ({"object_id": "x" * 129}, "too long"),
    ],
)
def test_record_refuses_bad_entries(sqlite_engine: Engine, kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"action": "user.update", "object_type": "user", **kwargs}
    with session_factory(sqlite_engine)() as session:
        with pytest.raises(InvalidInput, match=message):
            service.record(session, **arguments)
        assert session.scalar(select(AuditLog.id)) is None


def test_details_accept_names_counts_and_area_codes(sqlite_engine: Engine) -> None:
    with session_factory(sqlite_engine)() as session:
        service.record(
            session,
            action="area.load",
            object_type="area",
            details={
                "grids": 1610,
                "district": "440305000000",
                "grid": "440305007003012",
                "columns": ["name"],
            },
        )
        session.commit()
        [entry] = service.list_entries(session).entries
    assert entry.details["grids"] == 1610


def test_concurrent_appends_keep_one_unbroken_chain(
    factory: sessionmaker[Session], audit_engine: Engine
) -> None:
    threads_count, per_thread = 6, 8
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count)

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(per_thread):
                with factory() as session:
                    # A read first: the tail must still be read under the append lock, not from this.
                    session.execute(select(AuditHead.last_id)).all()
                    with actor_context(ActorInfo(f"worker{worker}")):
                        service.record(session, action="record.update", object_type="t", object_id=n)
                    session.commit()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    result = verify(audit_engine)
    assert result.ok, result.broken
    assert result.entries == threads_count * per_thread


# ---- listing -----------------------------------------------------------------------------------------


def test_list_entries_filters_and_pages_newest_first(factory: sessionmaker[Session]) -> None:
    clock = FrozenClock(START)
    with use_clock(clock), factory() as session:
        for n in range(12):
            with actor_context(ActorInfo("alice" if n % 2 else "bob")):
                service.record(
                    session,
                    action="auth.login" if n % 3 == 0 else "user.update",
                    object_type="user",
                    object_id=n % 4,
                )
            clock.advance(hours=6)
        session.commit()

    with factory() as session:
        page = service.list_entries(session, limit=5)
        assert [e.id for e in page.entries] == [12, 11, 10, 9, 8] and page.next_before_id == 8
        page = service.list_entries(session, limit=5, before_id=page.next_before_id)
        assert [e.id for e in page.entries] == [7, 6, 5, 4, 3] and page.next_before_id == 3
        page = service.list_entries(session, limit=5, before_id=3)
        assert [e.id for e in page.entries] == [2, 1] and page.next_before_id is None

        assert {e.actor for e in service.list_entries(session, actor="alice").entries} == {"alice"}
        assert [e.id for e in service.list_entries(session, action="auth.login").entries] == [10, 7, 4, 1]
        assert len(service.list_entries(session, action="auth.*").entries) == 4
        assert len(service.list_entries(session, action="auth*").entries) == 4
        assert service.list_entries(session, action="auth_*").entries == []  # _ is literal, not a wildcard
        assert [e.id for e in service.list_entries(session, object_type="user", object_id="2").entries] == [
            11,
            7,
            3,
        ]
        # Entry n happened at START + 6h·(n-1): the second day (China time) holds entries 4..7.
        day2 = START.replace(hour=0) + timedelta(days=1)
        window = service.list_entries(session, since=day2, until=day2 + timedelta(days=1))
        assert [e.id for e in window.entries] == [7, 6, 5, 4]
        assert service.list_entries(session, since=day2.astimezone(UTC)).entries[-1].id == 4
        assert len(service.list_entries(session, limit=10_000).entries) == 12  # clamped to 500, not refused
        with pytest.raises(InvalidInput, match="time zone"):
            service.list_entries(session, since=datetime(2026, 12, 1))


# ---- append-only ---------------------------------------------------------------------------------------


def test_the_orm_refuses_to_change_delete_or_add_audit_rows(factory: sessionmaker[Session]) -> None:
    add_entries(factory, 2)
    with factory() as session:
        entry = session.get(AuditLog, 1)
        assert entry is not None
        entry.action = "user.delete"
        with pytest.raises(AuditLogIsAppendOnly, match="append-only"):
            session.flush()
        session.rollback()

        entry = session.get(AuditLog, 1)
        session.delete(entry)
        with pytest.raises(AuditLogIsAppendOnly, match="append-only"):
            session.flush()
        session.rollback()

        head = session.get(AuditHead, 1)
        assert head is not None
        head.last_id = 1
        with pytest.raises(AuditLogIsAppendOnly):
            session.flush()
        session.rollback()

        session.add(
            AuditLog(
                id=3,
                occurred_at=START,
                actor="x",
                action="a.b",
                object_type="t",
                details="{}",
                prev_hash="0" * 64,
                entry_hash="0" * 64,
            )
        )
        with pytest.raises(AuditLogIsAppendOnly, match="record"):
            session.flush()
        session.rollback()


def test_postgres_refuses_update_delete_and_truncate(empty_engine_factory: Callable[[str], Engine]) -> None:
    # PostgreSQL only: the refusing triggers are PostgreSQL's (SQLite tampering is caught by verify).
    audit_engine = empty_engine_factory("postgresql")
    add_entries(session_factory(audit_engine), 3)
    for statement in (
        "UPDATE audit_log SET action = 'x' WHERE id = 3",
        "UPDATE audit_log SET action = 'x' WHERE id = 999",  # statement-level: refused even when no row
        "DELETE FROM audit_log WHERE id = 2",
        "TRUNCATE audit_log",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET last_id = 2",
        "TRUNCATE audit_head",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|only moves forward"), audit_engine.begin() as conn:
            conn.execute(text(statement))
    assert verify(audit_engine).ok


def test_sqlite_edit_with_the_sqlite3_tool_is_named(sqlite_engine: Engine) -> None:
    add_entries(session_factory(sqlite_engine), 5)
    sqlite_edit(sqlite_engine, "update audit_log set action='x' where id=3")
    result = verify(sqlite_engine)
    assert not result.ok and result.broken is not None
    assert (result.broken.id, result.broken.kind) == (3, "altered")
    assert result.summary == "audit trail broken at entry 3: hash mismatch — row altered"
    assert result.entries == 2


def test_sqlite_a_rehashed_edit_breaks_the_next_link(sqlite_engine: Engine) -> None:
    factory = session_factory(sqlite_engine)
    add_entries(factory, 5)
    with factory() as session:
        row = dict(session.execute(select(service.LOG).where(service.LOG.c.id == 3)).one()._mapping)
    forged = {**row, "actor": "somebody-else"}
    new_hash = service.compute_hash(**{k: v for k, v in forged.items() if k != "entry_hash"})
    sqlite_edit(
        sqlite_engine, f"update audit_log set actor='somebody-else', entry_hash='{new_hash}' where id=3"
    )
    result = verify(sqlite_engine)
    assert result.broken is not None
    assert result.summary == "audit trail broken at entry 4: prev_hash does not match entry 3"


def test_sqlite_deleting_a_middle_entry_is_named(sqlite_engine: Engine) -> None:
    add_entries(session_factory(sqlite_engine), 6)
    sqlite_edit(sqlite_engine, "delete from audit_log where id=3")
    assert verify(sqlite_engine).summary == "audit trail broken at entry 3: entry 3 missing"
    sqlite_edit(sqlite_engine, "delete from audit_log where id=4")
    result = verify(sqlite_engine)
    assert result.broken is not None and (result.broken.id, result.broken.ref) == (3, 4)
    assert result.summary == "audit trail broken at entry 3: entries 3..4 missing"


def test_sqlite_deleting_the_newest_entries_shows_through_the_head(sqlite_engine: Engine) -> None:
    factory = session_factory(sqlite_engine)
    add_entries(factory, 5)
    sqlite_edit(sqlite_engine, "delete from audit_log where id=5")
    result = verify(sqlite_engine)
    assert result.broken is not None and (result.broken.id, result.broken.kind) == (5, "missing")
    assert result.summary == "audit trail broken at entry 5: entry 5 missing"
    # New entries follow the head, not the truncated tail: the hole stays visible.
    add_entries(factory, 1)
    assert verify(sqlite_engine).summary == "audit trail broken at entry 5: entry 5 missing"


def test_sqlite_a_removed_head_is_reported_and_restored_in_the_chain(sqlite_engine: Engine) -> None:
    factory = session_factory(sqlite_engine)
    add_entries(factory, 3)
    sqlite_edit(sqlite_engine, "delete from audit_head")
    result = verify(sqlite_engine)
    assert result.broken is not None and result.broken.kind == "head_missing"
    assert result.summary.startswith("audit trail broken at the head: audit_head row missing")
    add_entries(factory, 1)
    with factory() as session:
        actions = [e.action for e in service.list_entries(session).entries]
    assert actions[:2] == ["user.create", "audit.head_restored"]  # the repair is itself on record
    assert verify(sqlite_engine).ok


def test_sqlite_a_head_moved_back_is_reported(sqlite_engine: Engine) -> None:
    factory = session_factory(sqlite_engine)
    add_entries(factory, 4)
    with factory() as session:
        hash2 = session.scalar(select(AuditLog.entry_hash).where(AuditLog.id == 2))
    sqlite_edit(sqlite_engine, f"update audit_head set last_id=2, last_hash='{hash2}'")
    result = verify(sqlite_engine)
    assert result.broken is not None and (result.broken.id, result.broken.kind) == (3, "head_behind")


def test_a_full_rewrite_passes_alone_but_not_against_a_filed_head(sqlite_engine: Engine) -> None:
    """The documented limit, and its mitigation: the head filed outside the database."""
    factory = session_factory(sqlite_engine)
    add_entries(factory, 4)
    with factory() as session:
        filed = service.head_info(session)
        rows = [dict(r._mapping) for r in session.execute(select(service.LOG).order_by(service.LOG.c.id))]
    # An attacker with write access rewrites entry 2 and recomputes every hash after it, and the head.
    statements, previous = [], rows[0]["entry_hash"]
    for row in rows[1:]:
        row["prev_hash"] = previous
        if row["id"] == 2:
            row["actor"] = "nobody"
        row["entry_hash"] = service.compute_hash(**{k: v for k, v in row.items() if k != "entry_hash"})
        statements.append(
            f"update audit_log set actor='{row['actor']}', prev_hash='{row['prev_hash']}', "
            f"entry_hash='{row['entry_hash']}' where id={row['id']}"
        )
        previous = row["entry_hash"]
    statements.append(f"update audit_head set last_hash='{previous}'")
    sqlite_edit(sqlite_engine, *statements)

    assert verify(sqlite_engine).ok  # undetectable from inside the database
    result = verify(sqlite_engine, expected=(filed.last_id, filed.last_hash))
    assert result.broken is not None and (result.broken.id, result.broken.kind) == (4, "filed_mismatch")
    truncated = verify(sqlite_engine, expected=(9, filed.last_hash))
    assert truncated.broken is not None and truncated.broken.kind == "filed_missing"


def test_parse_filed_head() -> None:
    assert service.parse_filed_head(f"12:{'AB' * 32}") == (12, "ab" * 32)
    assert service.parse_filed_head(None) is None
    for bad in ("12", "x:" + "a" * 64, "12:" + "g" * 64, "12:abc"):
        with pytest.raises(InvalidInput):
            service.parse_filed_head(bad)


# ---- every write is logged ---------------------------------------------------------------------------------


class _NoteBase(DeclarativeBase):
    pass


class Note(_NoteBase):
    """A throw-away table with a generated integer key: the hook must log the key the database gave."""

    __tablename__ = "audit_test_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    body: Mapped[str | None] = mapped_column(String(200), nullable=True)


def _district(code: str = "440305000000") -> District:
    return District(
        code=code,
        name="南山区",
        geometry="{}",
        area_km2=187.5,
        centroid_lon=113.93,
        centroid_lat=22.53,
        synthetic=False,
        parent_code="440300000000",
    )


@pytest.mark.usefixtures("write_auditing")
def test_every_orm_write_is_logged_with_column_names_only(
    factory: sessionmaker[Session], audit_engine: Engine
) -> None:
    _NoteBase.metadata.create_all(audit_engine)
    with actor_context(ActorInfo("lihua", "community_staff", "192.0.2.9")):
        with factory() as session:
            session.add(_district())
            note = Note(title="secret title", body=None)
            session.add(note)
            session.commit()
            note_id = note.id
        with factory() as session:
            district = session.get(District, "440305000000")
            assert district is not None
            district.name = "南山"
            district.area_km2 = 188.0
            same = session.get(Note, note_id)
            assert same is not None
            same.title = same.title  # set to the same value: nothing written, nothing logged
            session.commit()
        with factory() as session:
            session.delete(session.get(Note, note_id))
            session.commit()

    with factory() as session:
        entries = list(reversed(service.list_entries(session).entries))
    summary = [(e.action, e.object_type, e.object_id, e.details) for e in entries]
    columns = [
        "area_km2",
        "centroid_lat",
        "centroid_lon",
        "code",
        "geometry",
        "name",
        "parent_code",
        "synthetic",
    ]
    assert summary == [
        ("record.create", "area_district", "440305000000", {"columns": columns}),
        ("record.create", "audit_test_note", str(note_id), {"columns": ["id", "title"]}),
        ("record.update", "area_district", "440305000000", {"columns": ["area_km2", "name"]}),
        ("record.delete", "audit_test_note", str(note_id), {}),
    ]
    assert {(e.actor, e.actor_role, e.client_address) for e in entries} == {
        ("lihua", "community_staff", "192.0.2.9")
    }
    assert "secret title" not in json.dumps([e.model_dump(mode="json") for e in entries], ensure_ascii=False)
    assert verify(audit_engine).ok


@pytest.mark.usefixtures("write_auditing")
def test_logged_writes_roll_back_with_the_transaction(
    factory: sessionmaker[Session], audit_engine: Engine
) -> None:
    with factory() as session:
        session.add(_district())
        session.flush()
        assert service.pending_count(session) == 1  # queued for the commit
        session.rollback()
        assert service.pending_count(session) == 0
    with factory() as session:
        session.add(_district())
        session.commit()
    result = verify(audit_engine)
    assert result.ok and result.entries == 1


@pytest.mark.usefixtures("write_auditing")
def test_a_rolled_back_savepoint_drops_only_its_own_entries(
    factory: sessionmaker[Session], audit_engine: Engine
) -> None:
    with factory() as session:
        service.record(session, action="data.export", object_type="rental")
        try:
            with session.begin_nested():
                service.record(session, action="user.update", object_type="user", object_id=1)
                with session.begin_nested():
                    service.record(session, action="user.update", object_type="user", object_id=2)
                raise RuntimeError("give up the savepoint")
        except RuntimeError:
            pass
        with session.begin_nested():
            service.record(session, action="auth.logout", object_type="web_session")
        session.commit()
        actions = [e.action for e in reversed(service.list_entries(session).entries)]
    assert actions == ["data.export", "auth.logout"]
    assert verify(audit_engine).ok


def test_postgres_holds_the_append_lock_only_while_committing(
    empty_engine_factory: Callable[[str], Engine],
) -> None:
    engine = empty_engine_factory("postgresql")
    other = engine.connect()
    try:
        with session_factory(engine)() as session:
            service.record(session, action="user.update", object_type="user", object_id=1)
            session.execute(select(AuditHead.last_id)).all()
            # Mid-transaction another writer may still append: nothing holds the lock yet.
            assert other.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": service.APPEND_LOCK_KEY})
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": service.APPEND_LOCK_KEY})
            session.commit()
        assert verify(engine).entries == 1
    finally:
        other.close()


def test_install_write_auditing_is_idempotent() -> None:
    was_installed = service.write_auditing_installed()
    try:
        service.install_write_auditing()
        service.install_write_auditing()
        assert service.write_auditing_installed()
        service.uninstall_write_auditing()
        assert not service.write_auditing_installed()
    finally:
        if was_installed:
            service.install_write_auditing()


# ---- the context actor ------------------------------------------------------------------------------------


def test_the_context_actor_defaults_to_system_and_nests() -> None:
    assert current_actor() == ActorInfo("system", None, None)
    with actor_context(ActorInfo("a", "auditor", "::1")):
        assert current_actor().actor == "a"
        with actor_context(ActorInfo("anonymous")):
            assert current_actor().actor == "anonymous"
        assert current_actor().role == "auditor"
    assert current_actor().actor == "system"
    assert cli_actor().actor.startswith("cli:")


# ---- the schema -------------------------------------------------------------------------------------------


def test_the_migration_matches_the_models_and_downgrades(backend: str, audit_engine: Engine) -> None:
    with audit_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    # Only our tables: other domains' models may be imported by now with their migrations in progress.
    mine = [d for d in differences if "audit_" in repr(d)]
    assert mine == []
    downgrade(audit_engine, "0001_areas")
    assert "audit_log" not in inspect(audit_engine).get_table_names()
    if backend == "postgresql":
        with audit_engine.connect() as connection:
            leftover = connection.scalar(text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'audit_%'"))
        assert leftover == 0
    upgrade(audit_engine)
    assert verify(audit_engine).ok


# ---- the API and the page --------------------------------------------------------------------------------


def _principal(role: Role) -> Principal:
    return Principal(
        user_id=1,
        username=f"test-{role.value}",
        role=role,
        scope=AreaScope.of("district", ["440305000000"]),
        permissions=permissions_of(role),
    )


class _TestPrincipal(BaseHTTPMiddleware):
    """Stands in for the authentication middleware: ``X-Test-Role`` picks who is calling."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        role = request.headers.get("x-test-role")
        request.state.principal = _principal(Role(role)) if role else None
        return await call_next(request)


@pytest.fixture
def audit_client(audit_engine: Engine) -> Iterator[TestClient]:
    from gridgov.audit.api import router as api_router
    from gridgov.audit.pages import router as pages_router

    app = FastAPI()
    app.state.engine = audit_engine
    app.state.session_factory = session_factory(audit_engine)
    app.add_middleware(_TestPrincipal)

    @app.exception_handler(GridgovError)
    async def domain_error(_request: Request, exc: GridgovError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.http_status
        )

    app.include_router(api_router)
    app.include_router(pages_router)
    with TestClient(app, follow_redirects=False) as client:
        yield client


AUDITOR = {"x-test-role": "auditor"}
GRID_WORKER = {"x-test-role": "grid_worker"}


def test_api_lists_and_verifies_for_auditors_only(
    audit_client: TestClient, factory: sessionmaker[Session]
) -> None:
    add_entries(factory, 7)
    listing = audit_client.get("/api/audit", params={"limit": 3}, headers=AUDITOR)
    assert listing.status_code == 200
    body = listing.json()
    assert [e["id"] for e in body["entries"]] == [7, 6, 5] and body["next_before_id"] == 5
    older = audit_client.get("/api/audit", params={"limit": 3, "before_id": 5}, headers=AUDITOR).json()
    assert [e["id"] for e in older["entries"]] == [4, 3, 2]
    filtered = audit_client.get("/api/audit", params={"object_id": "2"}, headers=AUDITOR).json()
    assert [e["id"] for e in filtered["entries"]] == [2]
    # A time without an offset is China time.
    today = audit_client.get("/api/audit", params={"since": "2000-01-01T00:00:00"}, headers=AUDITOR).json()
    assert len(today["entries"]) == 7
    assert audit_client.get("/api/audit", params={"limit": 501}, headers=AUDITOR).status_code == 422

    verified = audit_client.get("/api/audit/verify", headers=AUDITOR).json()
    assert verified["ok"] is True and verified["entries"] == 7 and verified["broken"] is None
    head = audit_client.get("/api/audit/head", headers=AUDITOR).json()
    assert head["last_id"] == 7 and head["last_hash"] == verified["head_hash"]
    expect = f"7:{head['last_hash']}"
    assert audit_client.get("/api/audit/verify", params={"expect": expect}, headers=AUDITOR).json()["ok"]
    bad = audit_client.get("/api/audit/verify", params={"expect": "7:nothex"}, headers=AUDITOR)
    assert bad.status_code == 422

    for path in ("/api/audit", "/api/audit/verify", "/api/audit/head"):
        assert audit_client.get(path, headers=GRID_WORKER).status_code == 403
        assert audit_client.get(path).status_code == 401


def test_page_lists_entries_in_chinese_and_english(
    audit_client: TestClient, factory: sessionmaker[Session]
) -> None:
    with actor_context(ActorInfo("zhangsan", "district_operator", "10.0.0.8")):
        add_entries(
            factory,
            3,
            action="personal.reveal",
            object_type="person",
            details={"fields": ["phone"]},
            reason="回访独居老人",
        )
    page = audit_client.get("/audit", headers=AUDITOR)
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "审计日志" in page.text
    assert page.text.count('data-entry-id="') == 3
    assert "zhangsan" in page.text and "personal.reveal" in page.text and "10.0.0.8" in page.text
    assert "回访独居老人" in page.text
    assert 'hx-get="/audit/status"' in page.text
    # No inline script and no style attribute: the CSP forbids both.
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert " src=" in tag or 'type="application/json"' in tag, tag
    assert " style=" not in page.text

    english = audit_client.get("/audit?lang=en", headers=AUDITOR)
    assert '<html lang="en">' in english.text and "Audit log" in english.text


def test_page_filters_pages_and_shows_the_chain_status(
    audit_client: TestClient, factory: sessionmaker[Session], backend: str, audit_engine: Engine
) -> None:
    add_entries(factory, 60)
    add_entries(factory, 2, action="auth.login", object_type="session")
    first = audit_client.get("/audit", headers=AUDITOR).text
    assert first.count('data-entry-id="') == 50
    older = re.search(r'href="(/audit\?before_id=\d+)" rel="next"', first)
    assert older, "a link to older entries"
    second = audit_client.get(older.group(1), headers=AUDITOR).text
    assert second.count('data-entry-id="') == 12 and 'rel="next"' not in second

    filtered = audit_client.get("/audit", params={"action": "auth.*"}, headers=AUDITOR).text
    assert filtered.count('data-entry-id="') == 2 and 'value="auth.*"' in filtered
    bad_date = audit_client.get("/audit", params={"from": "yesterday"}, headers=AUDITOR).text
    assert bad_date.count('data-entry-id="') == 50 and "日期格式无法识别" in bad_date
    today = datetime.now(CHINA_TZ).date()
    dated = audit_client.get(
        "/audit", params={"from": today.isoformat(), "to": today.isoformat()}, headers=AUDITOR
    ).text
    assert dated.count('data-entry-id="') == 50
    future = (today + timedelta(days=2)).isoformat()
    assert "没有符合条件" in audit_client.get("/audit", params={"from": future}, headers=AUDITOR).text

    status = audit_client.get("/audit/status", headers=AUDITOR)
    assert status.status_code == 200 and 'data-chain="intact"' in status.text and "62" in status.text
    inline = audit_client.get("/audit", params={"verify": "1"}, headers=AUDITOR).text
    assert 'data-chain="intact"' in inline
    assert audit_client.get("/audit/status", headers=GRID_WORKER).status_code == 403
    assert audit_client.get("/audit/status").status_code == 401

    if backend == "sqlite":
        sqlite_edit(audit_engine, "update audit_log set object_id='999' where id=3")
        broken = audit_client.get("/audit/status", headers=AUDITOR).text
        assert 'data-chain="broken"' in broken and 'data-broken-id="3"' in broken
        assert "第 3 条记录处断开" in broken and "已被改动" in broken


def test_page_refuses_others_and_sends_strangers_to_login(audit_client: TestClient) -> None:
    forbidden = audit_client.get("/audit", headers=GRID_WORKER)
    assert forbidden.status_code == 403 and "无权查看审计日志" in forbidden.text
    anonymous = audit_client.get("/audit")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/audit"
    with_query = audit_client.get("/audit?actor=x")
    assert with_query.headers["location"] == "/login?next=/audit%3Factor%3Dx"


# ---- the CLI -----------------------------------------------------------------------------------------------


@pytest.fixture
def cli_db(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("GRIDGOV_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield sqlite_engine
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_cli_verify_head_and_list(cli_db: Engine) -> None:
    from gridgov.audit.cli import app

    runner = CliRunner()
    add_entries(session_factory(cli_db), 4)
    verified = runner.invoke(app, ["verify"])
    assert verified.exit_code == 0, verified.output
    head = runner.invoke(app, ["head"])
    assert head.exit_code == 0
    filed = head.stdout.strip()
    assert re.fullmatch(r"4:[0-9a-f]{64}", filed)
    assert verified.stdout.strip() == f"audit trail intact: 4 entries, head {filed.split(':')[1]}"
    assert runner.invoke(app, ["verify", "--expect", filed]).exit_code == 0
    head_json = json.loads(runner.invoke(app, ["head", "--json"]).stdout)
    assert head_json["last_id"] == 4

    listed = runner.invoke(app, ["list", "--limit", "2", "--json"])
    assert listed.exit_code == 0
    assert [e["id"] for e in json.loads(listed.stdout)] == [4, 3]
    table = runner.invoke(app, ["list", "--action", "user.*"])
    assert table.exit_code == 0 and "user.create" in table.stdout

    sqlite_edit(cli_db, "update audit_log set action='x' where id=3")
    broken = runner.invoke(app, ["verify"])
    assert broken.exit_code == 1
    assert broken.stdout.strip() == "audit trail broken at entry 3: hash mismatch — row altered"
    bad = runner.invoke(app, ["verify", "--expect", "nonsense"])
    assert bad.exit_code == 1 and "ID:HASH" in bad.stderr
