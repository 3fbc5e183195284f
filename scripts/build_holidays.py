"""Build ``src/gridgov/core/data/holidays_cn.csv``: Chinese public holidays and adjusted working days.

# NOTE: 2027 is PROVISIONAL until the State Council announces its holiday arrangement (usually in
# November of the year before); its rows carry provisional=1 and must be regenerated or overridden then.

Rows (one per date): ``date,kind,name,provisional``

- ``kind=holiday``: a day off (statutory holiday, a weekend inside a holiday block, or a swapped day off);
- ``kind=workday``: an adjusted working day (调休) that falls on a Saturday or Sunday;
- ``name``: the festival, in the names of the 全国年节及纪念日放假办法 (元旦, 春节, 清明节, ...);
- ``provisional``: ``1`` when the State Council has not announced the year yet, else empty.

2024–2026 come from the ``chinesecalendar`` package (import name ``chinese_calendar``), which carries the
State Council notices. 2027 is not announced yet, so it is derived from the 放假办法 as revised in 2024
(in force since 2025) and the 2027 lunar calendar:

- 元旦 2027-01-01 (Fri);
- 春节 = 除夕 + 正月初一..初三. 正月初一 is 2027-02-06 (Sat); 腊月 of 丙午 year has 29 days, so 除夕 is
  腊月廿九 = 2027-02-05 (Fri): Feb 5–8;
- 清明节 = the 清明 solar term, 2027-04-05 (Mon);
- 劳动节 May 1–2 (Sat, Sun);
- 端午节 = 五月初五 = 2027-06-09 (Wed) (丁未 year has no leap month, so no ambiguity);
- 中秋节 = 八月十五 = 2027-09-15 (Wed);
- 国庆节 Oct 1–3 (Fri–Sun).

Article 6 of the 办法 says a statutory holiday falling on a Saturday or Sunday is made up on a working day
(补假), so each such day adds the next weekday after its block as a provisional holiday (Feb 9–10,
May 3–4, Oct 4–5). The 调休 working weekends cannot be known before the announcement and are left out.

Run: ``python scripts/build_holidays.py`` (needs ``chinesecalendar``; no network).
"""

from __future__ import annotations

import csv
import sys
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar

OUT = Path(__file__).resolve().parents[1] / "src" / "gridgov" / "core" / "data" / "holidays_cn.csv"
FIRST_YEAR, LAST_KNOWN_YEAR = 2024, 2026

# chinese_calendar stores English names; the CSV uses the names of the national 放假办法.
NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
}

# Statutory days of 2027, one block per festival (see the module docstring for the lunar dates).
STATUTORY_2027: dict[str, list[date]] = {
    "元旦": [date(2027, 1, 1)],
    "春节": [date(2027, 2, 5) + timedelta(days=i) for i in range(4)],
    "清明节": [date(2027, 4, 5)],
    "劳动节": [date(2027, 5, 1), date(2027, 5, 2)],
    "端午节": [date(2027, 6, 9)],
    "中秋节": [date(2027, 9, 15)],
    "国庆节": [date(2027, 10, 1) + timedelta(days=i) for i in range(3)],
}

Row = tuple[date, str, str, str]


def known_rows() -> list[Row]:
    rows: list[Row] = []
    day = date(FIRST_YEAR, 1, 1)
    while day <= date(LAST_KNOWN_YEAR, 12, 31):
        # The package's own tables tell which dates are listed; is_holiday alone would also flag weekends.
        if day in chinese_calendar.holidays:
            rows.append((day, "holiday", NAMES[chinese_calendar.holidays[day]], ""))
        elif day in chinese_calendar.workdays:
            rows.append((day, "workday", NAMES[chinese_calendar.workdays[day]], ""))
        day += timedelta(days=1)
    return rows


def provisional_2027() -> list[Row]:
    taken = {d for days in STATUTORY_2027.values() for d in days}
    rows: list[Row] = []
    for name, days in STATUTORY_2027.items():
        rows.extend((d, "holiday", name, "1") for d in days)
        # 补假: one weekday off after the block for each statutory day that fell on a weekend.
        owed = sum(1 for d in days if d.weekday() >= 5)
        cursor = max(days)
        while owed:
            cursor += timedelta(days=1)
            if cursor.weekday() < 5 and cursor not in taken:
                rows.append((cursor, "holiday", name, "1"))
                taken.add(cursor)
                owed -= 1
    return sorted(rows)


def main() -> int:
    rows = known_rows() + provisional_2027()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["date", "kind", "name", "provisional"])
        writer.writerows((d.isoformat(), kind, name, prov) for d, kind, name, prov in rows)
    print(f"wrote {len(rows)} rows to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
