"""The deadline job: colours over a holiday, overdue events supervised from above once, idempotent runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.core.clock import CHINA_TZ, FrozenClock, use_clock
from gridgov.core.db import session_factory
from gridgov.events import jobs, service
from gridgov.events.models import EventCategory
from gridgov.events.service import Actor, NewEvent
from gridgov.events.workflow import Action

DESK = Actor(name="desk", scope=WHOLE_DISTRICT)
INSIDE = (113.9248, 22.530853)


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)  # type: ignore[misc]


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        service.seed_org_units(session)
        service.seed_categories(session)
        yield session
        session.rollback()


def test_the_pass_colours_and_supervises_overdue_events_once(db: Session) -> None:
    garbage = db.scalars(select(EventCategory).where(EventCategory.name == "暴露垃圾")).one()
    clock = FrozenClock(cst(2026, 9, 30, 16, 0))  # due Thu 8 Oct 11:00 (1–7 Oct are holidays)
    with use_clock(clock):
        event, _ = service.submit(
            db, NewEvent(subtype_code=garbage.code, title="垃圾", lon=INSIDE[0], lat=INSIDE[1])
        )
        service.act(db, event, Action.accept, actor=DESK)
        service.act(db, event, Action.dispatch, actor=DESK, unit="D-CG")
        clock.set(cst(2026, 10, 5, 12, 0))  # the holiday: no working time has passed
        # (Events other tests committed may be checked too: assertions are about this one.)
        report = jobs.deadline_pass(db)
        assert report.checked >= 1 and event.deadline_status == "green"
        clock.set(cst(2026, 10, 8, 10, 30))
        assert jobs.deadline_pass(db).yellow >= 1 and event.deadline_status == "yellow"
        clock.set(cst(2026, 10, 8, 11, 30))
        report = jobs.deadline_pass(db)
        assert report.red >= 1 and report.supervised.count(event.ticket) == 1
        assert event.deadline_status == "red" and event.supervised
        step = service.timeline(db, event)[-1]
        assert (
            step.action == "supervise" and step.actor_name == "超期督办 · C-440305"
        )  # D-CG reports to C-440305
        again = jobs.deadline_pass(db)
        assert event.ticket not in again.supervised
        assert [s.action for s in service.timeline(db, event)].count("supervise") == 1


def test_the_worker_runs_in_its_own_transactions(
    backend: str, empty_engine_factory: Callable[[str], Engine]
) -> None:
    """On a database of its own, so the counts are known: one running clock, overdue, supervised once,
    and committed by the worker's own transaction (a new session sees it)."""
    from gridgov.areas.service import load_nanshan_areas

    factory = session_factory(empty_engine_factory(backend))
    worker = jobs.DeadlineWorker(factory, interval=3600)
    assert worker.run_once() == jobs.PassReport(checked=0, yellow=0, red=0, supervised=[])
    clock = FrozenClock(cst(2026, 9, 30, 16, 0))
    with use_clock(clock), factory() as session:
        load_nanshan_areas(session)
        service.seed_org_units(session)
        service.seed_categories(session)
        garbage = session.scalars(select(EventCategory).where(EventCategory.name == "暴露垃圾")).one()
        event, _ = service.submit(
            session, NewEvent(subtype_code=garbage.code, title="垃圾", lon=INSIDE[0], lat=INSIDE[1])
        )
        service.act(session, event, Action.accept, actor=DESK)
        service.act(session, event, Action.dispatch, actor=DESK, unit="D-CG")
        ticket = event.ticket
        session.commit()
    with use_clock(FrozenClock(cst(2026, 10, 8, 11, 30))):  # past the due time (Thu 8 Oct 11:00)
        assert worker.run_once() == jobs.PassReport(checked=1, yellow=0, red=1, supervised=[ticket])
        with factory() as session:
            stored = service.get_event(session, ticket, scope=WHOLE_DISTRICT)
            assert stored.deadline_status == "red" and stored.supervised
        assert worker.run_once() == jobs.PassReport(checked=1, yellow=0, red=0, supervised=[])
    worker.start()
    worker.stop()


def test_gridgov_worker_once(cli_env: None) -> None:
    from typer.testing import CliRunner

    from gridgov.cli.main import app

    result = CliRunner().invoke(app, ["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "running clocks" in result.output and "supervised" in result.output


def test_the_demo_server_runs_the_job_in_process(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from fastapi.testclient import TestClient

    from gridgov.core.settings import get_settings
    from gridgov.web.app import create_app

    def running() -> bool:
        return any(t.name == "gridgov-deadlines" and t.is_alive() for t in threading.enumerate())

    monkeypatch.setenv("GRIDGOV_RUN_JOBS", "1")
    get_settings.cache_clear()
    try:
        with TestClient(create_app(engine)):
            assert running()
        assert not running()
    finally:
        monkeypatch.delenv("GRIDGOV_RUN_JOBS")
        get_settings.cache_clear()
    with TestClient(create_app(engine)):  # the default (tests, production web processes): no job thread
        assert not running()
