"""Alembic environment: uses the engine handed over by gridgov.core.migrate, or the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from gridgov.core.db import Base, make_engine
from gridgov.models import import_all_models

import_all_models()
target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    engine: Engine | None = config.attributes.get("engine")
    if engine is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations_online()
