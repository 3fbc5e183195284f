"""Point → grid location: a Shapely STRtree, with a raster index in front for batches.

Grids tile the district, so a point inside the district lies in exactly one grid, except on a shared
edge, where the grid with the lowest code wins (stable, documented tie-break). A point in no grid is
outside the district: never the nearest grid.

Batches (``locate_many``) first look points up in a raster of small cells that lie wholly inside
one grid's interior, or wholly outside every grid; only points in cells that straddle an edge go to
the STRtree. The answer is the same as the STRtree alone (tested), just faster.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

OUTSIDE = -1
_AMBIGUOUS = -2


class Locator:
    """Finds the index (into ``geometries``) of the polygon holding each point; ``OUTSIDE`` if none."""

    def __init__(self, geometries: Sequence[BaseGeometry], *, raster_cell_deg: float = 0.0005) -> None:
        self.geometries = np.array(geometries, dtype=object)
        shapely.prepare(self.geometries)
        self.tree = shapely.STRtree(self.geometries)
        self._raster_cell = raster_cell_deg
        self._raster: NDArray[np.int32] | None = None
        self._origin = (0.0, 0.0)

    # -- exact path -----------------------------------------------------------------------------------

    def locate_exact(self, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.int64]:
        """STRtree only: every point checked against candidate polygons (edges included)."""
        x = np.asarray(lons, dtype=float)
        y = np.asarray(lats, dtype=float)
        result = np.full(x.shape, OUTSIDE, dtype=np.int64)
        if x.size == 0:
            return result
        point_index, geometry_index = self.tree.query(shapely.points(x, y), predicate="intersects")
        # Lowest polygon index wins on shared edges: write from the highest down.
        order = np.lexsort((-geometry_index, point_index))
        result[point_index[order]] = geometry_index[order]
        return result

    def locate_one(self, lon: float, lat: float) -> int:
        return int(self.locate_exact(np.array([lon]), np.array([lat]))[0])

    # -- batch path -----------------------------------------------------------------------------------

    def _build_raster(self) -> NDArray[np.int32]:
        minx, miny, maxx, maxy = shapely.total_bounds(self.geometries)
        step = self._raster_cell
        columns = int(np.ceil((maxx - minx) / step)) + 1
        rows = int(np.ceil((maxy - miny) / step)) + 1
        col, row = np.meshgrid(np.arange(columns), np.arange(rows))
        x0 = minx + col.ravel() * step
        y0 = miny + row.ravel() * step
        boxes = shapely.box(x0, y0, x0 + step, y0 + step)
        raster = np.full(boxes.shape, OUTSIDE, dtype=np.int32)
        box_index, geometry_index = self.tree.query(boxes, predicate="intersects")
        raster[box_index] = _AMBIGUOUS
        # A box in one polygon's interior (not touching its edge) answers for every point in it.
        inside = shapely.contains_properly(self.geometries[geometry_index], boxes[box_index])
        raster[box_index[inside]] = geometry_index[inside]
        self._origin = (float(minx), float(miny))
        return raster.reshape(rows, columns)

    def locate_many(self, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.int64]:
        x = np.asarray(lons, dtype=float)
        y = np.asarray(lats, dtype=float)
        if self._raster is None:
            self._raster = self._build_raster()
        raster = self._raster
        rows, columns = raster.shape
        finite = np.isfinite(x) & np.isfinite(y)
        # Non-finite coordinates are outside; park them on the origin so the integer cast stays defined.
        col = np.floor((np.where(finite, x, self._origin[0] - 1) - self._origin[0]) / self._raster_cell)
        row = np.floor((np.where(finite, y, self._origin[1] - 1) - self._origin[1]) / self._raster_cell)
        col = col.astype(np.int64)
        row = row.astype(np.int64)
        in_raster = (col >= 0) & (col < columns) & (row >= 0) & (row < rows)
        result = np.full(x.shape, OUTSIDE, dtype=np.int64)
        result[in_raster] = raster[row[in_raster], col[in_raster]]
        ambiguous = np.flatnonzero(result == _AMBIGUOUS)
        if ambiguous.size:
            result[ambiguous] = self.locate_exact(x[ambiguous], y[ambiguous])
        return result
