"""Loading the hierarchy: idempotent, and the loaded rows agree with the synthesis."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, func, select

from gridgov.areas.models import Community, Grid, Street
from gridgov.areas.service import area_stats, areas_loaded, load_nanshan_areas
from gridgov.areas.synthesis import nanshan_layers
from gridgov.core.db import session_factory


def test_loading_twice_gives_the_same_hierarchy(
    backend: str, empty_engine_factory: Callable[[str], Engine]
) -> None:
    engine = empty_engine_factory(backend)
    with session_factory(engine)() as session:
        assert not areas_loaded(session)
        first = load_nanshan_areas(session)
        session.commit()
        second = load_nanshan_areas(session)
        session.commit()
        assert first == second == area_stats(session)
        assert (second.streets, second.communities, second.grids) == (8, 107, 1610)
        layers = nanshan_layers()
        grid = session.get(Grid, layers.grids[0].code)
        assert grid is not None and grid.name == layers.grids[0].name and grid.synthetic
        per_street = dict(
            session.execute(select(Community.street_code, func.count()).group_by(Community.street_code)).all()
        )
        assert sum(per_street.values()) == 107
        assert set(per_street) == set(session.scalars(select(Street.code)))
