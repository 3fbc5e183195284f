"""The event state machine: every (state, action) pair is either a legal step to the expected state or
refused with a message naming what the state allows; required inputs are enforced; the loop can be walked
end to end."""

from __future__ import annotations

import itertools

import pytest

from gridgov.core.errors import Conflict, InvalidInput
from gridgov.events.workflow import (
    ACTIONS,
    OPEN_STATES,
    Action,
    IllegalTransition,
    MissingInput,
    State,
    allowed_actions,
    next_state,
)

S, A = State, Action

# The expected table, written out by hand (not derived from ACTIONS): (state, action) → next state.
LEGAL: dict[tuple[State, Action], State] = {
    (S.reported, A.accept): S.accepted,
    (S.reported, A.cancel): S.cancelled,
    (S.accepted, A.dispatch): S.dispatched,
    (S.dispatched, A.sign): S.signed,
    (S.dispatched, A.return_): S.accepted,
    (S.signed, A.return_): S.accepted,
    (S.signed, A.handle): S.handled,
    (S.handled, A.verify): S.verified,
    (S.handled, A.fail_verification): S.signed,
    (S.verified, A.close): S.closed,
    (S.closed, A.evaluate): S.evaluated,
    (S.closed, A.reopen): S.accepted,
    (S.evaluated, A.reopen): S.accepted,
}
# Actions that are recorded but leave the state, and the states that allow them.
STAYS: dict[Action, set[State]] = {
    A.request_extension: {S.dispatched, S.signed},
    A.approve_extension: {S.dispatched, S.signed},
    A.deny_extension: {S.dispatched, S.signed},
    A.supervise: {S.accepted, S.dispatched, S.signed, S.handled},
    A.escalate: {S.accepted},
    A.whistle: {S.accepted, S.dispatched, S.signed, S.handled},
    A.whistle_sign: {S.accepted, S.dispatched, S.signed, S.handled, S.verified},
    A.whistle_contact: {S.accepted, S.dispatched, S.signed, S.handled, S.verified},
    A.whistle_report: {S.accepted, S.dispatched, S.signed, S.handled, S.verified},
    A.whistle_rate: {S.accepted, S.dispatched, S.signed, S.handled, S.verified, S.closed, S.evaluated},
}
# Enough input for any action, so the table alone decides legality.
EVERYTHING = {"reason": "现场核实", "unit": "D-CG", "rating": 4, "duration": 8.0}


@pytest.mark.parametrize(("state", "action"), list(itertools.product(State, Action)))
def test_every_state_and_action(state: State, action: Action) -> None:
    expected = LEGAL.get((state, action))
    if expected is None and state in STAYS.get(action, set()):
        expected = state
    if expected is None:
        with pytest.raises(IllegalTransition) as refused:
            next_state(state, action, **EVERYTHING)  # type: ignore[arg-type]
        message = refused.value.message
        assert state.value in message and f"'{action.value}'" in message
        for allowed in allowed_actions(state):
            assert allowed.value in message
        assert refused.value.http_status == 409
    else:
        assert next_state(state, action, **EVERYTHING) == expected  # type: ignore[arg-type]


def test_the_table_covers_every_action_and_finished_events_allow_little() -> None:
    assert set(ACTIONS) == set(Action)
    assert allowed_actions(S.cancelled) == []
    with pytest.raises(IllegalTransition, match="allows: nothing"):
        next_state(S.cancelled, A.accept)
    assert set(allowed_actions(S.evaluated)) == {A.reopen, A.whistle_rate}
    assert {S.accepted, S.dispatched, S.signed, S.handled, S.verified} == OPEN_STATES


@pytest.mark.parametrize(
    ("state", "action", "missing", "words"),
    [
        (S.reported, A.cancel, {"reason": None}, "needs a reason"),
        (S.reported, A.cancel, {"reason": "   "}, "needs a reason"),
        (S.accepted, A.dispatch, {"unit": None}, "needs the handling unit"),
        (S.dispatched, A.return_, {"reason": ""}, "needs a reason"),
        (S.handled, A.fail_verification, {"reason": None}, "needs a reason"),
        (S.closed, A.evaluate, {"rating": None}, "rating from 1 to 5"),
        (S.closed, A.evaluate, {"rating": 6}, "rating from 1 to 5"),
        (S.closed, A.evaluate, {"rating": 0}, "rating from 1 to 5"),
        (S.signed, A.request_extension, {"duration": 0}, "how much more time"),
        (S.signed, A.request_extension, {"reason": None}, "needs a reason"),
        (S.closed, A.reopen, {"reason": None}, "needs a reason"),
        (S.accepted, A.whistle, {"reason": None}, "needs a reason"),
    ],
)
def test_required_inputs(state: State, action: Action, missing: dict[str, object], words: str) -> None:
    given = {**EVERYTHING, **missing}
    with pytest.raises(MissingInput, match=words) as refused:
        next_state(state, action, **given)  # type: ignore[arg-type]
    assert isinstance(refused.value, InvalidInput) and not isinstance(refused.value, Conflict)


def test_the_closed_loop_with_a_return_a_rework_and_a_reopen() -> None:
    path = [
        (A.accept, S.accepted),
        (A.dispatch, S.dispatched),
        (A.return_, S.accepted),  # mis-routed: back to the desk
        (A.dispatch, S.dispatched),
        (A.sign, S.signed),
        (A.request_extension, S.signed),
        (A.approve_extension, S.signed),
        (A.handle, S.handled),
        (A.fail_verification, S.signed),  # not done on site: rework
        (A.handle, S.handled),
        (A.verify, S.verified),
        (A.close, S.closed),
        (A.evaluate, S.evaluated),
        (A.reopen, S.accepted),
    ]
    state = S.reported
    for action, expected in path:
        state = next_state(state, action, **EVERYTHING)  # type: ignore[arg-type]
        assert state == expected, action
