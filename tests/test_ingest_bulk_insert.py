"""``ingest.service.bulk_insert`` (COPY on PostgreSQL, the driver's executemany on SQLite) stores what
SQLAlchemy's own INSERT stores, with the same defaults for the columns a row leaves out. On SQLite the
stored text itself is the same (JSON, dates, times, flags); COPY writes JSON unescaped and a missing
JSON value as NULL rather than ``null``, which read back the same."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    cast,
    insert,
    select,
)
from sqlalchemy.orm import Session

from gridgov.audit.models import UTCDateTime
from gridgov.ingest.service import bulk_insert

_calls: list[int] = []


def _serial() -> int:
    _calls.append(1)
    return len(_calls)


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("label", String(64)),
        Column("cells", JSON, nullable=True),
        Column("born", Date, nullable=True),
        Column("at", UTCDateTime(), nullable=True),
        Column("flag", Boolean, nullable=True),
        Column("amount", Float, nullable=True),
        Column("capital", Numeric(12, 2), nullable=True),
        Column("status", String(16), default="open"),
        Column("serial", Integer, default=_serial),
    )


# The same keys in every row, as the pipeline gives them (SQLAlchemy's executemany takes the first row's).
ROWS: list[dict[str, Any]] = [
    {
        "label": "张三",
        "cells": {"姓名": "张三", "problems": [{"code": "bad_id", "detail": None}], "n": 3},
        "born": date(1983, 6, 30),
        "at": datetime(2026, 11, 28, 7, 5, 9, 123456, tzinfo=UTC),
        "flag": True,
        "amount": 0.875,
        "capital": Decimal("1234.50"),
    },
    {
        "label": "空值",
        "cells": None,
        "born": None,
        "at": None,
        "flag": False,
        "amount": None,
        "capital": None,
    },
]


def test_bulk_insert_stores_what_an_insert_stores(
    backend: str, empty_engine_factory: Callable[[str], Engine]
) -> None:
    engine = empty_engine_factory(backend)
    metadata = MetaData()
    by_insert, by_bulk = _table(metadata, "t_by_insert"), _table(metadata, "t_by_bulk")
    metadata.create_all(engine)
    with Session(engine) as session:
        session.execute(insert(by_insert), [dict(row) for row in ROWS])
        bulk_insert(session, by_bulk, [dict(row) for row in ROWS])
        session.commit()
    with Session(engine) as session:
        typed = [
            [tuple(row) for row in session.execute(select(table).order_by(table.c.id))]
            for table in (by_insert, by_bulk)
        ]
        # As stored: every column read back as text, so a different serialisation would show.
        stored = [
            [
                tuple(row)
                for row in session.execute(
                    select(*(cast(c, String) for c in table.columns if c.name != "serial")).order_by(
                        table.c.id
                    )
                )
            ]
            for table in (by_insert, by_bulk)
        ]
    if backend == "sqlite":
        assert stored[0] == stored[1]
    # The callable default was called once per row on each path; everything else reads back the same.
    assert [row[:-1] for row in typed[0]] == [row[:-1] for row in typed[1]]
    assert [row[-1] for row in typed[1]] == [3, 4]
    assert typed[1][0][1:9] == (
        "张三",
        ROWS[0]["cells"],
        date(1983, 6, 30),
        datetime(2026, 11, 28, 7, 5, 9, 123456, tzinfo=UTC),
        True,
        0.875,
        Decimal("1234.50"),
        "open",
    )
    assert typed[1][1][1:9] == ("空值", None, None, None, False, None, None, "open")
