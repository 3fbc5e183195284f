"""Working-day calendar: holiday table vs chinesecalendar, deadline arithmetic, overrides, coverage."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgov.core.calendar import DATA_FILE, WorkingCalendar, get_calendar, parse_working_hours
from gridgov.core.clock import CHINA_TZ
from gridgov.core.errors import InvalidInput

HEADER = "date,kind,name,provisional\n"


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar(working_hours="09:00-12:00,14:00-18:00")


def cst(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CHINA_TZ)


def all_days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# ---------------------------------------------------------------- the table


def test_table_matches_chinese_calendar_2024_2026(cal: WorkingCalendar) -> None:
    for day in all_days(date(2024, 1, 1), date(2026, 12, 31)):
        assert cal.is_working_day(day) == chinese_calendar.is_workday(day), day
        assert (not cal.is_working_day(day)) == chinese_calendar.is_holiday(day), day


def test_csv_rows_are_the_package_rows() -> None:
    with DATA_FILE.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    known = [r for r in rows if r["date"] < "2027"]
    holidays = {date.fromisoformat(r["date"]) for r in known if r["kind"] == "holiday"}
    workdays = {date.fromisoformat(r["date"]) for r in known if r["kind"] == "workday"}
    in_range = set(all_days(date(2024, 1, 1), date(2026, 12, 31)))
    assert holidays == set(chinese_calendar.holidays) & in_range
    assert workdays == set(chinese_calendar.workdays) & in_range
    assert all(d.weekday() >= 5 for d in workdays)
    assert all(r["provisional"] == "" for r in known)
    assert all(r["name"] for r in rows)
    assert len({r["date"] for r in rows}) == len(rows)


def test_2027_is_provisional_statutory_only(cal: WorkingCalendar) -> None:
    assert cal.covered_years == frozenset({2024, 2025, 2026, 2027})
    assert cal.is_provisional(date(2027, 3, 1))
    assert not cal.is_provisional(date(2026, 3, 1))
    spring = cal.entry(date(2027, 2, 5))
    assert spring is not None and spring.name == "春节" and spring.provisional
    for day in [date(2027, 1, 1), *all_days(date(2027, 2, 5), date(2027, 2, 10)), date(2027, 4, 5)]:
        assert not cal.is_working_day(day), day
    for day in [date(2027, 6, 9), date(2027, 9, 15), *all_days(date(2027, 10, 1), date(2027, 10, 5))]:
        assert not cal.is_working_day(day), day
    assert cal.is_working_day(date(2027, 2, 11))
    assert cal.is_working_day(date(2027, 10, 6))


def test_adjusted_weekend_workdays(cal: WorkingCalendar) -> None:
    assert date(2024, 2, 4).weekday() == 6 and cal.is_working_day(date(2024, 2, 4))
    assert date(2025, 9, 28).weekday() == 6 and cal.is_working_day(date(2025, 9, 28))
    assert date(2025, 10, 11).weekday() == 5 and cal.is_working_day(date(2025, 10, 11))
    assert not cal.is_working_day(date(2025, 10, 12))  # an ordinary Sunday


def test_national_day_week_is_off(cal: WorkingCalendar) -> None:
    for day in all_days(date(2025, 10, 1), date(2025, 10, 8)):
        assert not cal.is_working_day(day), day
    assert cal.is_working_day(date(2025, 10, 9))


def test_datetime_uses_china_date(cal: WorkingCalendar) -> None:
    # 2025-10-08 17:00 UTC is 2025-10-09 01:00 in China: a working day.
    assert cal.is_working_day(datetime(2025, 10, 8, 17, tzinfo=UTC))


# ---------------------------------------------------------------- working hours


def test_friday_afternoon_plus_four_hours_is_monday_eleven(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(date(2025, 3, 10))
    assert cal.add_working_hours(cst(2025, 3, 7, 16), 4) == cst(2025, 3, 10, 11)


def test_result_may_be_the_close_of_a_period(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(cst(2025, 3, 7, 16), 2) == cst(2025, 3, 7, 18)
    assert cal.add_working_hours(cst(2025, 3, 10, 9), 3) == cst(2025, 3, 10, 12)


def test_across_lunch_break(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(cst(2025, 3, 10, 11), 2) == cst(2025, 3, 10, 15)
    assert cal.add_working_hours(cst(2025, 3, 10, 11, 30), 0.75) == cst(2025, 3, 10, 14, 15)
    assert cal.working_hours_between(cst(2025, 3, 10, 11), cst(2025, 3, 10, 15)) == 2


def test_across_national_day(cal: WorkingCalendar) -> None:
    # 2025-09-30 17:00 + 2 h: one hour on the 30th, then nothing until Thursday 10-09.
    assert cal.add_working_hours(cst(2025, 9, 30, 17), 2) == cst(2025, 10, 9, 10)
    assert cal.working_hours_between(cst(2025, 9, 30, 9), cst(2025, 10, 9, 18)) == 14


def test_start_outside_working_time(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(cst(2025, 3, 8, 10), 1) == cst(2025, 3, 10, 10)  # Saturday
    assert cal.add_working_hours(cst(2025, 3, 10, 7), 1) == cst(2025, 3, 10, 10)  # before opening
    assert cal.add_working_hours(cst(2025, 3, 10, 12, 30), 1) == cst(2025, 3, 10, 15)  # lunch
    assert cal.add_working_hours(cst(2025, 3, 10, 20), 1) == cst(2025, 3, 11, 10)  # evening


def test_naive_is_china_time_and_other_zones_converted(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(datetime(2025, 3, 7, 16), 4) == cst(2025, 3, 10, 11)
    utc_start = datetime(2025, 3, 7, 8, tzinfo=UTC)  # 16:00 in China
    result = cal.add_working_hours(utc_start, 4)
    assert result == cst(2025, 3, 10, 11) and result.utcoffset() == timedelta(hours=8)


def test_zero_and_negative(cal: WorkingCalendar) -> None:
    sat = cst(2025, 3, 8, 10)
    assert cal.add_working_hours(sat, 0) == sat
    assert cal.add_working_days(sat, 0) == sat
    with pytest.raises(InvalidInput):
        cal.add_working_hours(sat, -1)
    with pytest.raises(InvalidInput):
        cal.add_working_hours(sat, float("nan"))
    with pytest.raises(InvalidInput):
        cal.add_working_days(sat, -1)
    assert cal.working_hours_between(cst(2025, 3, 10, 15), cst(2025, 3, 10, 10)) == -3


def test_next_working_moment(cal: WorkingCalendar) -> None:
    assert cal.next_working_moment(cst(2025, 3, 10, 10, 5)) == cst(2025, 3, 10, 10, 5)
    assert cal.next_working_moment(cst(2025, 3, 10, 12)) == cst(2025, 3, 10, 14)
    assert cal.next_working_moment(cst(2025, 3, 10, 18)) == cst(2025, 3, 11, 9)
    assert cal.next_working_moment(cst(2025, 9, 30, 18, 30)) == cst(2025, 10, 9, 9)
    assert cal.next_working_moment(cst(2025, 10, 10, 19)) == cst(2025, 10, 11, 9)  # 调休 Saturday


# ---------------------------------------------------------------- working days


def test_add_working_days_same_clock_time(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(cst(2025, 3, 7, 10, 30), 1) == cst(2025, 3, 10, 10, 30)
    assert cal.add_working_days(cst(2025, 3, 3, 15), 5) == cst(2025, 3, 10, 15)


def test_add_working_days_across_spring_festival(cal: WorkingCalendar) -> None:
    # 2025: holidays Jan 28 – Feb 4; Sunday Jan 26 and Saturday Feb 8 are 调休 working days.
    start = cst(2025, 1, 27, 10)
    assert cal.add_working_days(start, 1) == cst(2025, 2, 5, 10)
    assert cal.add_working_days(start, 3) == cst(2025, 2, 7, 10)
    assert cal.add_working_days(start, 4) == cst(2025, 2, 8, 10)
    assert cal.add_working_days(start, 5) == cst(2025, 2, 10, 10)
    assert cal.working_hours_between(start, cal.add_working_days(start, 5)) == 5 * cal.hours_per_day


def test_add_working_days_from_outside_working_time(cal: WorkingCalendar) -> None:
    assert cal.add_working_days(cst(2025, 3, 8, 10), 1) == cst(2025, 3, 11, 9)  # Saturday
    assert cal.add_working_days(cst(2025, 3, 7, 19), 1) == cst(2025, 3, 11, 9)  # Friday evening
    assert cal.add_working_days(cst(2025, 3, 10, 12, 30), 1) == cst(2025, 3, 11, 14)  # lunch


# ---------------------------------------------------------------- coverage and overrides


def test_outside_coverage_raises(cal: WorkingCalendar) -> None:
    for bad in (date(2023, 12, 31), date(2028, 1, 3)):
        with pytest.raises(InvalidInput, match="covers"):
            cal.is_working_day(bad)
    with pytest.raises(InvalidInput):
        cal.add_working_hours(cst(2023, 12, 29, 10), 1)
    with pytest.raises(InvalidInput):
        cal.add_working_days(cst(2027, 12, 30, 10), 5)
    with pytest.raises(InvalidInput):
        cal.working_hours_between(cst(2027, 12, 30, 10), cst(2028, 1, 4, 10))


def test_override_adds_a_year(tmp_path: Path) -> None:
    override = tmp_path / "holidays_2028.csv"
    override.write_text(
        "# operator's copy of the 2028 notice\n"
        + HEADER
        + "2028-01-01,holiday,元旦,\n2028-01-03,holiday,元旦,\n2028-01-08,workday,元旦,\n",
        encoding="utf-8",
    )
    cal = WorkingCalendar(override, working_hours="09:00-12:00,14:00-18:00")
    assert 2028 in cal.covered_years
    assert not cal.is_working_day(date(2028, 1, 3))
    assert cal.is_working_day(date(2028, 1, 4))
    assert cal.is_working_day(date(2028, 1, 8))  # Saturday made a working day
    assert cal.add_working_days(cst(2027, 12, 31, 10), 1) == cst(2028, 1, 4, 10)


def test_override_later_rows_win_and_replace_provisional_year(tmp_path: Path) -> None:
    override = tmp_path / "o.csv"
    override.write_text(
        HEADER + "2027-02-11,workday,春节,\n2027-02-11,holiday,春节,\n2027-02-14,workday,春节,\n",
        encoding="utf-8",
    )
    cal = WorkingCalendar(override, working_hours="09:00-12:00,14:00-18:00")
    assert not cal.is_working_day(date(2027, 2, 11))  # the later row won
    assert cal.is_working_day(date(2027, 2, 14))
    # The provisional 2027 guesses are gone once a real 2027 notice is supplied.
    assert cal.is_working_day(date(2027, 2, 10))
    assert not cal.is_provisional(date(2027, 6, 1))
    # Known years are merged per date, not replaced.
    assert not cal.is_working_day(date(2025, 10, 1))


def test_gap_year_raises(tmp_path: Path) -> None:
    override = tmp_path / "o.csv"
    override.write_text(HEADER + "2029-01-01,holiday,元旦,\n", encoding="utf-8")
    cal = WorkingCalendar(override, working_hours="09:00-12:00,14:00-18:00")
    assert cal.is_working_day(date(2029, 1, 2))
    with pytest.raises(InvalidInput):
        cal.add_working_days(cst(2027, 12, 30, 10), 5)  # would run through uncovered 2028


@pytest.mark.parametrize(
    "body",
    [
        "date,kind\n2028-01-01,holiday\n",
        HEADER + "2028-13-01,holiday,元旦,\n",
        HEADER + "2028-01-01,off,元旦,\n",
        HEADER + "2028-01-01,holiday,元旦,yes\n",
        "",
    ],
)
def test_bad_override_file(tmp_path: Path, body: str) -> None:
    override = tmp_path / "o.csv"
    override.write_text(body, encoding="utf-8")
    with pytest.raises(InvalidInput):
        WorkingCalendar(override, working_hours="09:00-12:00")


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="Cannot read"):
        WorkingCalendar(tmp_path / "nope.csv")


# ---------------------------------------------------------------- configuration


def test_parse_working_hours() -> None:
    us = 60_000_000
    assert parse_working_hours("09:00-12:00, 14:00-18:00") == ((540 * us, 720 * us), (840 * us, 1080 * us))
    assert parse_working_hours("14:00-18:00,09:00-14:00") == ((540 * us, 1080 * us),)
    assert parse_working_hours("00:00-24:00") == ((0, 1440 * us),)
    for bad in ("", "9-12", "09:00-08:00", "09:00-12:00,11:00-13:00", "25:00-26:00", "09:60-10:00"):
        with pytest.raises(InvalidInput):
            parse_working_hours(bad)


def test_custom_working_hours() -> None:
    cal = WorkingCalendar(working_hours="08:30-12:00,13:30-17:30")
    assert cal.hours_per_day == 7.5
    assert cal.add_working_hours(cst(2025, 3, 10, 11), 2) == cst(2025, 3, 10, 14, 30)


def test_get_calendar_uses_settings_and_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from gridgov.core.settings import get_settings

    override = tmp_path / "o.csv"
    override.write_text(HEADER + "2028-01-03,holiday,元旦,\n", encoding="utf-8")
    monkeypatch.setenv("GRIDGOV_WORKING_HOURS", "08:00-12:00")
    monkeypatch.setenv("GRIDGOV_HOLIDAYS_FILE", str(override))
    get_settings.cache_clear()
    get_calendar.cache_clear()
    try:
        cal = get_calendar()
        assert cal is get_calendar()
        assert cal.hours_per_day == 4
        assert not cal.is_working_day(date(2028, 1, 3))
    finally:
        get_settings.cache_clear()
        get_calendar.cache_clear()


# ---------------------------------------------------------------- properties

moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 6, 30)).map(
    lambda d: d.replace(tzinfo=CHINA_TZ)
)


@settings(max_examples=300, deadline=None)
@given(a=moments, h=st.floats(min_value=0, max_value=500, allow_nan=False))
def test_between_inverts_add(cal: WorkingCalendar, a: datetime, h: float) -> None:
    b = cal.add_working_hours(a, h)
    assert b >= a
    assert cal.working_hours_between(a, b) == pytest.approx(h, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(a=moments, n=st.integers(min_value=0, max_value=60))
def test_working_days_are_whole_days_of_working_time(cal: WorkingCalendar, a: datetime, n: int) -> None:
    b = cal.add_working_days(a, n)
    assert cal.working_hours_between(a, b) == pytest.approx(n * cal.hours_per_day, abs=1e-6)
    if n:
        assert cal.is_working_day(b)
