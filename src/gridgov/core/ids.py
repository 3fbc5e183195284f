"""The type of a row id in a route: a positive 64-bit integer, checked when the request is validated.

Every table's id is a signed 64-bit integer at most (``BIGINT`` on PostgreSQL, ``INTEGER`` on SQLite); a
larger number in a path or a query cannot name a row, and reaching the database with it fails with an
overflow (a 500). ``RowId`` (path) and ``OptionalRowId`` (query) answer it with the uniform 422 instead.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Path, Query

#: The largest id a table can hold (a signed 64-bit integer).
MAX_ROW_ID: Final = 2**63 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
OptionalRowId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
