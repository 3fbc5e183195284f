"""Synthetic street, community and grid polygons inside the real Nanshan outline.

No public street/community/grid boundaries exist, so we grow them. Everything here is **synthetic** and
marked so; only the district outline, the codes, the names and the anchor points are real.

How (and why this way rather than plain Voronoi cells):
1. The outline is cut into a lattice of square cells (``CELL_M`` metres) in a local metric projection;
   border cells are clipped to the outline, so the cells tile the district exactly.
2. A density surface (population proxy) comes from real POIs and bus stops, smoothed.
3. Streets grow from the non-suspect anchor points of their communities by multi-source Dijkstra on
   the cell graph; communities then grow inside their street from their anchors (communities without a
   trustworthy anchor get a seed by farthest-point sampling); grids grow inside their community from
   density-weighted k-means seeds. Growing along shortest paths keeps every region connected and
   containing its seed, which Voronoi cells clipped to a ragged coastline do not guarantee. Islands are
   joined to the mainland by one "bridge" edge each so they are reached too.
4. Grid counts per community follow the density mass (largest remainder, exactly ``GRID_TOTAL``),
   so denser places get more, smaller grids.
5. Grid polygons are the union of their cells, smoothed with a topology-preserving coverage
   simplification (the real outline is kept as is); community = union of its grids, street = union of
   its communities, so the hierarchy tiles without gaps or overlaps by construction.

The result is deterministic for the same inputs and ``ALGORITHM_VERSION`` and cached on disk.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from gridgov.core.settings import get_settings

ALGORITHM_VERSION = "4"
DATA_DIR = Path(__file__).with_name("data")
DISTRICT_CODE = "440305000000"
# The 前海 cooperation-zone placeholder (a street row and one virtual community) is not a real street.
EXCLUDED_STREETS = frozenset({"440305400000"})
GRID_TOTAL = 1610
CELL_M = 50.0
DENSITY_SIGMA_M = 350.0
MIN_GRIDS_PER_COMMUNITY = 3
SIMPLIFY_TOLERANCE_M = 60.0

# Local equirectangular projection around Nanshan: metric error well under 0.1% over 30 km.
LON0, LAT0 = 113.93, 22.53
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))


@dataclass(frozen=True)
class AreaShape:
    code: str
    name: str
    level: str  # district | street | community | grid
    parent_code: str
    geometry: BaseGeometry  # WGS84 lon/lat
    density_weight: float = 1.0
    synthetic: bool = True
    sequence: int = 0  # grids: 1-based number inside the community
    short_name: str = ""
    anchor: tuple[float, float] | None = None
    anchor_suspect: bool = False


@dataclass(frozen=True)
class AreaLayers:
    district: AreaShape
    streets: list[AreaShape]
    communities: list[AreaShape]
    grids: list[AreaShape]
    version: str = ALGORITHM_VERSION
    by_code: dict[str, AreaShape] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for area in [self.district, *self.streets, *self.communities, *self.grids]:
            self.by_code[area.code] = area


# ---------------------------------------------------------------------------------------------------------
# Projection helpers


def to_metres(lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (lons - LON0) * M_PER_DEG_LON, (lats - LAT0) * M_PER_DEG_LAT


def geometry_to_metres(geometry: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geometry, lambda xy: np.column_stack(to_metres(xy[:, 0], xy[:, 1])))


def geometry_to_degrees(geometry: BaseGeometry) -> BaseGeometry:
    return shapely.transform(
        geometry,
        lambda xy: np.column_stack((xy[:, 0] / M_PER_DEG_LON + LON0, xy[:, 1] / M_PER_DEG_LAT + LAT0)),
    )


def area_km2(geometry: BaseGeometry) -> float:
    return float(geometry_to_metres(geometry).area) / 1e6


# ---------------------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    level: str
    parent_code: str


@dataclass(frozen=True)
class Anchor:
    lon: float
    lat: float
    suspect: bool


def read_divisions() -> list[Division]:
    with (DATA_DIR / "divisions.csv").open(encoding="utf-8") as handle:
        rows = [Division(r["code"], r["name"], r["level"], r["parent_code"]) for r in csv.DictReader(handle)]
    kept = [r for r in rows if r.code not in EXCLUDED_STREETS and r.parent_code not in EXCLUDED_STREETS]
    return sorted(kept, key=lambda r: r.code)


def read_anchors() -> dict[str, Anchor]:
    anchors: dict[str, Anchor] = {}
    with (DATA_DIR / "community_anchors.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["lon_wgs84"] and row["lat_wgs84"]:
                anchors[row["code"]] = Anchor(
                    float(row["lon_wgs84"]), float(row["lat_wgs84"]), row["suspect"].strip() == "yes"
                )
    return anchors


def read_outline() -> BaseGeometry:
    with (DATA_DIR / "nanshan_outline_wgs84.geojson").open(encoding="utf-8") as handle:
        feature = json.load(handle)["features"][0]
    return shapely.make_valid(shape(feature["geometry"]))


def read_density_points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """POIs (weighted by check-ins, damped) and bus stops: where people live, work and travel."""
    lons: list[float] = []
    lats: list[float] = []
    weights: list[float] = []
    with (DATA_DIR / "pois.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            lons.append(float(row["lon_wgs84"]))
            lats.append(float(row["lat_wgs84"]))
            weights.append(1.0 + math.log1p(float(row["checkin_value"] or 0)))
    with (DATA_DIR / "bus_stops.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            lons.append(float(row["lon_wgs84"]))
            lats.append(float(row["lat_wgs84"]))
            weights.append(2.0 + float(row["n_lines"]))
    return np.array(lons), np.array(lats), np.array(weights)


def input_fingerprint() -> str:
    digest = hashlib.sha256(ALGORITHM_VERSION.encode())
    for name in (
        "divisions.csv",
        "community_anchors.csv",
        "nanshan_outline_wgs84.geojson",
        "pois.csv",
        "bus_stops.csv",
    ):
        digest.update((DATA_DIR / name).read_bytes())
    digest.update(shapely.__version__.encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------
# The cell lattice


@dataclass
class Lattice:
    xs: np.ndarray  # cell centre x (m)
    ys: np.ndarray  # cell centre y (m)
    cells: np.ndarray  # shapely geometries in metres (box clipped to the outline)
    neighbours: list[list[tuple[int, float]]]
    density: np.ndarray


def build_lattice(
    outline_m: BaseGeometry, density_points: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> Lattice:
    minx, miny, maxx, maxy = outline_m.bounds
    columns = math.ceil((maxx - minx) / CELL_M)
    rows = math.ceil((maxy - miny) / CELL_M)
    col_index, row_index = np.meshgrid(np.arange(columns), np.arange(rows))
    x0 = minx + col_index.ravel() * CELL_M
    y0 = miny + row_index.ravel() * CELL_M
    boxes = shapely.box(x0, y0, x0 + CELL_M, y0 + CELL_M)
    shapely.prepare(outline_m)
    inside = shapely.contains(outline_m, boxes)
    touching = shapely.intersects(outline_m, boxes) & ~inside
    clipped = shapely.intersection(boxes[touching], outline_m)
    cells = boxes.copy()
    cells[touching] = clipped
    # Keep cells with real area (slivers under 1 m² are numerical noise along the coast).
    keep = inside | (touching & (shapely.area(cells) > 1.0))
    keep_index = np.flatnonzero(keep)
    cells = cells[keep_index]
    cols = col_index.ravel()[keep_index]
    rws = row_index.ravel()[keep_index]
    position = {(int(c), int(r)): i for i, (c, r) in enumerate(zip(cols, rws, strict=True))}
    neighbours: list[list[tuple[int, float]]] = [[] for _ in range(len(cells))]
    for i, (c, r) in enumerate(zip(cols, rws, strict=True)):
        for dc, dr in ((1, 0), (0, 1)):
            j = position.get((int(c) + dc, int(r) + dr))
            if j is not None:
                neighbours[i].append((j, CELL_M))
                neighbours[j].append((i, CELL_M))
    centroids = shapely.centroid(cells)
    xs, ys = shapely.get_x(centroids), shapely.get_y(centroids)
    _bridge_islands(xs, ys, neighbours)
    return Lattice(xs, ys, cells, neighbours, _density(xs, ys, density_points))


def _components(neighbours: Sequence[Sequence[tuple[int, float]]]) -> list[list[int]]:
    seen = np.zeros(len(neighbours), dtype=bool)
    components: list[list[int]] = []
    for start in range(len(neighbours)):
        if seen[start]:
            continue
        seen[start] = True
        stack, members = [start], [start]
        while stack:
            for j, _ in neighbours[stack.pop()]:
                if not seen[j]:
                    seen[j] = True
                    stack.append(j)
                    members.append(j)
        components.append(members)
    return components


def _bridge_islands(xs: np.ndarray, ys: np.ndarray, neighbours: list[list[tuple[int, float]]]) -> None:
    """Join each detached piece (islands, cells cut off by the coast) to the nearest larger piece."""
    components = sorted(_components(neighbours), key=lambda c: (-len(c), min(c)))
    mainland = np.array(components[0])
    for piece in components[1:]:
        members = np.array(piece)
        dx = xs[members][:, None] - xs[mainland][None, :]
        dy = ys[members][:, None] - ys[mainland][None, :]
        distance = np.hypot(dx, dy)
        a, b = np.unravel_index(int(np.argmin(distance)), distance.shape)
        i, j = int(members[a]), int(mainland[b])
        neighbours[i].append((j, float(distance[a, b])))
        neighbours[j].append((i, float(distance[a, b])))
        mainland = np.concatenate([mainland, members])


def _density(xs: np.ndarray, ys: np.ndarray, points: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    px, py = to_metres(points[0], points[1])
    weights = points[2]
    density = np.zeros(len(xs))
    # Chunked Gaussian kernel sum: exact, and fast enough for ~75k cells × ~6k points.
    for start in range(0, len(xs), 4096):
        dx = xs[start : start + 4096, None] - px[None, :]
        dy = ys[start : start + 4096, None] - py[None, :]
        kernel = np.exp(-(dx * dx + dy * dy) / (2 * DENSITY_SIGMA_M**2))
        density[start : start + 4096] = kernel @ weights
    # A floor so parks and hills still count a little (somebody lives or works everywhere).
    density = density / density.mean()
    return np.asarray(0.05 + density, dtype=float)


# ---------------------------------------------------------------------------------------------------------
# Region growing


def grow(
    lattice: Lattice,
    seeds: dict[int, int],
    allowed: np.ndarray | None = None,
) -> dict[int, int]:
    """Constrained Voronoi growth: each cell takes the label of the seed nearest to it (straight-line
    distance) among the regions that can reach it through neighbouring cells.

    ``seeds`` maps a cell to a label; ``allowed`` (bool mask) confines growth. A cell is only ever
    labelled from a neighbour of the same label, so every region is connected and contains its
    seeds, while boundaries follow straight bisectors rather than the staircase of path lengths.
    Ties break on label then cell, so the result does not depend on dict order.
    """
    xs, ys, neighbours = lattice.xs, lattice.ys, lattice.neighbours
    labels: dict[int, int] = {}
    heap: list[tuple[float, int, int, int]] = [(0.0, label, cell, cell) for cell, label in seeds.items()]
    heapq.heapify(heap)
    while heap:
        _, label, cell, origin = heapq.heappop(heap)
        if cell in labels:
            continue
        labels[cell] = label
        for j, _cost in neighbours[cell]:
            if j not in labels and (allowed is None or allowed[j]):
                distance = math.hypot(xs[j] - xs[origin], ys[j] - ys[origin])
                heapq.heappush(heap, (distance, label, j, origin))
    return labels


def _connect_path(
    neighbours: Sequence[Sequence[tuple[int, float]]],
    tree: set[int],
    targets: set[int],
    passable: np.ndarray,
    step_cost: np.ndarray,
) -> list[int]:
    """Cheapest path from the tree to the nearest target (Dijkstra stopped at the first target)."""
    heap: list[tuple[float, int]] = [(0.0, cell) for cell in sorted(tree)]
    heapq.heapify(heap)
    previous: dict[int, int] = {}
    best: dict[int, float] = dict.fromkeys(tree, 0.0)
    settled: set[int] = set()
    while heap:
        distance, cell = heapq.heappop(heap)
        if cell in settled:
            continue
        settled.add(cell)
        if cell in targets:
            path = [cell]
            while path[-1] in previous:
                path.append(previous[path[-1]])
            return path
        for j, cost in neighbours[cell]:
            if j not in settled and passable[j]:
                candidate = distance + cost * step_cost[j]
                if candidate < best.get(j, math.inf):
                    best[j] = candidate
                    previous[j] = cell
                    heapq.heappush(heap, (candidate, j))
    return []


def grow_connected_streets(lattice: Lattice, seeds: dict[int, int], street_count: int) -> np.ndarray:
    """Street labels per cell such that every street is one connected piece.

    Plain growth from several anchors per street can leave a street in pieces where anchors of two
    streets interleave. So each street's anchors are first joined by a tree of cheapest paths (Prim on
    shortest paths; cells another street would take cost more, cells another street already claimed
    are walls), then all streets grow from their trees: a region grown from a connected seed set stays
    connected.
    """
    neighbours = lattice.neighbours
    cell_count = len(lattice.xs)
    plain = grow(lattice, seeds)
    plain_label = np.array([plain[i] for i in range(cell_count)])
    claimed = np.full(cell_count, -1)
    for cell, label in seeds.items():
        claimed[cell] = label
    anchors_by_street: dict[int, list[int]] = defaultdict(list)
    for cell, label in sorted(seeds.items()):
        anchors_by_street[label].append(cell)
    for label in range(street_count):
        anchors = anchors_by_street[label]
        if len(anchors) < 2:
            continue
        step_cost = np.where(plain_label == label, 1.0, 6.0)
        passable = (claimed == -1) | (claimed == label)
        tree = {anchors[0]}
        remaining = set(anchors[1:])
        while remaining:
            path = _connect_path(neighbours, tree, remaining, passable, step_cost)
            if not path:
                raise RuntimeError(
                    f"street {label}: anchors cannot be joined without crossing another street"
                )
            tree.update(path)
            remaining -= tree
        for cell in tree:
            claimed[cell] = label
    grown = grow(lattice, {int(c): int(claimed[c]) for c in np.flatnonzero(claimed >= 0)})
    return np.array([grown[i] for i in range(cell_count)])


def nearest_cell(lattice: Lattice, x: float, y: float, candidates: np.ndarray) -> int:
    d = (lattice.xs[candidates] - x) ** 2 + (lattice.ys[candidates] - y) ** 2
    return int(candidates[int(np.argmin(d))])


def farthest_point_seeds(lattice: Lattice, cells: np.ndarray, existing: list[int], count: int) -> list[int]:
    """Add ``count`` seeds, each the cell farthest (density-weighted) from every seed so far."""
    chosen: list[int] = []
    if existing:
        d = np.min(
            [
                np.hypot(lattice.xs[cells] - lattice.xs[s], lattice.ys[cells] - lattice.ys[s])
                for s in existing
            ],
            axis=0,
        )
    else:
        d = np.hypot(
            lattice.xs[cells] - lattice.xs[cells].mean(), lattice.ys[cells] - lattice.ys[cells].mean()
        )
        d = d.max() - d  # start near the middle when there is no seed at all
    weight = np.sqrt(lattice.density[cells])
    for _ in range(count):
        pick = int(cells[int(np.argmax(d * weight))])
        chosen.append(pick)
        d = np.minimum(
            d, np.hypot(lattice.xs[cells] - lattice.xs[pick], lattice.ys[cells] - lattice.ys[pick])
        )
    return chosen


def weighted_kmeans_seeds(lattice: Lattice, cells: np.ndarray, k: int, seed: int) -> list[int]:
    """Density-weighted k-means over cell centres; returns one distinct seed cell per cluster."""
    points = np.column_stack((lattice.xs[cells], lattice.ys[cells]))
    weights = lattice.density[cells]
    rng = np.random.default_rng(seed)
    # k-means++ initialisation, weighted.
    centres = [points[int(rng.choice(len(points), p=weights / weights.sum()))]]
    for _ in range(1, k):
        d2 = np.min(((points[:, None, :] - np.array(centres)[None, :, :]) ** 2).sum(-1), axis=1)
        p = d2 * weights
        centres.append(points[int(rng.choice(len(points), p=p / p.sum()))] if p.sum() > 0 else points[0])
    centre_array = np.array(centres)
    for _ in range(25):
        d2 = ((points[:, None, :] - centre_array[None, :, :]) ** 2).sum(-1)
        assignment = np.argmin(d2, axis=1)
        moved = centre_array.copy()
        for c in range(k):
            mask = assignment == c
            if mask.any():
                moved[c] = np.average(points[mask], axis=0, weights=weights[mask])
        if np.allclose(moved, centre_array, atol=1.0):
            break
        centre_array = moved
    used: set[int] = set()
    seeds: list[int] = []
    for centre in centre_array:
        order = np.argsort(((points - centre) ** 2).sum(-1), kind="stable")
        pick = next(int(cells[i]) for i in order if int(cells[i]) not in used)
        used.add(pick)
        seeds.append(pick)
    return seeds


def allocate_grids(masses: dict[str, float], capacities: dict[str, int], total: int) -> dict[str, int]:
    """Largest-remainder apportionment with a floor per community and a cap by cell count."""
    codes = sorted(masses)
    counts = {c: min(MIN_GRIDS_PER_COMMUNITY, capacities[c]) for c in codes}
    remaining = total - sum(counts.values())
    mass_total = sum(masses.values())
    quotas = {c: max(0.0, masses[c] / mass_total * total - counts[c]) for c in codes}
    quota_total = sum(quotas.values())
    share = {c: quotas[c] / quota_total * remaining for c in codes}
    for c in codes:
        counts[c] += min(int(share[c]), capacities[c] - counts[c])
    while sum(counts.values()) < total:
        open_codes = [c for c in codes if counts[c] < capacities[c]]
        best = max(open_codes, key=lambda c: (share[c] - int(share[c]) + (masses[c] / mass_total) * 1e-9, c))
        counts[best] += 1
        share[best] = float(int(share[best]))  # its remainder is used
    return counts


def number_grids(centroids: list[tuple[float, float]], band_m: float) -> list[int]:
    """Sequence numbers west→east within rows, rows north→south (the order people read a map)."""
    top = max(y for _, y in centroids)
    keys = [(int((top - y) // band_m), x, i) for i, (x, y) in enumerate(centroids)]
    order = sorted(range(len(centroids)), key=lambda i: keys[i])
    sequence = [0] * len(centroids)
    for position, i in enumerate(order, start=1):
        sequence[i] = position
    return sequence


# ---------------------------------------------------------------------------------------------------------
# The whole world


def community_display_name(official: str) -> tuple[str, str]:
    """'南头城社区居委会' → ('南头城社区', '南头城')."""
    short = official.removesuffix("社区居委会").removesuffix("居委会").removesuffix("社区")
    return f"{short}社区", short


def synthesise() -> AreaLayers:
    divisions = read_divisions()
    anchors = read_anchors()
    district_row = next(d for d in divisions if d.level == "district")
    street_rows = [d for d in divisions if d.level == "street"]
    community_rows = [d for d in divisions if d.level == "community"]
    outline = read_outline()
    outline_m = geometry_to_metres(outline)
    lattice = build_lattice(outline_m, read_density_points())
    all_cells = np.arange(len(lattice.xs))

    # 1. Streets grow from their communities' trustworthy anchors.
    street_index = {s.code: i for i, s in enumerate(street_rows)}
    community_seed_cell: dict[str, int] = {}
    street_seeds: dict[int, int] = {}
    for community in community_rows:
        anchor = anchors.get(community.code)
        if anchor is None or anchor.suspect:
            continue
        x, y = to_metres(np.array([anchor.lon]), np.array([anchor.lat]))
        cell = nearest_cell(lattice, float(x[0]), float(y[0]), all_cells)
        if cell in street_seeds:
            continue  # two anchors in one cell: the first community keeps it, the other gets a sampled seed
        community_seed_cell[community.code] = cell
        street_seeds[cell] = street_index[community.parent_code]
    street_of_cell = grow_connected_streets(lattice, street_seeds, len(street_rows))

    # 2. Communities grow inside their street.
    community_of_cell = np.full(len(all_cells), -1)
    community_index = {c.code: i for i, c in enumerate(community_rows)}
    for street in street_rows:
        members = all_cells[street_of_cell == street_index[street.code]]
        communities = [c for c in community_rows if c.parent_code == street.code]
        fixed = [community_seed_cell[c.code] for c in communities if c.code in community_seed_cell]
        missing = [c for c in communities if c.code not in community_seed_cell]
        sampled = farthest_point_seeds(lattice, members, fixed, len(missing))
        for community, cell in zip(missing, sampled, strict=True):
            community_seed_cell[community.code] = cell
        seeds = {community_seed_cell[c.code]: community_index[c.code] for c in communities}
        allowed = street_of_cell == street_index[street.code]
        for cell, label in grow(lattice, seeds, allowed).items():
            community_of_cell[cell] = label

    # 3. Grids: count by density mass, seeds by weighted k-means, grown inside the community.
    masses = {
        c.code: float(lattice.density[community_of_cell == community_index[c.code]].sum())
        for c in community_rows
    }
    capacities = {
        c.code: int((community_of_cell == community_index[c.code]).sum()) // 4 for c in community_rows
    }
    grid_counts = allocate_grids(masses, capacities, GRID_TOTAL)

    grid_cells: list[np.ndarray] = []
    grid_community: list[str] = []
    for community in community_rows:
        members = all_cells[community_of_cell == community_index[community.code]]
        k = grid_counts[community.code]
        seed_cells = weighted_kmeans_seeds(lattice, members, k, seed=int(community.code[-6:]))
        allowed = community_of_cell == community_index[community.code]
        labels = grow(lattice, {cell: n for n, cell in enumerate(seed_cells)}, allowed)
        by_grid: dict[int, list[int]] = defaultdict(list)
        for cell, n in labels.items():
            by_grid[n].append(cell)
        for n in range(k):
            grid_cells.append(np.array(sorted(by_grid[n])))
            grid_community.append(community.code)

    # 4. Polygons: grids from cells, smoothed as one coverage; the outline itself stays as given.
    raw = [shapely.union_all(lattice.cells[cells], grid_size=0.01) for cells in grid_cells]
    smoothed = list(
        shapely.coverage_simplify(np.array(raw, dtype=object), SIMPLIFY_TOLERANCE_M, simplify_boundary=False)
    )
    # Simplifying the grids as one coverage keeps shared edges shared (GEOS does not call a union of raster
    # cells a "valid coverage" — T-junctions where a straight edge meets two neighbours — but simplifies it
    # consistently; the tests measure gaps and overlaps). Should any piece come out broken, keep the raw
    # cells for all of them rather than mix the two, which would open gaps.
    usable = all(g.is_valid and not g.is_empty for g in smoothed)
    grid_geoms_m = smoothed if usable else raw
    grid_density = [float(lattice.density[cells].mean()) for cells in grid_cells]

    return _assemble(
        district_row,
        street_rows,
        community_rows,
        anchors,
        outline,
        grid_geoms_m,
        grid_community,
        grid_density,
    )


def _assemble(
    district_row: Division,
    street_rows: list[Division],
    community_rows: list[Division],
    anchors: dict[str, Anchor],
    outline: BaseGeometry,
    grid_geoms_m: list[BaseGeometry],
    grid_community: list[str],
    grid_density: list[float],
) -> AreaLayers:
    mean_density = float(np.mean(grid_density))
    grids: list[AreaShape] = []
    community_geoms_m: dict[str, BaseGeometry] = {}
    for community in community_rows:
        indices = [i for i, code in enumerate(grid_community) if code == community.code]
        geoms = [grid_geoms_m[i] for i in indices]
        community_geoms_m[community.code] = shapely.union_all(geoms, grid_size=0.01)
        centroids = [(g.centroid.x, g.centroid.y) for g in geoms]
        band = math.sqrt(sum(g.area for g in geoms) / len(geoms))
        sequence = number_grids(centroids, band)
        display, _ = community_display_name(community.name)
        for i, seq in sorted(zip(indices, sequence, strict=True), key=lambda t: t[1]):
            grids.append(
                AreaShape(
                    code=f"{community.code}{seq:03d}",
                    name=f"{display}第{seq:03d}网格",
                    level="grid",
                    parent_code=community.code,
                    geometry=geometry_to_degrees(grid_geoms_m[i]),
                    density_weight=round(grid_density[i] / mean_density, 6),
                    sequence=seq,
                )
            )
    communities: list[AreaShape] = []
    for community in community_rows:
        display, short = community_display_name(community.name)
        anchor = anchors.get(community.code)
        geometry = community_geoms_m[community.code]
        communities.append(
            AreaShape(
                code=community.code,
                name=display,
                level="community",
                parent_code=community.parent_code,
                geometry=geometry_to_degrees(geometry),
                short_name=short,
                density_weight=_mean_weight(grids, community.code),
                anchor=(anchor.lon, anchor.lat) if anchor else None,
                anchor_suspect=bool(anchor and anchor.suspect),
            )
        )
    streets = [
        AreaShape(
            code=street.code,
            name=street.name,
            level="street",
            parent_code=street.parent_code,
            geometry=geometry_to_degrees(
                shapely.union_all(
                    [community_geoms_m[c.code] for c in community_rows if c.parent_code == street.code],
                    grid_size=0.01,
                )
            ),
            short_name=street.name.removesuffix("街道"),
        )
        for street in street_rows
    ]
    district = AreaShape(
        code=district_row.code,
        name=district_row.name,
        level="district",
        parent_code=district_row.parent_code,
        geometry=outline,
        synthetic=False,
        short_name="南山",
    )
    return AreaLayers(
        district=district, streets=streets, communities=communities, grids=sorted(grids, key=lambda g: g.code)
    )


def _mean_weight(grids: list[AreaShape], community_code: str) -> float:
    weights = [g.density_weight for g in grids if g.parent_code == community_code]
    return round(float(np.mean(weights)), 6)


# ---------------------------------------------------------------------------------------------------------
# Cache: synthesis takes tens of seconds; the result is the same for the same inputs.


def layers_to_geojson(layers: AreaLayers) -> dict[str, object]:
    features = []
    for area in [layers.district, *layers.streets, *layers.communities, *layers.grids]:
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(shapely.to_geojson(shapely.set_precision(area.geometry, 1e-7))),
                "properties": {
                    "code": area.code,
                    "name": area.name,
                    "level": area.level,
                    "parent_code": area.parent_code,
                    "density_weight": area.density_weight,
                    "synthetic": area.synthetic,
                    "sequence": area.sequence,
                    "short_name": area.short_name,
                    "anchor": list(area.anchor) if area.anchor else None,
                    "anchor_suspect": area.anchor_suspect,
                },
            }
        )
    return {"type": "FeatureCollection", "version": layers.version, "features": features}


def layers_from_geojson(document: dict[str, object]) -> AreaLayers:
    by_level: dict[str, list[AreaShape]] = defaultdict(list)
    features = document["features"]
    assert isinstance(features, list)
    for feature in features:
        p = feature["properties"]
        by_level[p["level"]].append(
            AreaShape(
                code=p["code"],
                name=p["name"],
                level=p["level"],
                parent_code=p["parent_code"],
                geometry=shape(feature["geometry"]),
                density_weight=p["density_weight"],
                synthetic=p["synthetic"],
                sequence=p["sequence"],
                short_name=p["short_name"],
                anchor=(p["anchor"][0], p["anchor"][1]) if p["anchor"] else None,
                anchor_suspect=p["anchor_suspect"],
            )
        )
    return AreaLayers(
        district=by_level["district"][0],
        streets=by_level["street"],
        communities=by_level["community"],
        grids=by_level["grid"],
        version=str(document.get("version", "")),
    )


def cache_path() -> Path:
    return get_settings().var_dir / "cache" / f"nanshan_areas_{input_fingerprint()}.geojson"


@lru_cache(maxsize=1)
def nanshan_layers() -> AreaLayers:
    """The synthetic Nanshan hierarchy, from the on-disk cache when the inputs have not changed."""
    path = cache_path()
    if path.exists():
        return layers_from_geojson(json.loads(path.read_text(encoding="utf-8")))
    layers = synthesise()
    document = layers_to_geojson(layers)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    tmp.replace(path)
    # Reload from the file so a cold run and a warm run give exactly the same (rounded) coordinates.
    return layers_from_geojson(document)
