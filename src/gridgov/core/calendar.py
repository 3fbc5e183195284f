"""Working-day calendar: Chinese public holidays, adjusted working days (调休) and working hours.

Handling time limits (DESIGN §5) are counted in working hours or working days, so every deadline
goes through here. The holiday table ships as ``data/holidays_cn.csv`` (built by
``scripts/build_holidays.py``); an operator can add a year the package does not know yet with an
override file of the same columns. A date outside the covered years raises :class:`InvalidInput`
instead of guessing, because a wrong deadline is worse than a loud error.

Time model
----------
All results are timezone-aware in China time (:data:`CHINA_TZ`); naive inputs are taken as China
time and aware inputs in other zones are converted. A working day has the same working periods
(default ``09:00-12:00,14:00-18:00``, i.e. 7 hours); each period is half-open, ``[start, end)``,
so 18:00 itself is not working time.

Internally every moment maps to "working microseconds elapsed since the first covered day",
using per-day prefix sums, so each call costs O(1) or O(log n) whatever the span.

Deadline rules
--------------
``add_working_hours(start, h)``
    The earliest moment by which ``h`` hours of working time have elapsed after ``start``. If
    ``start`` is outside working time, counting starts at the next working moment. The result can
    be the end of a period: Friday 16:00 + 2 h is Friday 18:00, + 4 h is Monday 11:00.

``add_working_days(start, n)``
    The same clock time on the n-th working day after the start day, which is exactly
    ``n × hours_per_day`` of working time: this is how urban-management (数字城管) and 12345
    work-order systems show an "n 个工作日" limit counted from dispatch, skipping weekends and
    holidays and counting 调休 weekends. If ``start`` is outside working time, counting starts at
    the next working moment and keeps its clock time: dispatched Saturday 10:00 or Friday 19:00,
    1 working day ends Tuesday 09:00 (the count starts Monday 09:00); dispatched during the lunch
    break, it counts from 14:00.

``n == 0`` / ``h == 0`` return ``start`` unchanged (converted to China time).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

from gridgov.core.clock import CHINA_TZ
from gridgov.core.errors import InvalidInput
from gridgov.core.settings import get_settings

__all__ = [
    "DATA_FILE",
    "OVERRIDE_ENV",
    "HolidayEntry",
    "WorkingCalendar",
    "get_calendar",
    "parse_working_hours",
]

DATA_FILE = Path(__file__).with_name("data") / "holidays_cn.csv"
# Read by get_calendar(): path of an operator's override CSV (same columns as the packaged file).
OVERRIDE_ENV = "GRIDGOV_HOLIDAYS_FILE"

_COLUMNS = ("date", "kind", "name", "provisional")
_KINDS = frozenset({"holiday", "workday"})
_US_PER_MINUTE = 60_000_000
_US_PER_HOUR = 60 * _US_PER_MINUTE
_US_PER_DAY = 24 * _US_PER_HOUR
_PERIOD_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class HolidayEntry:
    """One row of the holiday table."""

    day: date
    kind: str  # "holiday" (day off) or "workday" (调休: a weekend that is a working day)
    name: str
    provisional: bool


def parse_working_hours(spec: str) -> tuple[tuple[int, int], ...]:
    """Parse ``"09:00-12:00,14:00-18:00"`` into sorted ``(start, end)`` microseconds of the day.

    Touching periods are merged; overlapping, empty or reversed ones are rejected.
    """
    periods: list[tuple[int, int]] = []
    for part in spec.split(","):
        match = _PERIOD_RE.match(part.strip())
        if not match:
            raise InvalidInput(f"Working hours must look like '09:00-12:00,14:00-18:00', got {spec!r}.")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if m1 > 59 or m2 > 59 or h1 > 23 or h2 > 24 or (h2 == 24 and m2 != 0):
            raise InvalidInput(f"Invalid time of day in working hours {part.strip()!r}.")
        start, end = (h1 * 60 + m1) * _US_PER_MINUTE, (h2 * 60 + m2) * _US_PER_MINUTE
        if start >= end:
            raise InvalidInput(f"Working period {part.strip()!r} must end after it starts.")
        periods.append((start, end))
    periods.sort()
    merged: list[tuple[int, int]] = [periods[0]]
    for start, end in periods[1:]:
        last_start, last_end = merged[-1]
        if start < last_end:
            raise InvalidInput(f"Working periods overlap in {spec!r}.")
        if start == last_end:
            merged[-1] = (last_start, end)
        else:
            merged.append((start, end))
    return tuple(merged)


def _read_table(path: Path) -> list[HolidayEntry]:
    """Read a holiday CSV; ``#`` lines and blank lines are allowed so operators can annotate."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: files saved from Excel start with a BOM
    except OSError as exc:
        raise InvalidInput(f"Cannot read holiday file {path}: {exc.strerror}.") from exc
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and line[0] != "#"]
    if not lines:
        raise InvalidInput(f"Holiday file {path} is empty.")
    header = tuple(cell.strip() for cell in next(csv.reader([lines[0][1]])))
    if header != _COLUMNS:
        raise InvalidInput(
            f"Holiday file {path} must have the header {','.join(_COLUMNS)}, got {','.join(header)}."
        )
    entries: list[HolidayEntry] = []
    for lineno, line in lines[1:]:
        row = next(csv.reader([line]))
        where = f"{path}, line {lineno}"
        if len(row) > len(_COLUMNS):
            raise InvalidInput(f"{where}: expected {len(_COLUMNS)} columns, got {len(row)}.")
        cells = [cell.strip() for cell in row] + [""] * (len(_COLUMNS) - len(row))
        try:
            day = date.fromisoformat(cells[0])
        except ValueError as exc:
            raise InvalidInput(f"{where}: {cells[0]!r} is not a YYYY-MM-DD date.") from exc
        if cells[1] not in _KINDS:
            raise InvalidInput(f"{where}: kind must be 'holiday' or 'workday', got {cells[1]!r}.")
        if cells[3] not in ("", "0", "1"):
            raise InvalidInput(f"{where}: provisional must be 1 or empty, got {cells[3]!r}.")
        entries.append(HolidayEntry(day, cells[1], cells[2], cells[3] == "1"))
    return entries


