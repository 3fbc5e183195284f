"""The event workflow: one state machine for every change of an event's state (issue 5, item 3).

The 7-step closed loop of digital urban management (信息收集 → 立案 → 派遣 → 处置 → 处置反馈 → 核查结案 →
综合评价), with the turns real desks take::

    reported ──accept──▶ accepted ──dispatch──▶ dispatched ──sign──▶ signed ──handle──▶ handled
       │                   ▲  ▲                    │                  │                   │
     cancel                │  └──────return────────┴──────────────────┘                verify
       ▼                   │                                          ▲                   ▼
    cancelled              │                                          └─fail_verification─ verified
                           │                                                               │
                           └───────────────reopen (within the window)──── closed ◀──close──┘
                                                                          │
                                                                       evaluate
                                                                          ▼
                                                                      evaluated ──reopen──▶ accepted

Actions that leave the state as it is but are part of the record: ``request_extension`` /
``approve_extension`` / ``deny_extension`` (延期, asked by the handler, decided above), ``supervise``
(督办, by a higher centre), ``escalate`` (the desk hands an accepted event to the level above),
``whistle`` and the summoned departments' ``whistle_sign`` / ``whistle_contact`` / ``whistle_report`` /
``whistle_rate``.

This module decides only what may happen and what it needs (a reason, a unit, a rating); the service
records who did it, when, with which note and attachments, and checks the event's version so two people
acting at once never silently overwrite each other. An illegal action raises `IllegalTransition` naming
the state, the action and what the state allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from gridgov.core.errors import Conflict, InvalidInput

__all__ = [
    "ACTIONS",
    "OPEN_STATES",
    "Action",
    "IllegalTransition",
    "MissingInput",
    "Rule",
    "State",
    "allowed_actions",
    "next_state",
]


class State(StrEnum):
    reported = "reported"  # 上报 — awaiting the desk
    accepted = "accepted"  # 立案 — a case; awaiting dispatch
    cancelled = "cancelled"  # 不予立案 — with its reason
    dispatched = "dispatched"  # 派遣 — the handling unit's clock runs
    signed = "signed"  # 签收 — the unit has taken it
    handled = "handled"  # 处置反馈 — the unit says it is done
    verified = "verified"  # 核查 — the grid worker saw it done on site
    closed = "closed"  # 结案
    evaluated = "evaluated"  # 评价


class Action(StrEnum):
    accept = "accept"
    cancel = "cancel"
    dispatch = "dispatch"
    sign = "sign"
    return_ = "return"
    handle = "handle"
    verify = "verify"
    fail_verification = "fail_verification"
    close = "close"
    evaluate = "evaluate"
    reopen = "reopen"
    request_extension = "request_extension"
    approve_extension = "approve_extension"
    deny_extension = "deny_extension"
    supervise = "supervise"
    escalate = "escalate"
    whistle = "whistle"
    whistle_sign = "whistle_sign"
    whistle_contact = "whistle_contact"
    whistle_report = "whistle_report"
    whistle_rate = "whistle_rate"


#: States in which an event is still being worked on (deadlines run, supervision and the whistle apply).
OPEN_STATES: Final = frozenset(
    {State.accepted, State.dispatched, State.signed, State.handled, State.verified}
)
_WORKING: Final = frozenset({State.dispatched, State.signed})


@dataclass(frozen=True, slots=True)
class Rule:
    """What an action needs and does: the states it may start from, the state it leads to (None: the
    state stays), and the inputs it cannot go without."""

    sources: frozenset[State]
    target: State | None
    needs_reason: bool = False
    needs_unit: bool = False
    needs_rating: bool = False
    needs_duration: bool = False


ACTIONS: Final[dict[Action, Rule]] = {
    Action.accept: Rule(frozenset({State.reported}), State.accepted),
    Action.cancel: Rule(frozenset({State.reported}), State.cancelled, needs_reason=True),
    Action.dispatch: Rule(frozenset({State.accepted}), State.dispatched, needs_unit=True),
    Action.sign: Rule(frozenset({State.dispatched}), State.signed),
    Action.return_: Rule(_WORKING, State.accepted, needs_reason=True),
    Action.handle: Rule(frozenset({State.signed}), State.handled),
    Action.verify: Rule(frozenset({State.handled}), State.verified),
    Action.fail_verification: Rule(frozenset({State.handled}), State.signed, needs_reason=True),
    Action.close: Rule(frozenset({State.verified}), State.closed),
    Action.evaluate: Rule(frozenset({State.closed}), State.evaluated, needs_rating=True),
    Action.reopen: Rule(frozenset({State.closed, State.evaluated}), State.accepted, needs_reason=True),
    Action.request_extension: Rule(_WORKING, None, needs_reason=True, needs_duration=True),
    Action.approve_extension: Rule(_WORKING, None),
    Action.deny_extension: Rule(_WORKING, None, needs_reason=True),
    Action.supervise: Rule(frozenset(OPEN_STATES - {State.verified}), None, needs_reason=True),
    Action.escalate: Rule(frozenset({State.accepted}), None, needs_reason=True),
    Action.whistle: Rule(frozenset({State.accepted, *_WORKING, State.handled}), None, needs_reason=True),
    Action.whistle_sign: Rule(frozenset(OPEN_STATES), None),
    Action.whistle_contact: Rule(frozenset(OPEN_STATES), None),
    Action.whistle_report: Rule(frozenset(OPEN_STATES), None),
    Action.whistle_rate: Rule(
        frozenset(OPEN_STATES | {State.closed, State.evaluated}), None, needs_rating=True
    ),
}


class IllegalTransition(Conflict):
    code = "illegal_transition"


class MissingInput(InvalidInput):
    code = "missing_input"


def allowed_actions(state: State) -> list[Action]:
    """The actions the state allows, in the order of the loop."""
    return [action for action, rule in ACTIONS.items() if state in rule.sources]


def next_state(
    state: State,
    action: Action,
    *,
    reason: str | None = None,
    unit: str | None = None,
    rating: int | None = None,
    duration: float | None = None,
) -> State:
    """The state after ``action``; raises `IllegalTransition` or `MissingInput` with a message a person can
    act on. Pure: records nothing (see `events.service`)."""
    rule = ACTIONS[action]
    if state not in rule.sources:
        allowed = ", ".join(a.value for a in allowed_actions(state)) or "nothing (the event is finished)"
        raise IllegalTransition(
            f"An event that is {state.value} cannot be '{action.value}'; it allows: {allowed}"
        )
    if rule.needs_reason and not (reason and reason.strip()):
        raise MissingInput(f"'{action.value}' needs a reason")
    if rule.needs_unit and not (unit and unit.strip()):
        raise MissingInput(f"'{action.value}' needs the handling unit")
    if rule.needs_rating and (rating is None or not 1 <= rating <= 5):
        raise MissingInput(f"'{action.value}' needs a rating from 1 to 5")
    if rule.needs_duration and (duration is None or duration <= 0):
        raise MissingInput(f"'{action.value}' needs how much more time (a positive number)")
    return rule.target if rule.target is not None else state
