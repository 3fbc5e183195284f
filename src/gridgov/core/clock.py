"""An injectable clock, so deadline logic is tested without sleeping.

All timestamps are timezone-aware; the platform's local zone is China Standard Time (UTC+8, no DST).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Protocol

CHINA_TZ = timezone(timedelta(hours=8), name="CST")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(CHINA_TZ)


class FrozenClock:
    """A clock that stands still until moved: ``clock.advance(hours=2)``."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            at = at.replace(tzinfo=CHINA_TZ)
        self._now = at

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)

    def set(self, at: datetime) -> None:
        self._now = at if at.tzinfo else at.replace(tzinfo=CHINA_TZ)


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    return _clock


def now() -> datetime:
    return _clock.now()


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Swap the process clock for the duration of a block (tests, replays)."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield clock
    finally:
        _clock = previous
