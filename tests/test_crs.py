"""WGS84 ↔ GCJ-02: known pairs, round trips, out-of-China points, vectorised forms, validation."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gridgov.areas
from gridgov.areas.crs import (
    gcj02_to_wgs84,
    gcj02_to_wgs84_array,
    to_wgs84,
    wgs84_to_gcj02,
    wgs84_to_gcj02_array,
)
from gridgov.core.errors import InvalidInput

BUS_STOPS = Path(gridgov.areas.__file__).with_name("data") / "bus_stops.csv"
# The file rounds both columns to 6 decimals, so a pair can disagree by up to ~1e-6 from rounding alone.
PAIR_TOL = 1e-5


@pytest.fixture(scope="module")
def stops() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with BUS_STOPS.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 600
    cols = [
        np.array([float(r[k]) for r in rows]) for k in ("lon_gcj02", "lat_gcj02", "lon_wgs84", "lat_wgs84")
    ]
    return cols[0], cols[1], cols[2], cols[3]


def test_bus_stop_pairs_both_ways(stops: tuple[np.ndarray, ...]) -> None:
    glon, glat, wlon, wlat = stops
    for i in range(len(glon)):
        fx, fy = wgs84_to_gcj02(wlon[i], wlat[i])
        assert abs(fx - glon[i]) < PAIR_TOL and abs(fy - glat[i]) < PAIR_TOL, i
        ix, iy = gcj02_to_wgs84(glon[i], glat[i])
        assert abs(ix - wlon[i]) < PAIR_TOL and abs(iy - wlat[i]) < PAIR_TOL, i


def test_bus_stop_pairs_have_no_systematic_bias(stops: tuple[np.ndarray, ...]) -> None:
    # The file's own conversion agrees with ours to its 6-decimal rounding: no bias, and far tighter than
    # the one-step inverse (which is off by ~1.5e-5 degrees here).
    glon, glat, wlon, wlat = stops
    ix, iy = gcj02_to_wgs84_array(glon, glat)
    assert np.abs(ix - wlon).max() < 1.1e-6 and np.abs(iy - wlat).max() < 1.1e-6
    assert abs(float((ix - wlon).mean())) < 1e-7 and abs(float((iy - wlat).mean())) < 1e-7


def test_offset_in_shenzhen_is_a_few_hundred_metres() -> None:
    lon, lat = 113.93, 22.53  # Nanshan
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert 0.003 < glon - lon < 0.007
    assert -0.004 < glat - lat < 0.0


shenzhen_lon = st.floats(min_value=113.75, max_value=114.65)
shenzhen_lat = st.floats(min_value=22.40, max_value=22.87)


@settings(max_examples=500, deadline=None)
@given(lon=shenzhen_lon, lat=shenzhen_lat)
def test_round_trip_in_shenzhen(lon: float, lat: float) -> None:
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert abs(back[0] - lon) < 1e-6 and abs(back[1] - lat) < 1e-6
    # The inverse is solved, not approximated: the residual is orders of magnitude below 1e-7.
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    fwd = wgs84_to_gcj02(wlon, wlat)
    assert abs(fwd[0] - lon) < 1e-9 and abs(fwd[1] - lat) < 1e-9


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(139.6917, 35.6895), (-0.1276, 51.5072), (-74.006, 40.7128), (151.2093, -33.8688), (0.0, 0.0)],
)
def test_outside_china_unchanged(lon: float, lat: float) -> None:
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)
    x, y = wgs84_to_gcj02_array([lon], [lat])
    assert (x[0], y[0]) == (lon, lat)
    x, y = gcj02_to_wgs84_array([lon], [lat])
    assert (x[0], y[0]) == (lon, lat)


def test_vectorised_equals_scalar() -> None:
    rng = np.random.default_rng(7)
    lons = np.concatenate([rng.uniform(73, 135, 300), rng.uniform(-180, 180, 100), [113.93, 139.69]])
    lats = np.concatenate([rng.uniform(18, 53, 300), rng.uniform(-90, 90, 100), [22.53, 35.68]])
    for forward, vec in ((wgs84_to_gcj02, wgs84_to_gcj02_array), (gcj02_to_wgs84, gcj02_to_wgs84_array)):
        vx, vy = vec(lons, lats)
        assert vx.shape == lons.shape and vx.dtype == np.float64
        for i in range(len(lons)):
            sx, sy = forward(float(lons[i]), float(lats[i]))
            assert math.isclose(vx[i], sx, abs_tol=1e-12) and math.isclose(vy[i], sy, abs_tol=1e-12), i


def test_vectorised_keeps_shape_and_does_not_mutate() -> None:
    lons = np.array([[113.9, 114.0], [139.7, 113.95]])
    lats = np.array([[22.5, 22.6], [35.7, 22.55]])
    before = lons.copy()
    x, y = wgs84_to_gcj02_array(lons, lats)
    assert x.shape == (2, 2) and y.shape == (2, 2)
    assert np.array_equal(lons, before)
    assert x[1, 0] == 139.7
    ex, ey = gcj02_to_wgs84_array(np.array([]), np.array([]))
    assert ex.shape == (0,) and ey.shape == (0,)


def test_to_wgs84() -> None:
    assert to_wgs84(113.93, 22.53, "wgs84") == (113.93, 22.53)
    assert to_wgs84(113.93, 22.53, " WGS84 ") == (113.93, 22.53)
    assert to_wgs84(113.93, 22.53, "GCJ02") == gcj02_to_wgs84(113.93, 22.53)
    for bad in ("bd09", "EPSG:4326", "", "gcj-02"):
        with pytest.raises(InvalidInput, match="coordinate system") as info:
            to_wgs84(113.93, 22.53, bad)
        assert info.value.code == "unknown_crs"


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(181.0, 22.5), (-180.5, 0.0), (113.9, 90.5), (113.9, -91.0), (math.nan, 22.5), (113.9, math.inf)],
)
def test_out_of_range_rejected(lon: float, lat: float) -> None:
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84):
        with pytest.raises(InvalidInput):
            fn(lon, lat)
    for vec in (wgs84_to_gcj02_array, gcj02_to_wgs84_array):
        with pytest.raises(InvalidInput):
            vec([113.9, lon], [22.5, lat])
    with pytest.raises(InvalidInput):
        to_wgs84(lon, lat, "wgs84")


def test_array_shape_mismatch_and_non_numeric() -> None:
    with pytest.raises(InvalidInput, match="shape"):
        wgs84_to_gcj02_array([113.9, 114.0], [22.5])
    with pytest.raises(InvalidInput):
        gcj02_to_wgs84_array(["a"], [22.5])
    with pytest.raises(InvalidInput):
        wgs84_to_gcj02("x", 22.5)  # type: ignore[arg-type]
