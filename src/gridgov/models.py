"""Imports every domain's models so metadata is complete (Alembic, test schema checks)."""

from __future__ import annotations


def import_all_models() -> None:
    import gridgov.areas.models  # noqa: F401
