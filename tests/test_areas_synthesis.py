"""The synthetic hierarchy: real codes, exact tiling, contiguity, anchors, density-sized grids, numbering."""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from gridgov.areas.synthesis import (
    DATA_DIR,
    GRID_TOTAL,
    AreaLayers,
    allocate_grids,
    area_km2,
    geometry_to_metres,
    layers_from_geojson,
    layers_to_geojson,
    nanshan_layers,
    number_grids,
)


@pytest.fixture(scope="module")
def layers() -> AreaLayers:
    return nanshan_layers()


def test_counts_and_codes_come_from_the_national_division_list(layers: AreaLayers) -> None:
    with (DATA_DIR / "divisions.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    streets = {r["code"] for r in rows if r["level"] == "street" and r["code"] != "440305400000"}
    communities = {
        r["code"] for r in rows if r["level"] == "community" and r["parent_code"] != "440305400000"
    }
    assert layers.district.code == "440305000000"
    assert {s.code for s in layers.streets} == streets
    assert len(streets) == 8
    assert {c.code for c in layers.communities} == communities
    assert len(communities) == 107
    assert len(layers.grids) == GRID_TOTAL == 1610
    assert all("前海合作区" not in a.name for a in [*layers.streets, *layers.communities])


def test_grid_codes_are_community_code_plus_three_digit_sequence(layers: AreaLayers) -> None:
    by_community: dict[str, list[int]] = defaultdict(list)
    for grid in layers.grids:
        assert len(grid.code) == 15 and grid.code.isdigit()
        assert grid.code[:12] == grid.parent_code
        assert int(grid.code[12:]) == grid.sequence
        by_community[grid.parent_code].append(grid.sequence)
    for sequences in by_community.values():
        assert sorted(sequences) == list(range(1, len(sequences) + 1))
    assert set(by_community) == {c.code for c in layers.communities}


def test_grids_are_numbered_north_to_south_then_west_to_east(layers: AreaLayers) -> None:
    for community in layers.communities:
        grids = sorted((g for g in layers.grids if g.parent_code == community.code), key=lambda g: g.sequence)
        metric = [geometry_to_metres(g.geometry) for g in grids]
        xs = np.array([m.centroid.x for m in metric])
        ys = np.array([m.centroid.y for m in metric])
        band = float(np.sqrt(np.mean([m.area for m in metric])))  # rows are one grid-width tall
        # North to south: no grid lies a whole row north of a grid numbered before it.
        for i in range(len(grids)):
            assert np.all(ys[i + 1 :] < ys[i] + band), community.code
        # West to east along the top row: grids clearly in it (1% margin for rounding) come before grids
        # clearly below it, in order of longitude.
        depth = ys.max() - ys
        top = np.flatnonzero(depth < band * 0.99)
        below = np.flatnonzero(depth > band * 1.01)
        assert below.size == 0 or top.max() < below.min(), community.code
        assert np.all(np.diff(xs[top]) > -1e-6), community.code


def test_number_grids_reads_rows_west_to_east() -> None:
    # Two rows of three, given shuffled: numbers go along the top row first, west to east.
    centroids = [(2.0, 10.0), (0.0, 0.0), (1.0, 10.0), (2.0, 0.0), (0.0, 10.0), (1.0, 0.0)]
    assert number_grids(centroids, band_m=5.0) == [3, 4, 2, 6, 1, 5]


def test_grids_tile_their_community_without_gaps_or_overlaps(layers: AreaLayers) -> None:
    grids_of: dict[str, list[shapely.Geometry]] = defaultdict(list)
    for grid in layers.grids:
        assert grid.geometry.is_valid and not grid.geometry.is_empty
        grids_of[grid.parent_code].append(grid.geometry)
    for community in layers.communities:
        pieces = grids_of[community.code]
        total = sum(area_km2(p) for p in pieces)
        assert total == pytest.approx(area_km2(community.geometry), rel=1e-3)
        # No gaps: the union of the grids covers the community.
        union = shapely.union_all(pieces)
        assert area_km2(community.geometry.difference(union)) < 1e-4
    geometries = np.array([g.geometry for g in layers.grids])
    left, right = shapely.STRtree(geometries).query(geometries, predicate="overlaps")
    overlap = sum(
        area_km2(geometries[a].intersection(geometries[b])) for a, b in zip(left, right, strict=True) if a < b
    )
    assert overlap < 1e-4  # km²: at most slivers of floating-point noise


def test_streets_and_communities_tile_the_real_outline(layers: AreaLayers) -> None:
    district = area_km2(layers.district.geometry)
    assert sum(area_km2(s.geometry) for s in layers.streets) == pytest.approx(district, rel=1e-3)
    assert sum(area_km2(c.geometry) for c in layers.communities) == pytest.approx(district, rel=1e-3)
    assert sum(area_km2(g.geometry) for g in layers.grids) == pytest.approx(district, rel=1e-3)
    for street in layers.streets:
        members = [c.geometry for c in layers.communities if c.parent_code == street.code]
        assert sum(area_km2(m) for m in members) == pytest.approx(area_km2(street.geometry), rel=1e-3)


def test_communities_of_one_street_are_contiguous(layers: AreaLayers) -> None:
    # The outline has a mainland and three islands (内伶仃岛 and two small ones): on the mainland each
    # street must be one piece; an island belongs wholly to one street.
    outline_parts = sorted(layers.district.geometry.geoms, key=lambda p: -p.area)
    mainland = outline_parts[0]
    for street in layers.streets:
        on_mainland = street.geometry.intersection(mainland)
        pieces = [p for p in getattr(on_mainland, "geoms", [on_mainland]) if area_km2(p) > 1e-4]
        assert len(pieces) == 1, f"{street.name} is in {len(pieces)} pieces on the mainland"
    for island in outline_parts[1:]:
        owners = [s.code for s in layers.streets if area_km2(s.geometry.intersection(island)) > 1e-4]
        assert len(owners) == 1


def test_every_trusted_anchor_lies_in_its_own_community(layers: AreaLayers) -> None:
    trusted = [c for c in layers.communities if c.anchor and not c.anchor_suspect]
    assert len(trusted) >= 60
    for community in trusted:
        assert community.anchor is not None
        assert community.geometry.contains(Point(*community.anchor)), community.name


def test_denser_places_get_smaller_grids(layers: AreaLayers) -> None:
    areas = np.array([area_km2(g.geometry) for g in layers.grids])
    density = np.array([g.density_weight for g in layers.grids])
    assert np.corrcoef(np.log(areas), np.log(density))[0, 1] < -0.7
    assert np.median(areas) < 0.2  # km²: urban grids are blocks, not districts
    assert areas.max() / np.median(areas) > 10


def test_everything_but_the_district_outline_is_marked_synthetic(layers: AreaLayers) -> None:
    assert layers.district.synthetic is False
    assert all(a.synthetic for a in [*layers.streets, *layers.communities, *layers.grids])


def test_cache_round_trip_is_lossless(layers: AreaLayers) -> None:
    again = layers_from_geojson(layers_to_geojson(layers))
    assert [g.code for g in again.grids] == [g.code for g in layers.grids]
    assert all(
        shapely.hausdorff_distance(a.geometry, b.geometry) < 1e-6
        for a, b in zip(again.grids, layers.grids, strict=True)
    )


def test_grid_allocation_sums_exactly_and_respects_floor_and_capacity() -> None:
    masses = {"a": 100.0, "b": 1.0, "c": 50.0, "d": 0.0}
    capacities = {"a": 8, "b": 100, "c": 100, "d": 100}
    counts = allocate_grids(masses, capacities, 30)
    assert sum(counts.values()) == 30
    assert counts["a"] == 8  # capped by capacity
    assert min(counts.values()) >= 3
    assert counts["c"] > counts["b"]
