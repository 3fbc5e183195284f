"""Reading XLSX workbooks that came from outside, safely: every XLSX reader opens its workbook here.

An XLSX file is a zip of XML parts, and two cheap tricks make a small file cost a server dearly:

- **A decompression bomb**: a part that unpacks to hundreds of MB from a few hundred KB (a shared-strings
  table of one long string repeated, say — openpyxl keeps the whole table in memory). ``check_archive``
  reads only the zip's directory (the declared sizes: Python's zip reader never unpacks more than a
  member declares) and refuses, before anything is parsed, a workbook whose parts unpack to more than
  ``xlsx_max_unpacked_bytes`` in all, or a part bigger than 1 MB that unpacks to more than
  ``xlsx_max_ratio`` times its packed size ("解压后过大", with the numbers).
- **A lying dimension**: ``<dimension ref="A1:XFD20000"/>`` makes openpyxl's read-only mode pad every row
  to 16,384 cells. ``open_sheet`` resets the dimensions, so rows are only as long as the cells they
  hold, and readers cut them to the header's width.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridgov.core.errors import InvalidInput
from gridgov.core.settings import get_settings

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

__all__ = [
    "MAX_EXTRA_SHOWN",
    "RATIO_FLOOR_BYTES",
    "TooLargeUnpacked",
    "check_archive",
    "open_workbook",
    "sheet_rows",
    "split_row",
]

# A part smaller than this is never refused for its ratio: small XML parts compress very well.
RATIO_FLOOR_BYTES = 1024 * 1024
# How many cells beyond the header a reader keeps to show a person what arrived in a too-long row.
MAX_EXTRA_SHOWN = 64


class TooLargeUnpacked(InvalidInput):
    """A workbook whose parts unpack to too much (a zip bomb), refused before it is parsed."""

    code = "xlsx_too_large_unpacked"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def check_archive(path: Path, *, name: str | None = None) -> None:
    """Refuse (``InvalidInput``) a file that is not a zip with a workbook in it, and (``TooLargeUnpacked``)
    one whose parts would unpack to too much. Reads the zip's directory only: bounded work for any file."""
    shown = name or path.name
    settings = get_settings()
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InvalidInput(f"'{shown}' is not a readable XLSX workbook (not a zip archive)") from None
    if not any(member.filename == "xl/workbook.xml" for member in members):
        raise InvalidInput(f"'{shown}' is not a readable XLSX workbook (no xl/workbook.xml)")
    total = sum(member.file_size for member in members)
    if total > settings.xlsx_max_unpacked_bytes:
        raise TooLargeUnpacked(
            f"'{shown}' 解压后过大：{len(members)} 个部件共 {total:,} 字节（{_mb(total)}），上限 "
            f"{settings.xlsx_max_unpacked_bytes:,} 字节 / too large when unpacked: {total:,} bytes, "
            f"the limit is {settings.xlsx_max_unpacked_bytes:,}"
        )
    for member in members:
        if (
            member.filename.lower().endswith("sharedstrings.xml")
            and member.file_size > settings.xlsx_max_shared_strings_bytes
        ):
            raise TooLargeUnpacked(
                f"'{shown}' 解压后过大：共享字符串表 {member.filename} 解压后 {member.file_size:,} 字节"
                f"（{_mb(member.file_size)}），上限 {settings.xlsx_max_shared_strings_bytes:,} 字节 / "
                f"too large when unpacked: the shared strings are {member.file_size:,} bytes, the limit is "
                f"{settings.xlsx_max_shared_strings_bytes:,}"
            )
        if member.file_size <= RATIO_FLOOR_BYTES:
            continue
        ratio = member.file_size / max(member.compress_size, 1)
        if ratio > settings.xlsx_max_ratio:
            raise TooLargeUnpacked(
                f"'{shown}' 解压后过大：{member.filename} 压缩 {member.compress_size:,} 字节，解压后 "
                f"{member.file_size:,} 字节（{_mb(member.file_size)}，{ratio:,.0f} 倍，上限 "
                f"{settings.xlsx_max_ratio:g} 倍） / too large when unpacked: {member.filename} is "
                f"{member.compress_size:,} bytes packed and {member.file_size:,} unpacked ({ratio:,.0f}×, "
                f"the limit is {settings.xlsx_max_ratio:g}×)"
            )


def open_workbook(path: Path, *, name: str | None = None) -> Workbook:
    """The workbook in read-only mode, values only, after ``check_archive``. Close it when done."""
    from openpyxl import load_workbook

    check_archive(path, name=name)
    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several kinds for a file that is not a workbook
        raise InvalidInput(
            f"'{name or path.name}' is not a readable XLSX workbook ({type(exc).__name__})"
        ) from None


def sheet_rows(workbook: Workbook, sheet: str | None = None) -> Iterator[tuple[Any, ...]]:
    """The rows of a sheet (the first, or the one named) as value tuples, never padded to the declared
    dimension: each is as long as the cells it holds (trailing empty cells may be missing)."""
    worksheet: Any = workbook[sheet] if sheet else workbook.worksheets[0]
    ro: ReadOnlyWorksheet = worksheet
    ro.reset_dimensions()  # the file's <dimension> is not trusted: rows are not padded to it
    rows: Iterator[tuple[Any, ...]] = ro.iter_rows(values_only=True)
    return rows


def split_row(values: tuple[Any, ...], width: int) -> tuple[tuple[Any, ...], bool]:
    """(the row's first ``width`` values, whether any value beyond them is not empty). A row padded far
    beyond the header (a cell in column XFD) is judged at C speed: no Python work per empty cell."""
    head, tail = values[:width], values[width:]
    if not tail or tail.count(None) == len(tail):
        return head, False
    return head, any(value is not None and str(value).strip() for value in tail)
