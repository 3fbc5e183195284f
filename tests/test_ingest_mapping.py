"""Mapping specs and feed readers (issue 6): the shipped specs read the generator's feeds, and on the
synthetic world exactly the rows the generator broke on purpose come out with problems."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from gridgov.core.clock import CHINA_TZ, FrozenClock, use_clock
from gridgov.core.errors import InvalidInput
from gridgov.demo import schema
from gridgov.ingest.mapping import builtin_specs, load_spec, map_row, parse_date
from gridgov.ingest.readers import read_rows

FEED_OF_SOURCE = {
    "population.self_declared": "population/residents_self_declared",
    "housing.rentals": "housing/rentals",
    "entities.business_register": "entities/business_register",
}
HOUSING_FEEDS = {
    "housing.buildings": [
        "std_code",
        "house_code_25",
        "street_code",
        "street_name",
        "community_code",
        "community_name",
        "grid_code",
        "road",
        "house_number",
        "site_name",
        "site_kind",
        "site_name_source",
        "building_label",
        "address",
        "building_kind",
        "building_use",
        "floors",
        "units",
        "dwellings",
        "lon",
        "lat",
    ],
    "housing.dwellings": ["dwelling_code", "std_code", "unit", "floor", "room", "use", "address"],
}
TRUTH_OF_FEED = {
    "population/residents_self_declared": "population/residents_truth.csv",
    "housing/rentals": "housing/rentals_truth.csv",
    "entities/business_register": "entities/business_register_truth.csv",
}

SMALL_SPEC = """
name: test.people
title: 测试
department: 测试部门
system: 测试系统
category: population
record: person
row_id: 编号
fields:
  name: {column: 姓名, required: true, transforms: [half_width, collapse_spaces], max_length: 8}
  id_number: {column: 证件号码, type: resident_id, on_invalid: flag}
  sex: {column: 性别, type: code, table: sex}
  born: {column: 出生日期, type: date, not_after: today}
  size: {column: 人数, type: int}
  capital: {column: 资本, type: decimal}
  tenants: {column: 承租人, type: list, item_type: resident_id}
  address: {column: 地址}
code_tables:
  sex: {男: male, 女: female, 1: male}
