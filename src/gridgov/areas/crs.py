"""WGS84 ↔ GCJ-02 ("Mars coordinates") for points that arrive from Chinese map apps.

We store WGS84 (DESIGN §4) and convert at the edge. The forward transform is the widely published
public approximation of GCJ-02 (Krasovsky 1940 ellipsoid); it matches the official offset to within
a metre or so. The inverse has no closed form, so it is solved by fixed-point iteration to below
1e-9 degrees rather than by the common one-step approximation, which is off by up to a few metres.

Points outside the rough bounding box of mainland China are returned unchanged, as every public
implementation does (GCJ-02 is only applied inside China). The box is rough: Hong Kong, Macao and
Taiwan fall inside it and are shifted too; that matches what Chinese map apps return.

Scalar functions use ``math``; the ``*_array`` forms take numpy arrays (any shape, same for both)
and return float64 arrays of that shape.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridgov.core.errors import InvalidInput

__all__ = [
    "SUPPORTED_CRS",
    "gcj02_to_wgs84",
    "gcj02_to_wgs84_array",
    "out_of_china",
    "to_wgs84",
    "wgs84_to_gcj02",
    "wgs84_to_gcj02_array",
]

SUPPORTED_CRS = ("wgs84", "gcj02")

_A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
_PI = math.pi
# The usual rough box around mainland China; outside it GCJ-02 equals WGS84.
_LON_MIN, _LON_MAX = 72.004, 137.8347
_LAT_MIN, _LAT_MAX = 0.8293, 55.8271
_TOL = 1e-10  # degrees; well below the 1e-7 asked of the inverse and above float64 noise
_MAX_ITER = 30

FloatArray = NDArray[np.float64]


# ---------------------------------------------------------------- scalar


def _check_scalar(lon: float, lat: float) -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Coordinates must be numbers, got lon={lon!r}, lat={lat!r}.") from exc
    if not (math.isfinite(x) and -180.0 <= x <= 180.0):
        raise InvalidInput(f"Longitude must be between -180 and 180, got {lon!r}.")
    if not (math.isfinite(y) and -90.0 <= y <= 90.0):
        raise InvalidInput(f"Latitude must be between -90 and 90, got {lat!r}.")
    return x, y


def out_of_china(lon: float, lat: float) -> bool:
    """True outside the rough mainland-China box, where no GCJ-02 shift applies."""
    return not (_LON_MIN <= lon <= _LON_MAX and _LAT_MIN <= lat <= _LAT_MAX)


def _offset(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 minus WGS84 at a WGS84 point, in degrees (the public forward formula)."""
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * math.sin(6.0 * x * _PI) + 20.0 * math.sin(2.0 * x * _PI)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + common
    dlat += (20.0 * math.sin(y * _PI) + 40.0 * math.sin(y / 3.0 * _PI)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * _PI) + 320.0 * math.sin(y * _PI / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + common
    dlon += (20.0 * math.sin(x * _PI) + 40.0 * math.sin(x / 3.0 * _PI)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * _PI) + 300.0 * math.sin(x / 30.0 * _PI)) * 2.0 / 3.0
    radlat = lat / 180.0 * _PI
    magic = 1.0 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * _PI)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * _PI)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 → GCJ-02, ``(lon, lat)`` in degrees."""
    lon, lat = _check_scalar(lon, lat)
    if out_of_china(lon, lat):
        return lon, lat
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → WGS84 by fixed-point iteration: find w with forward(w) == the given point."""
    lon, lat = _check_scalar(lon, lat)
    if out_of_china(lon, lat):
        return lon, lat
    # The offset changes by ~1e-5 of a degree per degree, so each step gains ~5 digits.
    wlon, wlat = lon, lat
    for _ in range(_MAX_ITER):
        dlon, dlat = _offset(wlon, wlat)
        err_lon, err_lat = wlon + dlon - lon, wlat + dlat - lat
        wlon, wlat = wlon - err_lon, wlat - err_lat
        if abs(err_lon) < _TOL and abs(err_lat) < _TOL:
            break
    return wlon, wlat


