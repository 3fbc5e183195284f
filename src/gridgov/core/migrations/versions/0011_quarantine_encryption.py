"""quarantined rows' cells encrypted at rest: each row's cells (resident IDs and phones as they arrived)
become one AES-GCM token (context ``ingest_quarantine.cells``) in the same JSON column

Revision ID: 0011
Revises: 0010_abuse_controls
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011_quarantine_encryption"
down_revision = "0010_abuse_controls"
branch_labels = None
depends_on = None

CONTEXT = "ingest_quarantine.cells"
BATCH = 2000


def _rows(connection: sa.Connection, last: int) -> list[tuple[int, Any]]:
    return [
        (int(row_id), cells)
        for row_id, cells in connection.execute(
            sa.text("SELECT id, cells FROM ingest_quarantine WHERE id > :last ORDER BY id LIMIT :limit"),
            {"last": last, "limit": BATCH},
        )
    ]


def _value(cells: Any) -> Any:
    """The stored JSON value (PostgreSQL's driver decodes it; SQLite gives the text)."""
    return json.loads(cells) if isinstance(cells, str) else cells


def _rewrite(change: Any) -> None:
    connection = op.get_bind()
    update = sa.text("UPDATE ingest_quarantine SET cells = :cells WHERE id = :id").bindparams(
        sa.bindparam("cells", type_=sa.JSON())
    )
    last = 0
    while rows := _rows(connection, last):
        last = rows[-1][0]
        changed = [
            {"id": row_id, "cells": new}
            for row_id, cells in rows
            if (new := change(_value(cells))) is not None
        ]
        if changed:
            connection.execute(update, changed)


def upgrade() -> None:
    from gridgov.core import crypto

    def seal(value: Any) -> str | None:
        if not isinstance(value, dict):
            return None  # already a token
        return crypto.encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")), CONTEXT)

    _rewrite(seal)


def downgrade() -> None:
    from gridgov.core import crypto

    def unseal(value: Any) -> dict[str, Any] | None:
        if not isinstance(value, str):
            return None
        opened = json.loads(crypto.decrypt(value, CONTEXT))
        return opened if isinstance(opened, dict) else {}

    _rewrite(unseal)
