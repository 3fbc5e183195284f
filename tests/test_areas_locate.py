"""Point location: anchors, boundaries, outside the district, GCJ-02, batch equals exact."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from sqlalchemy.orm import Session

from gridgov.areas.crs import wgs84_to_gcj02, wgs84_to_gcj02_array
from gridgov.areas.locate import OUTSIDE, Locator
from gridgov.areas.scope import WHOLE_DISTRICT
from gridgov.areas.service import OUTSIDE_REASON, area_index, locate_point
from gridgov.areas.synthesis import AreaLayers, nanshan_layers
from gridgov.core.errors import InvalidInput

HONG_KONG = (114.1694, 22.3193)
SHENZHEN_BAY_PARK_SEA = (113.96, 22.47)  # in the bay, south of the coast: no grid


@pytest.fixture(scope="module")
def layers() -> AreaLayers:
    return nanshan_layers()


def test_every_trusted_anchor_locates_to_its_community(session: Session, layers: AreaLayers) -> None:
    for community in layers.communities:
        if community.anchor is None or community.anchor_suspect:
            continue
        result = locate_point(session, *community.anchor, scope=WHOLE_DISTRICT)
        assert result.inside
        assert result.community is not None and result.community.code == community.code
        assert result.street is not None and result.street.code == community.parent_code
        assert result.grid is not None and result.grid.code.startswith(community.code)


def test_points_outside_the_district_are_outside_never_a_nearest_grid(session: Session) -> None:
    for lon, lat in (HONG_KONG, SHENZHEN_BAY_PARK_SEA, (113.0, 23.0), (114.05, 22.54)):  # last: Futian
        result = locate_point(session, lon, lat, scope=WHOLE_DISTRICT)
        assert not result.inside
        assert result.reason == OUTSIDE_REASON
        assert result.grid is None and result.community is None


def test_gcj02_input_is_converted_before_locating(session: Session, layers: AreaLayers) -> None:
    community = next(c for c in layers.communities if c.anchor and not c.anchor_suspect)
    assert community.anchor is not None
    gcj = wgs84_to_gcj02(*community.anchor)
    result = locate_point(session, *gcj, crs="gcj02", scope=WHOLE_DISTRICT)
    assert result.community is not None and result.community.code == community.code
    assert result.lon == pytest.approx(community.anchor[0], abs=1e-6)
    # Read as WGS84, the GCJ-02 point is ~500 m off: a different grid in a dense community.
    assert locate_point(session, *gcj, scope=WHOLE_DISTRICT).grid != result.grid


def test_unknown_crs_is_refused_clearly(session: Session) -> None:
    with pytest.raises(InvalidInput, match="wgs84"):
        locate_point(session, 113.93, 22.53, crs="bd09", scope=WHOLE_DISTRICT)


def test_points_on_and_near_a_shared_edge(layers: AreaLayers) -> None:
    locator = Locator([g.geometry for g in layers.grids])
    codes = [g.code for g in layers.grids]
    # Find two neighbouring grids and a point on their shared edge.
    a_index = 500
    a = layers.grids[a_index].geometry
    neighbours = [
        i
        for i in shapely.STRtree([g.geometry for g in layers.grids]).query(a, predicate="touches")
        if layers.grids[i].geometry.intersection(a).length > 0
    ]
    b_index = neighbours[0]
    edge = a.intersection(layers.grids[b_index].geometry)
    on_edge = edge.interpolate(0.5, normalized=True)
    # On the edge: the lower code wins, the same for the scalar and the batch path.
    expected = min(a_index, b_index)
    assert locator.locate_one(on_edge.x, on_edge.y) == expected
    assert locator.locate_many([on_edge.x], [on_edge.y])[0] == expected
    # A hair inside each side: that side's grid.
    for index in (a_index, b_index):
        inner = layers.grids[index].geometry.buffer(-1e-7)
        near = (
            inner.exterior.interpolate(inner.exterior.project(on_edge))
            if inner.geom_type == "Polygon"
            else None
        )
        if near is not None:
            assert codes[locator.locate_one(near.x, near.y)] == codes[index]


def test_batch_location_equals_exact_location(layers: AreaLayers) -> None:
    locator = Locator([g.geometry for g in layers.grids])
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = layers.district.geometry.bounds
    lons = rng.uniform(minx - 0.01, maxx + 0.01, 50_000)
    lats = rng.uniform(miny - 0.01, maxy + 0.01, 50_000)
    # Add vertices of grid polygons: the hardest points, exactly on edges and corners.
    vertices = shapely.get_coordinates(np.array([g.geometry for g in layers.grids[:200]]))
    lons = np.concatenate([lons, vertices[:, 0], [np.nan]])
    lats = np.concatenate([lats, vertices[:, 1], [np.nan]])
    batch = locator.locate_many(lons, lats)
    exact = locator.locate_exact(lons, lats)
    assert np.array_equal(batch, exact)
    assert (batch >= 0).sum() > 10_000 and (batch == OUTSIDE).sum() > 10_000


def test_area_index_batch_returns_codes_and_blank_outside(session: Session, layers: AreaLayers) -> None:
    anchors = [c for c in layers.communities if c.anchor and not c.anchor_suspect]
    lons = np.array([c.anchor[0] for c in anchors if c.anchor] + [HONG_KONG[0]])
    lats = np.array([c.anchor[1] for c in anchors if c.anchor] + [HONG_KONG[1]])
    index = area_index(session)
    codes = index.locate_many(lons, lats)
    assert [code[:12] for code in codes[:-1]] == [c.code for c in anchors]
    assert codes[-1] == ""
    gcj_lons, gcj_lats = wgs84_to_gcj02_array(lons, lats)
    assert list(index.locate_many(gcj_lons, gcj_lats, crs="gcj02")) == list(codes)
