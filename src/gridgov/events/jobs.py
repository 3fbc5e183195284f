"""Periodic event work: deadline colours, and overdue events supervised by the level above (issue 5, item 6).

`deadline_pass` is one run: every open event with a running clock is recoloured (green → yellow at 80% of
its working time, red when overdue); an event that has just turned red is supervised (督办) automatically on
behalf of the centre above its handling unit — the step names that centre, so the timeline and the desk of
that centre show it. Run it every minute: in-process by `gridgov serve` (the demo), or as its own process with
`gridgov worker` (production, one per database). It is idempotent: a second run in the same minute changes
nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.accounts.models import OrgUnit
from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.core.clock import get_clock
from gridgov.events import service
from gridgov.events.models import Event
from gridgov.events.workflow import OPEN_STATES, Action, State

log = logging.getLogger(__name__)

#: Seconds between two runs of the in-process job.
INTERVAL_S = 60.0


@dataclass
class PassReport:
    checked: int = 0
    yellow: int = 0
    red: int = 0
    supervised: list[str] = field(default_factory=list)  # tickets supervised by the level above


def _centre_above(session: Session, event: Event) -> str:
    """The command centre above the event's handling unit (the district centre when none is known)."""
    unit = (
        session.scalars(select(OrgUnit).where(OrgUnit.code == event.handling_unit_code)).first()
        if event.handling_unit_code
        else None
    )
    code = unit.parent_code if unit is not None and unit.parent_code else None
    return code or service.DISTRICT_CENTRE


def deadline_pass(session: Session, *, now: datetime | None = None) -> PassReport:
    """Recolour every running clock; supervise the events that have just turned red (see the module doc)."""
    now = now or get_clock().now()
    report = PassReport()
    running = session.scalars(
        select(Event)
        .where(Event.state.in_([s.value for s in OPEN_STATES]), Event.due_at.is_not(None))
        .order_by(Event.id)
    ).all()
    for event in running:
        report.checked += 1
        status = service.deadline_status(event, now)
        if status == event.deadline_status:
            continue
        event.deadline_status = status
        if status == "yellow":
            report.yellow += 1
        elif status == "red":
            report.red += 1
            if State(event.state) in (State.accepted, State.dispatched, State.signed, State.handled):
                centre = _centre_above(session, event)
                actor = service.Actor(name=f"超期督办 · {centre}", scope=WHOLE_DISTRICT, unit_code=centre)
                service.act(session, event, Action.supervise, actor=actor, reason="超期未办结，自动督办")
                event.deadline_status = "red"  # `act` recolours at its own clock reading; keep this pass's
                report.supervised.append(event.ticket)
    session.flush()
    return report


class DeadlineWorker:
    """Runs `deadline_pass` every `interval` seconds in a daemon thread, each run in its own transaction."""

    def __init__(self, factory: sessionmaker[Session], *, interval: float = INTERVAL_S) -> None:
        self._factory = factory
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gridgov-deadlines", daemon=True)

    def run_once(self) -> PassReport:
        with self._factory() as session:
            report = deadline_pass(session)
            session.commit()
        if report.red or report.yellow:
            log.info(
                "deadlines: %d yellow, %d red, supervised %s", report.yellow, report.red, report.supervised
            )
        return report

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a bad run must not stop the next one; it is logged with its traceback
                log.exception("deadline pass failed")
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