# ---------------------------------------------------------------- arrays


def _check_arrays(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    try:
        x = np.array(lons, dtype=np.float64)
        y = np.array(lats, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("Coordinates must be numeric arrays.") from exc
    if x.shape != y.shape:
        raise InvalidInput(f"Longitude and latitude arrays differ in shape: {x.shape} vs {y.shape}.")
    bad_lon = ~(np.isfinite(x) & (x >= -180.0) & (x <= 180.0))
    if bad_lon.any():
        first = int(np.flatnonzero(bad_lon)[0])
        raise InvalidInput(
            f"{int(bad_lon.sum())} longitude(s) outside -180..180, e.g. index {first}: {x.flat[first]!r}."
        )
    bad_lat = ~(np.isfinite(y) & (y >= -90.0) & (y <= 90.0))
    if bad_lat.any():
        first = int(np.flatnonzero(bad_lat)[0])
        raise InvalidInput(
            f"{int(bad_lat.sum())} latitude(s) outside -90..90, e.g. index {first}: {y.flat[first]!r}."
        )
    return x, y


def _in_china(x: FloatArray, y: FloatArray) -> NDArray[np.bool_]:
    return (x >= _LON_MIN) & (x <= _LON_MAX) & (y >= _LAT_MIN) & (y <= _LAT_MAX)


def _offset_array(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`_offset`; kept term for term identical so both forms agree."""
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * _PI) + 20.0 * np.sin(2.0 * x * _PI)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    dlat += (20.0 * np.sin(y * _PI) + 40.0 * np.sin(y / 3.0 * _PI)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * _PI) + 320.0 * np.sin(y * _PI / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    dlon += (20.0 * np.sin(x * _PI) + 40.0 * np.sin(x / 3.0 * _PI)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * _PI) + 300.0 * np.sin(x / 30.0 * _PI)) * 2.0 / 3.0
    radlat = lat / 180.0 * _PI
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * _PI)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * _PI)
    return dlon, dlat


def wgs84_to_gcj02_array(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`wgs84_to_gcj02`."""
    x, y = _check_arrays(lons, lats)
    inside = _in_china(x, y)
    out_x, out_y = x.copy(), y.copy()
    dlon, dlat = _offset_array(x[inside], y[inside])
    out_x[inside] += dlon
    out_y[inside] += dlat
    return out_x, out_y


def gcj02_to_wgs84_array(lons: ArrayLike, lats: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`gcj02_to_wgs84` (same iteration, run until every point has converged)."""
    x, y = _check_arrays(lons, lats)
    inside = _in_china(x, y)
    gx, gy = x[inside], y[inside]
    wx, wy = gx.copy(), gy.copy()
    for _ in range(_MAX_ITER):
        dlon, dlat = _offset_array(wx, wy)
        err_x, err_y = wx + dlon - gx, wy + dlat - gy
        wx -= err_x
        wy -= err_y
        if err_x.size == 0 or (np.abs(err_x).max() < _TOL and np.abs(err_y).max() < _TOL):
            break
    out_x, out_y = x.copy(), y.copy()
    out_x[inside] = wx
    out_y[inside] = wy
    return out_x, out_y


# ---------------------------------------------------------------- edge helper


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert a point given in ``crs`` (``"wgs84"`` or ``"gcj02"``, any case) to WGS84."""
    name = crs.strip().lower() if isinstance(crs, str) else crs
    if name == "wgs84":
        return _check_scalar(lon, lat)
    if name == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    raise InvalidInput(
        f"Unknown coordinate system {crs!r}: use 'wgs84' (GPS) or 'gcj02' (Chinese map apps: Amap, Tencent).",
        code="unknown_crs",
    )
