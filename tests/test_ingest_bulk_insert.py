"""The import's set-based helpers on the driver, below SQLAlchemy's statement layer.

``bulk_insert`` (COPY on PostgreSQL, the driver's executemany on SQLite) stores what SQLAlchemy's own
INSERT stores, with the same defaults for the columns a row leaves out, inside the session's transaction.
On SQLite the stored text itself is the same (JSON, dates, times, flags); COPY writes JSON unescaped and a
missing JSON value as NULL rather than ``null``, which read back the same. ``_in`` (one array parameter)
finds what a plain ``IN`` list finds."""

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
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from gridgov.audit.models import UTCDateTime
from gridgov.ingest.service import _in, bulk_insert

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


def _created(engine: Engine, *names: str) -> list[Table]:
    """The test tables, made in ``engine``."""
    metadata = MetaData()
    tables = [_table(metadata, name) for name in names]
    metadata.create_all(engine)
    return tables


def test_bulk_insert_stores_what_an_insert_stores(
    backend: str, empty_engine_factory: Callable[[str], Engine]
) -> None:
    _calls.clear()
    engine = empty_engine_factory(backend)
    by_insert, by_bulk = _created(engine, "t_by_insert", "t_by_bulk")
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
    assert [row[-1] for row in typed[0]] == [1, 2]
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


def test_bulk_insert_rolls_back_with_the_session(
    backend: str, empty_engine_factory: Callable[[str], Engine]
) -> None:
    engine = empty_engine_factory(backend)
    [table] = _created(engine, "t_rolled_back")
    with Session(engine) as session:
        bulk_insert(session, table, [dict(row) for row in ROWS])
        assert session.scalar(select(func.count()).select_from(table)) == 2  # seen inside the transaction
        session.rollback()
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(table)) == 0


def test_in_as_one_parameter_finds_the_values_listed(
    backend: str, empty_engine_factory: Callable[[str], Engine]
) -> None:
    engine = empty_engine_factory(backend)
    [table] = _created(engine, "t_in")
    names = ["张三", "𠮷田", "李四", "王五"]  # 𠮷: beyond the basic plane (CJK Extension B)
    births = [date(1983, 6, 30), date(1990, 1, 1), None, date(2001, 12, 31)]
    with Session(engine) as session:
        session.execute(
            insert(table),
            [
                {"label": name, "born": born, "amount": float(i)}
                for i, (name, born) in enumerate(zip(names, births, strict=True))
            ],
        )
        session.commit()
        cases = [
            (table.c.label, {"𠮷田", "李四", "nobody"}, {2, 3}),
            (table.c.born, {date(1983, 6, 30), date(2001, 12, 31), None}, {1, 4}),
            (table.c.id, {1, 4, 99}, {1, 4}),
            (table.c.label, set(), set()),
            # Past the 32,766 parameters SQLite allows a plain list.
            (table.c.label, {f"n{i}" for i in range(40_000)} | {"王五"}, {4}),
        ]
        for column, values, expected in cases:
            found = set(session.scalars(select(table.c.id).where(_in(session, column, values))))
            assert found == expected, (column.name, expected)
