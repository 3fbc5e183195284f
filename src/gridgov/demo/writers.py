"""Byte-reproducible CSV and XLSX writers.

* **CSV**: UTF-8 *with* a byte-order mark and CRLF line ends — what Excel on a Chinese-locale
  desktop reads without garbling, and what departments' exports usually look like. Readers should
  open with ``encoding="utf-8-sig"`` (which also accepts files without a BOM).
* **XLSX**: openpyxl in write-only mode (rows stream to a temporary file), then the zip is rewritten
  with a fixed timestamp on every entry and fixed ``created``/``modified`` dates in
  ``docProps/core.xml`` (openpyxl stamps "now" at save time), so the same rows give the same bytes.
  openpyxl writes roughly 7,000 rows a second on these machines; feeds with more than
  ``XLSX_MAX_ROWS`` rows are written as CSV instead (Excel's own limit is 1,048,576 rows).
"""

from __future__ import annotations

import csv
import re
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

XLSX_MAX_ROWS = 200_000
FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = datetime(2020, 1, 1, 0, 0, 0)
_CORE_TIME = re.compile(r"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


class TableWriter:
    """Write a header and rows to CSV or XLSX; counts data rows (the header is not a row)."""

    def __init__(self, path: Path, header: Sequence[str], *, sheet: str = "Sheet1") -> None:
        self.path = path
        self.header = list(header)
        self.rows = 0
        self.kind = "xlsx" if path.suffix == ".xlsx" else "csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: Any = None
        self._csv: Any = None
        self._wb: Any = None
        self._ws: Any = None
        if self.kind == "csv":
            self._handle = path.open("w", encoding="utf-8-sig", newline="")
            self._csv = csv.writer(self._handle, lineterminator="\r\n")
            self._csv.writerow(self.header)
        else:
            from openpyxl import Workbook

            self._wb = Workbook(write_only=True)
            self._wb.properties.creator = "gridgov demo"
            self._wb.properties.created = FIXED_DOC_TIME
            self._wb.properties.modified = FIXED_DOC_TIME
            self._ws = self._wb.create_sheet(sheet)
            self._ws.append(self.header)

    def write(self, row: Sequence[Any]) -> None:
        if self._csv is not None:
            self._csv.writerow(row)
        else:
            self._ws.append(list(row))
        self.rows += 1

    def write_many(self, rows: Iterable[Sequence[Any]]) -> None:
        if self._csv is not None:
            before = self.rows
            for row in rows:
                self._csv.writerow(row)
                before += 1
            self.rows = before
        else:
            for row in rows:
                self.write(row)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._wb is not None:
            self._wb.save(self.path)
            self._wb = None
            normalise_xlsx(self.path)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def normalise_xlsx(path: Path) -> None:
    """Rewrite an XLSX zip with fixed entry timestamps and document dates (byte-reproducible)."""
    tmp = path.with_suffix(".tmp.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as target:
        stamp = FIXED_DOC_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            entry.create_system = 3
            if info.filename == "docProps/core.xml":
                text = source.read(info.filename).decode("utf-8")
                target.writestr(
                    entry, _CORE_TIME.sub(lambda m: f"{m.group(1)}{stamp}{m.group(3)}", text).encode()
                )
                continue
            # Stream the (large) sheet XML rather than holding it in memory.
            with source.open(info) as reader, target.open(entry, "w") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
    tmp.replace(path)


def table_path(directory: Path, stem: str, rows: int, *, prefer_xlsx: bool) -> Path:
    """``stem.xlsx`` when wanted and small enough for openpyxl, else ``stem.csv``."""
    if prefer_xlsx and rows <= XLSX_MAX_ROWS:
        return directory / f"{stem}.xlsx"
    return directory / f"{stem}.csv"
