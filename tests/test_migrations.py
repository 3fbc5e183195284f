"""One migration chain, the same schema on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

from collections.abc import Callable

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from gridgov.core.db import Base
from gridgov.core.migrate import current_revision, downgrade, head_revision, upgrade
from gridgov.models import import_all_models


def test_upgrade_creates_the_schema_the_models_describe(
    backend: str, empty_engine_factory: Callable[[str], Engine]
) -> None:
    engine = empty_engine_factory(backend)
    assert current_revision(engine) == head_revision(engine)
    import_all_models()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    downgrade(engine, "base")
    assert "area_grid" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "area_grid" in inspect(engine).get_table_names()
    engine.dispose()