"""
VALID_ID = "11010519491231002X"


def test_the_shipped_specs_read_exactly_the_generators_columns() -> None:
    specs = builtin_specs()
    assert set(specs) == set(FEED_OF_SOURCE) | set(HOUSING_FEEDS)
    for name, feed in FEED_OF_SOURCE.items():
        assert sorted(specs[name].columns) == sorted(schema.headers(feed)), name
    # The housing register reads what it needs of the address library's two files.
    for name, header in HOUSING_FEEDS.items():
        assert set(specs[name].columns) <= set(header), name


def test_a_spec_must_map_what_its_record_kind_needs() -> None:
    without_address = SMALL_SPEC.replace("  address: {column: 地址}\n", "")
    with pytest.raises(InvalidInput, match="must map the fields address"):
        load_spec(without_address)


def test_values_are_typed_and_problems_name_the_column_not_the_value() -> None:
    spec = load_spec(SMALL_SPEC)
    row = map_row(
        spec,
        {
            "编号": " A1 ",
            "姓名": "王　 小明",
            "证件号码": VALID_ID.lower(),
            "性别": "1",
            "出生日期": "1949年12月31日",
            "人数": "1,024",
            "资本": "30.5",
            "承租人": f"{VALID_ID}；——",
            "地址": "南山区科技园",
        },
    )
    assert row.ok and row.flags == [] and row.row_id == "A1"
    assert row.values == {
        "address": "南山区科技园",
        "name": "王 小明",
        "id_number": VALID_ID,
        "sex": "male",
        "born": date(1949, 12, 31),
        "size": 1024,
        "capital": Decimal("30.5"),
        "tenants": [VALID_ID],
    }
    bad = map_row(
        spec,
        {
            "编号": "",
            "姓名": "N/A",
            "证件号码": "110105194912310021",
            "性别": "未知",
            "出生日期": "2024-02-30",
        },
    )
    codes = {(p.code, p.column) for p in bad.problems}
    assert codes == {
        ("missing_row_id", "编号"),
        ("missing_required", "姓名"),
        ("unknown_code", "性别"),
        ("bad_date", "出生日期"),
    }
    # The wrong check digit is kept out of values and flagged, not quarantined; nothing carries the value.
    assert [(f.code, f.field) for f in bad.flags] == [("bad_resident_id", "id_number")]
    assert bad.values["id_number"] is None
    assert "110105" not in repr(bad.problems) + repr(bad.flags)


@pytest.mark.parametrize(
    "text",
    [
        "0000-00-00",
        "2023-13-45",
        "#VALUE!",
        "45123",
        "19/02/31",
        "N/A",
        "2024-02-30",
        "00:00:00",
        "1900-01-00",
    ],
)
def test_garbage_dates_are_refused(text: str) -> None:
    spec = load_spec(SMALL_SPEC)
    row = map_row(spec, {"编号": "1", "姓名": "李华", "出生日期": text})
    if text == "N/A":
        assert row.ok and row.values["born"] is None  # a blank marker is an empty cell, not a date
    else:
        assert [p.code for p in row.problems] == ["bad_date"]


def test_dates_in_the_future_are_refused_where_the_spec_says_so() -> None:
    assert parse_date("2026/1/5") == date(2026, 1, 5)
    assert parse_date("20260105") == date(2026, 1, 5)
    with use_clock(FrozenClock(datetime(2026, 1, 1, tzinfo=CHINA_TZ))):
        row = map_row(load_spec(SMALL_SPEC), {"编号": "1", "姓名": "李华", "出生日期": "2026-01-05"})
    assert [p.code for p in row.problems] == ["date_in_future"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [", "not valid YAML"),
        ("- a\n- b", "YAML mapping"),
        (SMALL_SPEC.replace("table: sex", "table: gender"), "code table 'gender'"),
        (SMALL_SPEC.replace("type: int", "type: integer"), "fields.size.type"),
        (SMALL_SPEC.replace("name: test.people", "name: Test People"), "name"),
        (SMALL_SPEC.replace("row_id: 编号\n", ""), "row_id"),
    ],
)
def test_a_wrong_spec_is_refused_with_where(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_spec(text)


def test_readers_csv_gb18030_xlsx_and_jsonl(tmp_path: Path) -> None:
    csv_path = tmp_path / "feed.csv"
    csv_path.write_bytes("编号,姓名\n1,王小明\n\n2,李华,多余\n3\n".encode("gb18030"))
    rows = list(read_rows(csv_path))
    assert [(r.number, r.cells.get("姓名")) for r in rows] == [(1, "王小明"), (3, "李华"), (4, None)]
    assert [p.code for r in rows for p in r.problems] == ["wrong_column_count", "wrong_column_count"]
    assert rows[1].raw == ["2", "李华", "多余"]

    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "出生日期"])
    sheet.append(["1", datetime(1990, 5, 1)])
    sheet.append(["2", "1990-05-02", "stray"])
    xlsx_path = tmp_path / "feed.xlsx"
    book.save(xlsx_path)
    rows = list(read_rows(xlsx_path))
    assert rows[0].cells == {"编号": "1", "出生日期": "1990-05-01"} and rows[0].problems == []
    assert [p.code for p in rows[1].problems] == ["wrong_column_count"]

    jsonl_path = tmp_path / "feed.jsonl"
    jsonl_path.write_text('{"编号": 1, "姓名": "王小明"}\nnot json\n[1]\n', encoding="utf-8")
    rows = list(read_rows(jsonl_path))
    assert rows[0].cells == {"编号": "1", "姓名": "王小明"}
    assert [p.code for r in rows[1:] for p in r.problems] == ["bad_json", "bad_json"]
    with pytest.raises(InvalidInput, match="format"):
        list(read_rows(tmp_path / "feed.dat"))


@pytest.mark.parametrize("source", sorted(FEED_OF_SOURCE))
def test_on_the_world_exactly_the_planted_broken_rows_have_problems(demo_world: Path, source: str) -> None:
    spec = builtin_specs()[source]
    feed = FEED_OF_SOURCE[source]
    manifest_files = sorted((demo_world / feed.split("/")[0]).glob(feed.split("/")[1] + ".*"))
    [path] = [p for p in manifest_files if p.suffix in (".csv", ".xlsx")]
    with (demo_world / TRUTH_OF_FEED[feed]).open(encoding="utf-8-sig") as handle:
        broken = {row["record_id"]: row["broken"] for row in csv.DictReader(handle)}
    problem_rows: dict[str, list[str]] = {}
    clean_rows = 0
    rows = list(read_rows(path))
    for number, raw in enumerate(rows, start=1):
        mapped = map_row(spec, raw.cells, problems=raw.problems)
        if mapped.problems:
            key = mapped.row_id or f"#{number}"
            problem_rows[key] = [p.code for p in mapped.problems]
        else:
            clean_rows += 1
    planted = {record for record, kind in broken.items() if kind}
    assert len(rows) == len(broken)
    # Every planted row is caught; no row the generator left intact is refused.
    missed = planted - set(problem_rows)
    refused_intact = {record for record in problem_rows if record in broken and not broken[record]}
    assert not refused_intact, {r: problem_rows[r] for r in sorted(refused_intact)[:5]}
    assert not missed, sorted(missed)[:5]
    assert clean_rows + len(problem_rows) == len(rows)
