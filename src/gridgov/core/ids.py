"""The type of a row id in a route: a positive integer a table's id column can hold, checked when the
request is validated.

Our id columns are ``Integer``: 32 bits on PostgreSQL (at most 2^31 − 1), 64 on SQLite. A larger number in a
path, a query or a body cannot name a row, and reaching the database with it fails with an overflow (a 500:
``OverflowError`` on SQLite at 2^63, ``integer out of range`` on PostgreSQL at 2^31). ``RowId`` (path) and
``OptionalRowId`` (query) — and ``MAX_ROW_ID`` as the bound of other integer inputs that meet an
``Integer`` column — answer it with the uniform 422 instead.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Path, Query

#: The largest value an ``Integer`` column holds on every backend (PostgreSQL's 32-bit ``integer``).
MAX_ROW_ID: Final = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
OptionalRowId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