def _merge(base: list[HolidayEntry], override: list[HolidayEntry]) -> dict[date, HolidayEntry]:
    """Later rows win per date; an override year also drops that year's provisional packaged rows.

    A provisional year is a guess made before the State Council's notice: once the operator supplies
    the real notice, a guessed 补假 day the notice does not list must not survive as a holiday.
    """
    table = {e.day: e for e in base}
    override_years = {e.day.year for e in override}
    for year in override_years:
        year_rows = [e for e in table.values() if e.day.year == year]
        if year_rows and all(e.provisional for e in year_rows):
            for e in year_rows:
                del table[e.day]
    for e in override:
        table[e.day] = e
    return table


def _to_local(moment: datetime) -> datetime:
    return moment.replace(tzinfo=CHINA_TZ) if moment.tzinfo is None else moment.astimezone(CHINA_TZ)


def _time_of_day_us(moment: datetime) -> int:
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000 + moment.microsecond


class WorkingCalendar:
    """Working days and working hours for deadline arithmetic.

    ``data_file`` defaults to the packaged table; ``override_file`` (optional) adds or replaces dates;
    ``working_hours`` defaults to ``get_settings().working_hours``.
    """

    def __init__(
        self,
        override_file: Path | str | None = None,
        *,
        working_hours: str | None = None,
        data_file: Path | str = DATA_FILE,
    ) -> None:
        override = _read_table(Path(override_file)) if override_file else []
        self._table = _merge(_read_table(Path(data_file)), override)
        self._periods = parse_working_hours(
            working_hours if working_hours is not None else get_settings().working_hours
        )
        self._day_us = sum(end - start for start, end in self._periods)
        self._years = frozenset(d.year for d in self._table)
        self._provisional_years = frozenset(e.day.year for e in self._table.values() if e.provisional)
        self._origin = date(min(self._years), 1, 1)
        last = date(max(self._years), 12, 31)
        n_days = (last - self._origin).days + 1
        # Per-day flags and prefix sums over the whole span; days of uncovered gap years count as
        # non-working here, and every public method checks coverage before relying on them.
        self._working = [False] * n_days
        self._cum = [0] * (n_days + 1)  # _cum[i] = number of working days before day index i
        self._work_idx: list[int] = []  # day indexes of working days, ascending
        for i in range(n_days):
            day = self._origin + timedelta(days=i)
            if day.year in self._years:
                self._working[i] = self._compute_working(day)
            if self._working[i]:
                self._work_idx.append(i)
            self._cum[i + 1] = self._cum[i] + self._working[i]

    # ------------------------------------------------------------------ days

    @property
    def covered_years(self) -> frozenset[int]:
        """Years the table knows; any date outside them raises."""
        return self._years

    @property
    def working_periods(self) -> tuple[tuple[time, time], ...]:
        """The working periods of a working day; an end of 24:00 is shown as ``time.max``."""
        return tuple((self._us_to_time(s), self._us_to_time(e)) for s, e in self._periods)

    @property
    def hours_per_day(self) -> float:
        return self._day_us / _US_PER_HOUR

    def entry(self, day: date) -> HolidayEntry | None:
        """The table row for ``day``, if any (holiday or adjusted workday)."""
        return self._table.get(self._day_index_date(day))

    def is_provisional(self, day: date) -> bool:
        """True when ``day``'s year is not announced yet, so its answer may change."""
        d = self._day_index_date(day)
        self._index(d)
        return d.year in self._provisional_years

    def is_working_day(self, day: date) -> bool:
        """A weekday that is not a holiday, or a weekend adjusted to a working day (调休).

        A ``datetime`` is taken at its China-time date.
        """
        return self._working[self._index(self._day_index_date(day))]

    # ------------------------------------------------------------------ moments

    def next_working_moment(self, moment: datetime) -> datetime:
        """``moment`` itself if it is working time, else the start of the next working period."""
        local = _to_local(moment)
        i = self._index(local.date())
        tod = _time_of_day_us(local)
        if self._working[i]:
            for start, end in self._periods:
                if tod < start:
                    return self._moment(i, start)
                if tod < end:
                    return local
        k = self._cum[i + 1]
        if k >= len(self._work_idx):
            raise self._beyond(local.date())
        j = self._work_idx[k]
        self._check_span(i, j)
        return self._moment(j, self._periods[0][0])

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from ``a`` to ``b``; negative when ``b`` is before ``a``."""
        la, lb = _to_local(a), _to_local(b)
        ia, ib = self._index(la.date()), self._index(lb.date())
        self._check_span(min(ia, ib), max(ia, ib))
        return (self._worked_us(ib, lb) - self._worked_us(ia, la)) / _US_PER_HOUR

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The earliest moment by which ``hours`` of working time have elapsed after ``start``."""
        if not math.isfinite(hours) or hours < 0:
            raise InvalidInput(f"Working hours to add must be a non-negative number, got {hours!r}.")
        local = _to_local(start)
        i = self._index(local.date())
        delta = round(hours * _US_PER_HOUR)
        if delta == 0:
            return local
        k, rem = divmod(self._worked_us(i, local) + delta, self._day_us)
        if rem == 0:
            # Exactly k full working days: the close of the k-th one, not the next opening.
            k, rem = k - 1, self._day_us
        if k >= len(self._work_idx):
            raise self._beyond(local.date(), f"{hours:g} working hours after {local:%Y-%m-%d %H:%M}")
        j = self._work_idx[k]
        self._check_span(i, j)
        for period_start, period_end in self._periods:
            length = period_end - period_start
            if rem <= length:
                return self._moment(j, period_start + rem)
            rem -= length
        raise AssertionError("unreachable: rem never exceeds a day's working time")

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same clock time ``days`` working days later (see the module docstring for the rule)."""
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise InvalidInput(f"Working days to add must be a non-negative integer, got {days!r}.")
        local = _to_local(start)
        if days == 0:
            self._index(local.date())
            return local
        first = self.next_working_moment(local)
        i = self._index(first.date())
        k = self._cum[i] + days  # _cum[i] is first's own rank among working days
        if k >= len(self._work_idx):
            raise self._beyond(local.date(), f"{days} working days after {local:%Y-%m-%d %H:%M}")
        j = self._work_idx[k]
        self._check_span(i, j)
        return self._moment(j, _time_of_day_us(first))

    # ------------------------------------------------------------------ internals

    def _compute_working(self, day: date) -> bool:
        entry = self._table.get(day)
        if entry is not None:
            return entry.kind == "workday"
        return day.weekday() < 5

    @staticmethod
    def _day_index_date(day: date) -> date:
        # datetime is a subclass of date: take its China-time calendar date, not its own zone's.
        return _to_local(day).date() if isinstance(day, datetime) else day

    def _index(self, day: date) -> int:
        if day.year not in self._years:
            years = sorted(self._years)
            raise InvalidInput(
                f"No holiday data for {day.isoformat()}: the working calendar covers "
                f"{', '.join(map(str, years))}. Add the year with an override file ({OVERRIDE_ENV}).",
                code="calendar_not_covered",
            )
        return (day - self._origin).days

    def _check_span(self, i: int, j: int) -> None:
        """Raise if days i..j cross a year the table does not cover (a gap between known years)."""
        first, last = self._origin + timedelta(days=i), self._origin + timedelta(days=j)
        for year in range(first.year, last.year + 1):
            self._index(date(year, 1, 1))

    def _beyond(self, day: date, what: str = "The next working day") -> InvalidInput:
        return InvalidInput(
            f"{what} falls after {max(self._years)}, the last year the working calendar covers "
            f"(from {day.isoformat()}). Add the next year with an override file ({OVERRIDE_ENV}).",
            code="calendar_not_covered",
        )

    def _worked_us(self, i: int, local: datetime) -> int:
        """Working microseconds from the first covered day up to ``local`` (on day index ``i``)."""
        total = self._cum[i] * self._day_us
        if self._working[i]:
            tod = _time_of_day_us(local)
            total += sum(min(max(tod - s, 0), e - s) for s, e in self._periods)
        return total

    def _moment(self, i: int, tod_us: int) -> datetime:
        day = self._origin + timedelta(days=i)
        return datetime.combine(day, time(0), tzinfo=CHINA_TZ) + timedelta(microseconds=tod_us)

    @staticmethod
    def _us_to_time(us: int) -> time:
        if us >= _US_PER_DAY:
            return time.max
        minutes = us // _US_PER_MINUTE
        return time(minutes // 60, minutes % 60)


@lru_cache(maxsize=1)
def get_calendar() -> WorkingCalendar:
    """The process-wide calendar: packaged table + ``$GRIDGOV_HOLIDAYS_FILE``, settings' working hours.

    Cached; call ``get_calendar.cache_clear()`` (and ``get_settings.cache_clear()``) after changing them.
    """
    settings = get_settings()
    return WorkingCalendar(settings.holidays_file, working_hours=settings.working_hours)
