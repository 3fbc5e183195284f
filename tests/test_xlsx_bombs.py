"""XLSX from outside is read safely (core/xlsx.py): a workbook whose parts unpack to far more than they
pack (a zip bomb) is refused before it is parsed, with "解压后过大" and the numbers, in the upload request
and in every reader; a sheet's declared dimension is not trusted (rows are not padded to it)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from gridgov.core.errors import InvalidInput
from test_ingest_sources import ENTITY_COLUMNS, entity_spec, unique_name

BOMB_TEXT_BYTES = 8 * 1024 * 1024  # one shared string of 8 MB of one letter: packs to a few KB


def workbook(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def rewrite(path: Path, member: str, change: callable) -> Path:  # type: ignore[valid-type]
    """Copy the zip with one member's text changed."""
    out = path.with_name("x-" + path.name)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == member:
                data = change(data.decode()).encode()  # type: ignore[misc]
            target.writestr(info.filename, data)
    return out


CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="xl/workbook.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    "</Relationships>"
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
    '<Relationship Id="rId2" Target="sharedStrings.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"/>'
    "</Relationships>"
)
# Two rows: the header (shared strings 0 and 1) and one data row (2 and 3).
SHEET = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
    '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row>'
    "</sheetData></worksheet>"
)


def shared_strings_bomb(tmp_path: Path) -> Path:
    """A workbook built by hand whose shared-strings table holds one string of 8 MB of one letter: the file
    is a few KB, and openpyxl keeps the whole table in memory while it reads."""
    strings = ["序号", "地址", "1", "A" * BOMB_TEXT_BYTES]
    table = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="4" uniqueCount="4">'
        + "".join(f"<si><t>{text}</t></si>" for text in strings)
        + "</sst>"
    )
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", SHEET)
        archive.writestr("xl/sharedStrings.xml", table)
    return path


def dimension_bomb(tmp_path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path = workbook(tmp_path / "dims.xlsx", [header, *rows])
    return rewrite(
        path,
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1:XFD20000"/>', xml),
    )


def test_a_shared_strings_bomb_is_refused_by_every_reader_with_the_numbers(tmp_path: Path) -> None:
    from gridgov.address import batch as address_batch
    from gridgov.address import service as address_service
    from gridgov.ingest.readers import read_rows

    bomb = shared_strings_bomb(tmp_path)
    assert bomb.stat().st_size < 100_000
    with zipfile.ZipFile(bomb) as archive:
        unpacked = archive.getinfo("xl/sharedStrings.xml").file_size
    assert unpacked > BOMB_TEXT_BYTES
    shown = f"{unpacked:,}"
    with pytest.raises(InvalidInput, match="解压后过大") as refused:
        list(read_rows(bomb))
    assert shown in refused.value.message and "sharedStrings" in refused.value.message
    with pytest.raises(InvalidInput, match="解压后过大"):
        address_service.read_rows(bomb, "xlsx")
    with pytest.raises(InvalidInput, match="解压后过大"):
        address_batch._open_xlsx(bomb, "地址")


def test_a_bomb_upload_is_refused_in_the_request(client: TestClient, tmp_path: Path) -> None:
    name = unique_name("bomb")
    assert client.post("/api/ingest/sources", json={"spec": entity_spec(name)}).status_code == 201
    bomb = shared_strings_bomb(tmp_path)
    response = client.post(
        "/api/ingest/uploads",
        data={"source": name},
        files={"file": ("bomb.xlsx", bomb.read_bytes(), "application/octet-stream")},
    )
    assert response.status_code == 422, response.text
    assert "解压后过大" in response.json()["error"]["message"]
    assert client.get("/api/ingest/batches", params={"source": name}).json() == []  # no batch opened


def test_the_unpacked_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gridgov.core.settings import get_settings
    from gridgov.ingest.readers import read_rows

    path = workbook(tmp_path / "small.xlsx", [["序号", "地址"], ["1", "南山区科技园" * 100]])
    assert [raw.cells for raw in read_rows(path)] == [{"序号": "1", "地址": "南山区科技园" * 100}]
    monkeypatch.setenv("GRIDGOV_XLSX_MAX_UNPACKED_BYTES", "1000")
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidInput, match="解压后过大"):
            list(read_rows(path))
    finally:
        monkeypatch.delenv("GRIDGOV_XLSX_MAX_UNPACKED_BYTES")
        get_settings.cache_clear()


def test_a_declared_dimension_does_not_pad_rows(tmp_path: Path) -> None:
    """A sheet that declares A1:XFD20000 is read with the cells it holds: the row that has one value
    beyond the header shows the header's width plus that one cell, not 16,384 cells."""
    from gridgov.address import batch as address_batch
    from gridgov.ingest.readers import read_rows

    header = ENTITY_COLUMNS[:3]
    path = dimension_bomb(tmp_path, header, [["1", "A", "甲"], ["2", "B", "乙", "多出来的"]])
    rows = list(read_rows(path))
    assert [raw.cells for raw in rows] == [
        {"序号": "1", "统一社会信用代码": "A", "主体名称": "甲"},
        {"序号": "2", "统一社会信用代码": "B", "主体名称": "乙"},
    ]
    assert rows[0].raw is None and not rows[0].problems
    assert [p.code for p in rows[1].problems] == ["wrong_column_count"]
    assert rows[1].raw == ["2", "B", "乙", "多出来的"]
    job, chunks, _total = address_batch._open_xlsx(path, "主体名称")
    assert [cells for chunk in chunks for _line, cells in chunk.rows] == [
        ["1", "A", "甲"],
        ["2", "B", "乙"],
    ]
    assert job.header == tuple(header)
