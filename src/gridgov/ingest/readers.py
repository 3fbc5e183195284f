"""Feed files → raw rows (header → cell text), each with its row number and what the reader found wrong.

CSV (UTF-8 with or without BOM, else GB18030, as Chinese Excel saves it), XLSX (the first sheet, or the
one named) and JSON Lines. A CSV row with more or fewer fields than the header is not guessed at: it is
returned with a ``wrong_column_count`` problem and its cells as far as they go, so the quarantine shows
the person what arrived.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gridgov.core import jsonbody
from gridgov.core.errors import InvalidInput
from gridgov.core.xlsx import MAX_EXTRA_SHOWN, open_workbook, sheet_rows, split_row
from gridgov.ingest.mapping import Problem, parse_cell_datetime

FORMATS = ("csv", "xlsx", "jsonl")


@dataclass
class RawRow:
    number: int  # 1-based data row (the header is row 0), as a person counts rows below the header
    cells: dict[str, str | None]
    problems: list[Problem] = field(default_factory=list)
    raw: list[str | None] | None = None  # the fields as read, when they did not fit the header


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "txt"):
        return "csv"
    if suffix in ("xlsx", "xlsm"):
        return "xlsx"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    raise InvalidInput(f"Cannot tell the format of '{path.name}': use .csv, .xlsx or .jsonl, or say --format")


def read_rows(path: Path, file_format: str | None = None, *, sheet: str | None = None) -> Iterator[RawRow]:
    kind = file_format or detect_format(path)
    if kind == "csv":
        return _csv_rows(path)
    if kind == "xlsx":
        return _xlsx_rows(path, sheet)
    if kind == "jsonl":
        return _jsonl_rows(path)
    raise InvalidInput(f"Unknown format '{kind}': one of {', '.join(FORMATS)}")


def _decode(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(
        f"'{name}' is neither UTF-8 nor GB18030 text"
    )  # pragma: no cover - gb18030 decodes most


def _csv_rows(path: Path) -> Iterator[RawRow]:
    text = _decode(path.read_bytes(), path.name)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        raise InvalidInput(f"'{path.name}' is empty: no header row")
    header = [name.strip() for name in header]
    for number, fields in enumerate(reader, start=1):
        if not any(value.strip() for value in fields):
            continue  # a blank line is not a record
        if len(fields) != len(header):
            yield RawRow(
                number,
                dict(zip(header, fields, strict=False)),
                [Problem("wrong_column_count", detail=f"{len(fields)} fields, the header has {len(header)}")],
                raw=list(fields),
            )
            continue
        yield RawRow(number, dict(zip(header, fields, strict=True)))


def _xlsx_rows(path: Path, sheet: str | None) -> Iterator[RawRow]:
    # The archive is checked first (a zip bomb is refused before parsing) and the sheet's declared
    # dimension is ignored: a row is as long as the cells it holds, cut to the header's width.
    workbook = open_workbook(path)
    try:
        rows = sheet_rows(workbook, sheet)
        first = next(rows, None)
        if first is None:
            raise InvalidInput(f"'{path.name}' is empty: no header row")
        header = [str(value).strip() for value in first if value is not None]
        width = len(header)
        for number, values in enumerate(rows, start=1):
            head, extra = split_row(values, width)
            cells = [parse_cell_datetime(value) for value in head]
            cells += [None] * (width - len(cells))  # a row ends at its last cell: pad to the header
            if not extra and not any((cell or "").strip() for cell in cells):
                continue
            row = RawRow(number, dict(zip(header, cells, strict=False)))
            if extra:
                row.problems.append(
                    Problem("wrong_column_count", detail=f"values beyond the {width} header columns")
                )
                row.raw = [parse_cell_datetime(value) for value in values[: width + MAX_EXTRA_SHOWN]]
            yield row
    finally:
        workbook.close()


def _jsonl_rows(path: Path) -> Iterator[RawRow]:
    # Line by line (one line in memory, whatever the file's size); a line that is not UTF-8 is read as
    # GB18030, as a whole file would be.
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            if number == 1:
                data = data.removeprefix(b"\xef\xbb\xbf")
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError:
                line = data.decode("gb18030", errors="replace")
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            try:
                value = jsonbody.loads(line)
            except (json.JSONDecodeError, jsonbody.TooDeeplyNested, RecursionError):
                yield RawRow(number, {}, [Problem("bad_json", detail="the line is not JSON")], raw=[line])
                continue
            if not isinstance(value, dict):
                yield RawRow(
                    number, {}, [Problem("bad_json", detail="the line is not a JSON object")], raw=[line]
                )
                continue
            yield RawRow(number, {str(k): None if v is None else str(v) for k, v in value.items()})
