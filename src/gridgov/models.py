"""Imports every domain's models so metadata is complete (Alembic, test schema checks)."""

from __future__ import annotations


def import_all_models() -> None:
    import gridgov.accounts.models
    import gridgov.address.models
    import gridgov.areas.models
    import gridgov.audit.models
    import gridgov.events.models
    import gridgov.ingest.models
    import gridgov.registry.models
    import gridgov.tasks.models  # noqa: F401
