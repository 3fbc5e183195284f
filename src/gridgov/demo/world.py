"""The physical world: buildings on grid polygons, their standard addresses, and their dwellings.

Everything is numpy arrays plus a few per-building string lists (about 52,500 at scale 1.0); the
people, rentals, companies and events that hang off it are generated and streamed by the feed
modules, never held as Python objects.

Building kinds and the share of buildings each gets (assumptions, calibrated so scale 1.0 has about
52,500 buildings holding 1,050,000 dwellings, ~20 per building):

=============  ======  ==========================================================================
kind           share   shape
=============  ======  ==========================================================================
village        52 %    urban-village house (握手楼): 4–9 floors, one stair, 2–6 rooms a floor,
                       often a shop on the ground floor; ~15 dwellings; address 北头村三坊12号
tower          9 %     high-rise in an estate (小区): 18–34 floors, 1–4 units (单元); ~100 dwellings
midrise        7 %     older 5–9 floor estate block; ~16 dwellings
villa          3 %     estate villa: one dwelling
mixed          6 %     商住楼 on a road (门牌号 only, e.g. 南海大道1052号), shops below; ~19 dwellings
office         3 %     office tower (A座/B座), units are commercial; ~18 units
commercial     5 %     shop building on a road; ~5 units
industrial     15 %    factory building in an industrial park (1栋…N栋); ~2 units
=============  ======  ==========================================================================

Where a grid lies decides its mix: grids near real estate points get more estate buildings, near
real village points more village houses, near office/industrial landmarks more of those.
Buildings per grid follow ``density_weight × area`` (a multinomial draw with an exact total).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from gridgov.areas.synthesis import AreaLayers, AreaShape, to_metres
from gridgov.demo import textmess
from gridgov.demo.places import Place, Road, base_name, load_places, load_roads

# Published totals for Nanshan at scale 1.0.
PEOPLE_TOTAL = 2_130_000
DWELLINGS_TOTAL = 1_050_000
RENTED_TOTAL = 600_000
# Assumptions (no published figure): see the module docstring of gridgov.demo.generate.
BUILDINGS_TOTAL = 52_500
VACANT_SHARE = 0.055  # of residential dwellings

KINDS = ("village", "tower", "midrise", "villa", "mixed", "office", "commercial", "industrial")
VILLAGE, TOWER, MIDRISE, VILLA, MIXED, OFFICE, COMMERCIAL, INDUSTRIAL = range(8)
KIND_SHARE = np.array([0.52, 0.09, 0.07, 0.03, 0.06, 0.03, 0.05, 0.15])
# Mean dwellings per building of each kind (relative weights; the total is apportioned exactly).
KIND_DWELLINGS = np.array([14.7, 100.0, 16.0, 1.0, 19.0, 18.0, 4.6, 2.3])
BUILDING_USE = (
    "residential",
    "residential",
    "residential",
    "residential",
    "mixed",
    "office",
    "commercial",
    "industrial",
)
# How strongly each kind prefers to be rented out (village rooms nearly always are).
RENT_WEIGHT = np.array([9.0, 1.1, 1.4, 0.25, 2.5, 0.0, 0.0, 0.0])
VACANT_WEIGHT = np.array([0.5, 1.2, 1.0, 3.0, 1.0, 0.0, 0.0, 0.0])

USE_OWNER, USE_RENTED, USE_VACANT, USE_COMMERCIAL = range(4)
DWELLING_USES = ("owner-occupied", "rented", "vacant", "commercial")

LETTERS = "ABCDEFGH"
ESTATE_SIZE = 14  # buildings per estate, on average, where a grid has enough of them
MAX_PHASE = 4
ESTATE_WORDS = (
    "花园",
    "雅苑",
    "家园",
    "名苑",
    "豪庭",
    "华庭",
    "新苑",
    "嘉园",
    "雅居",
    "公寓",
    "小区",
    "山庄",
    "新城",
    "丽苑",
    "景苑",
    "花城",
)
M_PER_DEG_LAT = 110_574.0


def scaled(total: int, scale: float) -> int:
    return max(1, round(total * scale))


@dataclass
class Site:
    """An addressable place inside one community: a road, an estate, a village, a park, a tower group."""

    community: int  # index into World.communities
    site_id: int  # 1..9999 within the community: the 4-digit road/estate part of the standard code
    kind: str  # road | estate | village | office | industrial
    name: str
    name_source: str  # real | derived (phase of a real estate, community-named park/village)
    road: str = ""  # the road and gate number the site opens on (estates, offices, parks)
    road_no: int = 0
    label_style: str = "栋"  # estates: 栋 or 座 (A座, B座)
    lane_word: str = ""  # villages: 坊 / 巷 / 排
    lane_count: int = 0
    building_count: int = 0


@dataclass
class World:
    layers: AreaLayers
    grids: list[AreaShape]
    communities: list[AreaShape]
    street_name_of_community: list[str]
    grid_community: NDArray[np.int32]
    sites: list[Site]
    # buildings
    b_grid: NDArray[np.int32]
    b_kind: NDArray[np.int8]
    b_site: NDArray[np.int32]
    b_no: NDArray[np.int32]
    b_lon: NDArray[np.float64]
    b_lat: NDArray[np.float64]
    b_floors: NDArray[np.int16]
    b_units: NDArray[np.int16]
    b_first: NDArray[np.int64]  # index of the building's first dwelling
    b_count: NDArray[np.int32]  # dwellings in the building
    b_road: list[str]
    b_road_no: list[int]
    b_label: list[str]
    b_parts: list[textmess.Parts] = field(default_factory=list)
    b_std_code: list[str] = field(default_factory=list)
    b_house25: list[str] = field(default_factory=list)
    # dwellings
    d_building: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    d_unit: NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, np.int16))
    d_floor: NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, np.int16))
    d_room: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    d_use: NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))

    @property
    def n_buildings(self) -> int:
        return len(self.b_grid)

    @property
    def n_dwellings(self) -> int:
        return len(self.d_building)

    def dwelling_code(self, d: int) -> str:
        """Building standard code + 2-digit unit (00: none) + 4-digit room (floor·100 + number)."""
        return f"{self.b_std_code[self.d_building[d]]}{self.d_unit[d]:02d}{self.d_room[d]:04d}"

    def dwelling_address(self, d: int) -> str:
        b = int(self.d_building[d])
        return textmess.standard_dwelling(self.b_parts[b], int(self.d_unit[d]), int(self.d_room[d]))

    def grid_code_of_building(self, b: int) -> str:
        return self.grids[int(self.b_grid[b])].code


# ---------------------------------------------------------------------------------------------------------
# Helpers


def apportion(weights: NDArray[np.float64], total: int) -> NDArray[np.int64]:
    """Integers proportional to ``weights`` summing exactly to ``total`` (largest remainder)."""
    if total <= 0 or len(weights) == 0:
        return np.zeros(len(weights), dtype=np.int64)
    quota = weights / weights.sum() * total
    base = np.floor(quota).astype(np.int64)
    short = total - int(base.sum())
    if short > 0:
        order = np.argsort(-(quota - base), kind="stable")
        base[order[:short]] += 1
    return np.asarray(base, dtype=np.int64)


def weighted_pick(rng: np.random.Generator, weights: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    """Indices of ``k`` items drawn without replacement with probability ∝ weight (Efraimidis–Spirakis).

    O(n) and exact in count, unlike ``Generator.choice(replace=False, p=…)`` which is slow for millions.
    """
    positive = np.flatnonzero(weights > 0)
    if k > len(positive):
        raise ValueError(f"Cannot pick {k} items from {len(positive)} with positive weight.")
    keys = np.log(rng.random(len(positive))) / weights[positive]
    chosen = np.argpartition(-keys, k - 1)[:k] if k > 0 else np.zeros(0, dtype=np.int64)
    return np.sort(positive[chosen])


class GridSampler:
    """Points inside one grid polygon: vectorised rejection sampling over the polygon's bounds."""

    def __init__(self, geometry: BaseGeometry, rng: np.random.Generator) -> None:
        self.geometry = geometry
        shapely.prepare(geometry)
        self.bounds = geometry.bounds
        self.rng = rng
        minx, miny, maxx, maxy = self.bounds
        box_area = max((maxx - minx) * (maxy - miny), 1e-12)
        self.fill = max(geometry.area / box_area, 0.02)

    def _keep_inside(
        self,
        x: NDArray[np.float64],
        y: NDArray[np.float64],
        xs: list[NDArray[np.float64]],
        ys: list[NDArray[np.float64]],
    ) -> int:
        """Add the drawn points that fall inside the grid to ``xs``/``ys``; returns how many.

        Rounded before testing: what is written to the CSV (6 decimals) must be what was tested.
        """
        x, y = np.round(x, 6), np.round(y, 6)
        ok = np.asarray(shapely.contains_xy(self.geometry, x, y), dtype=bool)
        xs.append(x[ok])
        ys.append(y[ok])
        return int(ok.sum())

    def uniform(self, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        minx, miny, maxx, maxy = self.bounds
        xs: list[NDArray[np.float64]] = []
        ys: list[NDArray[np.float64]] = []
        got = 0
        while got < n:
            m = int((n - got) / self.fill * 1.3) + 8
            x = self.rng.uniform(minx, maxx, m)
            y = self.rng.uniform(miny, maxy, m)
            got += self._keep_inside(x, y, xs, ys)
        return np.concatenate(xs)[:n], np.concatenate(ys)[:n]

    def around(
        self, n: int, lon: float, lat: float, sigma_m: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Clustered points (an estate, a village lane) around a centre, kept inside the grid."""
        sx = sigma_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
        sy = sigma_m / M_PER_DEG_LAT
        xs: list[NDArray[np.float64]] = []
        ys: list[NDArray[np.float64]] = []
        got = 0
        for _ in range(6):
            m = 2 * (n - got) + 8
            x = self.rng.normal(lon, sx, m)
            y = self.rng.normal(lat, sy, m)
            got += self._keep_inside(x, y, xs, ys)
            if got >= n:
                break
        if got < n:  # a centre on a thin sliver of grid: top up uniformly
            x, y = self.uniform(n - got)
            xs.append(x)
            ys.append(y)
        return np.concatenate(xs)[:n], np.concatenate(ys)[:n]

    def around_anywhere(self, n: int, sigma_m: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Clustered points around a centre drawn uniformly inside the grid."""
        clon, clat = self.uniform(1)
        return self.around(n, float(clon[0]), float(clat[0]), sigma_m)

    def contains(self, lon: float, lat: float) -> bool:
        return bool(shapely.contains_xy(self.geometry, lon, lat))


def _affinity(
    cx: NDArray[np.float64], cy: NDArray[np.float64], places: list[Place], sigma: float
) -> NDArray[np.float64]:
    if not places:
        return np.zeros(len(cx))
    px, py = to_metres(np.array([p.lon for p in places]), np.array([p.lat for p in places]))
    d2 = (cx[:, None] - px[None, :]) ** 2 + (cy[:, None] - py[None, :]) ** 2
    return np.asarray(np.minimum(np.exp(-d2 / (2 * sigma**2)).sum(axis=1), 3.0), dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# Building layout


class _RoadBook:
    """Roads of each community and unique 门牌 numbers on each road."""

    def __init__(
        self,
        rng: np.random.Generator,
        roads: tuple[Road, ...],
        n_communities: int,
        grids_per_community: NDArray[np.int64],
    ) -> None:
        self.rng = rng
        self.names = [r.name for r in roads]
        weights = np.array([r.evidence for r in roads], dtype=float) ** 0.7
        p = weights / weights.sum()
        self.community_roads: list[list[int]] = []
        for c in range(n_communities):
            k = min(len(roads), 4 + min(6, int(grids_per_community[c]) // 3))
            self.community_roads.append([int(i) for i in rng.choice(len(roads), size=k, replace=False, p=p)])
        self.used: dict[int, set[int]] = {}
        self.cursor: dict[tuple[int, int], int] = {}

    def pick_road(self, community: int) -> int:
        roads = self.community_roads[community]
        # Earlier roads in the community list are its main roads: a mild preference keeps numbers dense.
        w = 1.0 / (1.0 + np.arange(len(roads)))
        return roads[int(self.rng.choice(len(roads), p=w / w.sum()))]

    def next_number(self, community: int, road: int) -> int:
        key = (community, road)
        if key not in self.cursor:
            # A community's stretch of a road starts somewhere along it; odd or even side at random.
            self.cursor[key] = 1 + int(self.rng.integers(0, 1200))
        used = self.used.setdefault(road, set())
        number = self.cursor[key]
        while number in used:
            number += 2
        used.add(number)
        self.cursor[key] = number + 2 * int(self.rng.integers(1, 4))
        return number


class _SiteNamer:
    """Names estates, office towers and parks: real names near the grid first, then derived ones."""

    def __init__(
        self, places: list[Place], grids: list[AreaShape], grid_community: NDArray[np.int32]
    ) -> None:
        self.by_kind: dict[str, list[Place]] = {}
        for p in places:
            self.by_kind.setdefault(p.kind, []).append(p)
        self.point_grid: dict[str, NDArray[np.int64]] = {}
        self.xy: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
        tree = shapely.STRtree([g.geometry for g in grids])
        for kind, items in self.by_kind.items():
            pts = shapely.points([p.lon for p in items], [p.lat for p in items])
            where = np.full(len(items), -1, dtype=np.int64)
            hit_point, hit_grid = tree.query(pts, predicate="within")
            where[hit_point] = hit_grid
            self.point_grid[kind] = where
            self.xy[kind] = to_metres(np.array([p.lon for p in items]), np.array([p.lat for p in items]))
        self.grid_community = grid_community
        self.used: dict[str, set[int]] = {k: set() for k in self.by_kind}
        self.taken_names: set[str] = set()
        self.phase: dict[str, int] = {}

    def take(self, kind: str, grid: int, cx: float, cy: float, *, max_km: float) -> tuple[Place | None, bool]:
        """(place, inside_grid): an unused real place in this grid, else the nearest unused within reach."""
        items = self.by_kind.get(kind, [])
        if not items:
            return None, False
        where = self.point_grid[kind]
        used = self.used[kind]
        inside = [i for i in np.flatnonzero(where == grid) if int(i) not in used]
        if inside:
            best = max(inside, key=lambda i: (items[i].weight, -int(i)))
            used.add(int(best))
            self.taken_names.add(items[best].name)
            return items[best], True
        px, py = self.xy[kind]
        d = np.hypot(px - cx, py - cy)
        for i in np.argsort(d, kind="stable"):
            if d[i] > max_km * 1000:
                break
            if int(i) not in used:
                used.add(int(i))
                self.taken_names.add(items[i].name)
                return items[i], False
        return None, False

    def derived_estate(self, cx: float, cy: float, community_short: str, rng: np.random.Generator) -> str:
        """No real estate left near by: a later phase of a near one (南光花园二期, how estates really
        grow, up to 四期), else the community's name with an estate word (南联雅苑)."""
        px, py = self.xy["estate"]
        d = np.hypot(px - cx, py - cy)
        for i in np.argsort(d, kind="stable")[:6]:
            if d[i] > 1500:
                break
            base = base_name(self.by_kind["estate"][int(i)].name)
            phase = self.phase.get(base, 1)
            while phase < MAX_PHASE:
                phase += 1
                name = f"{base}{textmess.chinese_number(phase)}期"
                if name not in self.taken_names:
                    self.phase[base] = phase
                    self.taken_names.add(name)
                    return name
            self.phase[base] = phase
        for offset in rng.permutation(len(ESTATE_WORDS)):
            name = f"{community_short}{ESTATE_WORDS[int(offset)]}"
            if name not in self.taken_names:
                self.taken_names.add(name)
                return name
        n = 2
        while f"{community_short}{ESTATE_WORDS[0]}{textmess.chinese_number(n)}期" in self.taken_names:
            n += 1
        name = f"{community_short}{ESTATE_WORDS[0]}{textmess.chinese_number(n)}期"
        self.taken_names.add(name)
        return name


def build_world(
    layers: AreaLayers,
    *,
    scale: float,
    rng: np.random.Generator,
    progress: Callable[[str, int, int], None] | None = None,
) -> World:
    grids = layers.grids
    communities = layers.communities
    street_names = {s.code: s.name for s in layers.streets}
    community_index = {c.code: i for i, c in enumerate(communities)}
    grid_community = np.array([community_index[g.parent_code] for g in grids], dtype=np.int32)
    street_of_community = [street_names[c.parent_code] for c in communities]

    places = load_places(layers.district.geometry)
    by_kind: dict[str, list[Place]] = {}
    for p in places:
        by_kind.setdefault(p.kind, []).append(p)

    # --- how many buildings each grid gets, and of which kinds
    n_buildings = scaled(BUILDINGS_TOTAL, scale)
    centroids = shapely.centroid(np.array([g.geometry for g in grids], dtype=object))
    glon, glat = shapely.get_x(centroids), shapely.get_y(centroids)
    cx, cy = to_metres(glon, glat)
    area_m2 = np.array([g.geometry.area for g in grids]) * (M_PER_DEG_LAT**2) * math.cos(math.radians(22.53))
    density = np.array([g.density_weight for g in grids])
    weight = density * area_m2
    per_grid = rng.multinomial(n_buildings, weight / weight.sum())

    estate_aff = 0.15 + _affinity(cx, cy, by_kind.get("estate", []), 400.0)
    village_aff = 0.15 + _affinity(cx, cy, by_kind.get("village", []), 600.0)
    office_aff = 0.15 + _affinity(cx, cy, by_kind.get("office", []), 400.0)
    industrial_aff = 0.15 + _affinity(cx, cy, by_kind.get("industrial", []), 700.0) + 0.5 * (density < 0.5)
    affinity = np.column_stack(
        [
            village_aff,
            estate_aff,
            estate_aff,
            estate_aff,
            np.ones(len(grids)),
            office_aff,
            office_aff,
            industrial_aff,
        ]
    )
    base = KIND_SHARE.copy()
    for _ in range(30):  # calibrate so the district-wide mix matches KIND_SHARE
        p = base * affinity
        p /= p.sum(axis=1, keepdims=True)
        realised = (weight[:, None] * p).sum(axis=0) / weight.sum()
        base *= KIND_SHARE / realised
    p = base * affinity
    p /= p.sum(axis=1, keepdims=True)
    kind_counts = np.array([rng.multinomial(int(n), p[g]) for g, n in enumerate(per_grid)])

    roads = _RoadBook(
        rng, load_roads(), len(communities), np.bincount(grid_community, minlength=len(communities))
    )
    namer = _SiteNamer(places, grids, grid_community)
    village_items = by_kind.get("village", [])
    vx, vy = to_metres(np.array([v.lon for v in village_items]), np.array([v.lat for v in village_items]))

    sites: list[Site] = []
    site_of_key: dict[tuple[int, str, str], int] = {}
    # Lanes are numbered per village name across the district: a village next to two communities must not
    # get the same "1排1号" twice (a standard address text names one place).
    village_lanes: dict[str, int] = {}
    site_counter = np.zeros(len(communities), dtype=np.int64)

    def new_site(community: int, kind: str, name: str, source: str, **extra: object) -> int:
        site_counter[community] += 1
        if site_counter[community] > 9999:
            raise ValueError("More than 9,999 roads/estates in one community: the 4-digit site id overflows.")
        sites.append(Site(community, int(site_counter[community]), kind, name, source, **extra))  # type: ignore[arg-type]
        return len(sites) - 1

    def road_site(community: int, road: int) -> int:
        key = (community, "road", roads.names[road])
        if key not in site_of_key:
            site_of_key[key] = new_site(community, "road", roads.names[road], "real", road=roads.names[road])
        return site_of_key[key]

    b_grid: list[int] = []
    b_kind: list[int] = []
    b_site: list[int] = []
    b_no: list[int] = []
    b_lon: list[NDArray[np.float64]] = []
    b_lat: list[NDArray[np.float64]] = []
    b_road: list[str] = []
    b_road_no: list[int] = []
    b_label: list[str] = []

    def add(
        grid: int,
        kind: int,
        site: int,
        label: str,
        road: str,
        road_no: int,
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
    ) -> None:
        """One building: ``lon``/``lat`` are length-1 slices of a sampled batch."""
        s = sites[site]
        s.building_count += 1
        b_no.append(s.building_count)
        b_grid.append(grid)
        b_kind.append(kind)
        b_site.append(site)
        b_lon.append(lon)
        b_lat.append(lat)
        b_label.append(label)
        b_road.append(road)
        b_road_no.append(road_no)

    total_grids = len(grids)
    for g, grid in enumerate(grids):
        if progress and g % 50 == 0:
            progress("buildings", g, total_grids)
        counts = kind_counts[g]
        if counts.sum() == 0:
            continue
        community = int(grid_community[g])
        sampler = GridSampler(grid.geometry, rng)
        short = communities[community].short_name or communities[community].name.removesuffix("社区")

        # Estates: a grid's towers, mid-rise blocks and villas form estates of ~14 buildings (grids are
        # drawn around estates, so an estate does not straddle grids).
        estate_kinds = np.repeat([TOWER, MIDRISE, VILLA], counts[[TOWER, MIDRISE, VILLA]])
        if len(estate_kinds):
            n_estates = max(1, round(len(estate_kinds) / ESTATE_SIZE))
            sizes = apportion(np.ones(n_estates), len(estate_kinds))
            start = 0
            for size in (int(x) for x in sizes):
                members = estate_kinds[start : start + size]
                start += size
                place, inside = namer.take("estate", g, float(cx[g]), float(cy[g]), max_km=1.5)
                if place is not None:
                    name, source = place.name, "real"
                else:
                    name, source = namer.derived_estate(float(cx[g]), float(cy[g]), short, rng), "derived"
                road = roads.pick_road(community)
                style = (
                    "座" if (members[0] == TOWER and rng.random() < 0.15 and size <= len(LETTERS)) else "栋"
                )
                site = new_site(
                    community,
                    "estate",
                    name,
                    source,
                    road=roads.names[road],
                    road_no=roads.next_number(community, road),
                    label_style=style,
                )
                if inside and place is not None:
                    lon, lat = sampler.around(size, place.lon, place.lat, 90.0)
                else:
                    lon, lat = sampler.around_anywhere(size, 90.0)
                s = sites[site]
                for i, kind in enumerate(members):
                    number = s.building_count + 1
                    label = f"{LETTERS[number - 1]}座" if style == "座" else f"{number}栋"
                    add(g, int(kind), site, label, s.road, s.road_no, lon[i : i + 1], lat[i : i + 1])

        # Village houses: lanes (坊/巷/排) of the nearest real village, or a community 新村 when far.
        left = int(counts[VILLAGE])
        if left > 0:
            if len(village_items):
                dv = np.hypot(vx - cx[g], vy - cy[g])
                nearest = int(np.argmin(dv))
                far = dv[nearest] > 2000
            else:
                far = True
            if far:
                # Far from any known village: the community's own 新村 (围 where the name already ends in 新).
                vname = f"{short}围" if short.endswith("新") else f"{short}新村"
                vsource, vcentre = "derived", None
            else:
                vname, vsource = village_items[nearest].name, "real"
                vp = village_items[nearest]
                vcentre = (vp.lon, vp.lat) if sampler.contains(vp.lon, vp.lat) else None
            key = (community, "village", vname)
            if key not in site_of_key:
                site_of_key[key] = new_site(
                    community,
                    "village",
                    vname,
                    vsource,
                    lane_word=("坊", "巷", "排")[int(rng.integers(0, 3))],
                )
            site = site_of_key[key]
            while left > 0:
                size = min(left, int(rng.integers(6, 30)))
                left -= size
                s = sites[site]
                s.lane_count += 1
                village_lanes[s.name] = village_lanes.get(s.name, 0) + 1
                lane_no = village_lanes[s.name]
                if vcentre is not None and rng.random() < 0.5:
                    lon, lat = sampler.around(size, vcentre[0], vcentre[1], 120.0)
                else:
                    lon, lat = sampler.around_anywhere(size, 60.0)
                lane = textmess.chinese_number(lane_no) if s.lane_word != "排" else str(lane_no)
                for i in range(size):
                    add(
                        g,
                        VILLAGE,
                        site,
                        f"{lane}{s.lane_word}{i + 1}号",
                        "",
                        0,
                        lon[i : i + 1],
                        lat[i : i + 1],
                    )

        # Office towers: a real tower group (A座, B座 …) when one is near, else numbered road buildings.
        left = int(counts[OFFICE])
        while left > 0:
            size = min(left, 1 if rng.random() < 0.5 else int(rng.integers(2, 4)))
            left -= size
            place, inside = namer.take("office", g, float(cx[g]), float(cy[g]), max_km=1.0)
            if place is None:
                lon, lat = sampler.uniform(size)
                for i in range(size):
                    road = roads.pick_road(community)
                    add(
                        g,
                        OFFICE,
                        road_site(community, road),
                        "",
                        roads.names[road],
                        roads.next_number(community, road),
                        lon[i : i + 1],
                        lat[i : i + 1],
                    )
                continue
            road = roads.pick_road(community)
            number = roads.next_number(community, road)
            site = new_site(community, "office", place.name, "real", road=roads.names[road], road_no=number)
            if inside:
                lon, lat = sampler.around(size, place.lon, place.lat, 40.0)
            else:
                lon, lat = sampler.uniform(size)
            for i in range(size):
                label = f"{LETTERS[i]}座" if size > 1 else ""
                add(g, OFFICE, site, label, roads.names[road], number, lon[i : i + 1], lat[i : i + 1])

        # Industrial parks: a real park near by, else the community's own 工业区; 1栋 … N栋.
        left = int(counts[INDUSTRIAL])
        if left > 0:
            key = (community, "industrial", "")
            if key not in site_of_key:
                place, _ = namer.take("industrial", g, float(cx[g]), float(cy[g]), max_km=1.5)
                road = roads.pick_road(community)
                pname, psource = (place.name, "real") if place else (f"{short}工业区", "derived")
                site_of_key[key] = new_site(
                    community,
                    "industrial",
                    pname,
                    psource,
                    road=roads.names[road],
                    road_no=roads.next_number(community, road),
                )
            site = site_of_key[key]
            s = sites[site]
            lon, lat = sampler.around_anywhere(left, 120.0)
            for i in range(left):
                add(
                    g,
                    INDUSTRIAL,
                    site,
                    f"{s.building_count + 1}栋",
                    s.road,
                    s.road_no,
                    lon[i : i + 1],
                    lat[i : i + 1],
                )

        # Road buildings: 商住楼 and shop buildings with their own 门牌号.
        for kind in (MIXED, COMMERCIAL):
            left = int(counts[kind])
            if left == 0:
                continue
            lon, lat = sampler.uniform(left)
            for i in range(left):
                road = roads.pick_road(community)
                site = road_site(community, road)
                add(
                    g,
                    kind,
                    site,
                    "",
                    roads.names[road],
                    roads.next_number(community, road),
                    lon[i : i + 1],
                    lat[i : i + 1],
                )
    if progress:
        progress("buildings", total_grids, total_grids)

    # Buildings were appended grid by grid; keep that order (grid code, then creation order).
    world = World(
        layers=layers,
        grids=grids,
        communities=communities,
        street_name_of_community=street_of_community,
        grid_community=grid_community,
        sites=sites,
        b_grid=np.array(b_grid, dtype=np.int32),
        b_kind=np.array(b_kind, dtype=np.int8),
        b_site=np.array(b_site, dtype=np.int32),
        b_no=np.array(b_no, dtype=np.int32),
        b_lon=np.concatenate(b_lon) if b_lon else np.zeros(0),
        b_lat=np.concatenate(b_lat) if b_lat else np.zeros(0),
        b_floors=np.zeros(len(b_grid), dtype=np.int16),
        b_units=np.zeros(len(b_grid), dtype=np.int16),
        b_first=np.zeros(len(b_grid), dtype=np.int64),
        b_count=np.zeros(len(b_grid), dtype=np.int32),
        b_road=b_road,
        b_road_no=b_road_no,
        b_label=b_label,
    )
    if len(b_label) != len(b_grid) or len(world.b_lon) != len(b_grid):
        raise AssertionError("building arrays out of step")
    _name_buildings(world, rng)
    _build_dwellings(world, scale=scale, rng=rng)
    return world


def _name_buildings(world: World, rng: np.random.Generator) -> None:
    n = world.n_buildings
    # An opaque 25-digit external code (Shenzhen keeps its own house codes): region prefix, a
    # scrambled unique serial, then random digits. Unique by construction of the serial.
    serial = rng.permutation(n)
    tail = rng.integers(0, 10**10, size=n, dtype=np.int64)
    middle = rng.integers(0, 1000, size=n)
    for b in range(n):
        site = world.sites[int(world.b_site[b])]
        community = world.communities[site.community]
        world.b_std_code.append(f"{community.code}{site.site_id:04d}{int(world.b_no[b]):04d}")
        world.b_house25.append(f"4403{int(middle[b]):03d}{int(serial[b]):08d}{int(tail[b]):010d}")
        world.b_parts.append(
            textmess.Parts(
                street=world.street_name_of_community[site.community],
                community=community.name,
                road=world.b_road[b],
                road_no=world.b_road_no[b],
                site=site.name if site.kind != "road" else "",
                site_kind=site.kind,
                label=world.b_label[b],
            )
        )


def _build_dwellings(world: World, *, scale: float, rng: np.random.Generator) -> None:
    n_dwellings = scaled(DWELLINGS_TOTAL, scale)
    n_rented = scaled(RENTED_TOTAL, scale)
    kind = world.b_kind.astype(np.int64)
    n_b = world.n_buildings
    if n_dwellings < n_b:
        raise ValueError("Scale too small: fewer dwellings than buildings.")
    # Dwellings per building: villas hold one; the rest share the remainder by kind-typical size.
    counts = np.ones(n_b, dtype=np.int64)
    others = np.flatnonzero(kind != VILLA)
    w = KIND_DWELLINGS[kind[others]] * rng.lognormal(0.0, 0.45, len(others))
    counts[others] += apportion(np.maximum(w - 1.0, 0.05), n_dwellings - n_b)

    units_out = np.zeros(n_b, dtype=np.int16)
    floors_out = np.zeros(n_b, dtype=np.int16)
    d_unit: list[NDArray[np.int64]] = []
    d_floor: list[NDArray[np.int64]] = []
    d_k: list[NDArray[np.int64]] = []
    d_commercial: list[NDArray[np.bool_]] = []
    r_floor_target = rng.random(n_b)
    r_misc = rng.random((n_b, 4))
    for b in range(n_b):
        n = int(counts[b])
        k = int(kind[b])
        u1 = r_misc[b]
        shops = 0
        units = 1
        first_floor = 1
        if k == VILLAGE:
            shops = 1 + int(u1[0] * 3) if (n >= 5 and u1[1] < 0.45) else 0
            floors_target = 4 + int(r_floor_target[b] * 6) - (1 if shops else 0)
            first_floor = 2 if shops else 1
            commercial_rest = False
        elif k in (TOWER, MIDRISE):
            if k == TOWER:
                units = int(np.searchsorted([0.35, 0.75, 0.93, 1.0], u1[0])) + 1
                floors_target = (
                    (18 + int(r_floor_target[b] * 17)) if u1[1] > 0.2 else 9 + int(r_floor_target[b] * 9)
                )
                first_floor = 2 if u1[2] < 0.7 else 3
            else:
                units = 1 + int(u1[0] * 3)
                floors_target = 5 + int(r_floor_target[b] * 5)
            units = max(1, min(units, n))
            commercial_rest = False
        elif k == VILLA:
            floors_target = 1
            commercial_rest = False
        elif k == MIXED:
            shops = min(n - 1, 2 + int(u1[0] * 5)) if n >= 4 else 0
            units = 2 if (u1[1] < 0.3 and n - shops >= 20) else 1
            floors_target = 7 + int(r_floor_target[b] * 22) - 1
            first_floor = 2 if shops else 1
            commercial_rest = False
        elif k == OFFICE:
            floors_target = 12 + int(r_floor_target[b] * 34)
            first_floor = 2 + int(u1[0] * 3)
            commercial_rest = True
        elif k == COMMERCIAL:
            floors_target = 1 + int(r_floor_target[b] * 5)
            commercial_rest = True
        else:  # industrial
            floors_target = 3 + int(r_floor_target[b] * 6)
            commercial_rest = True
        rest = n - shops
        per_unit = [rest // units + (1 if j < rest % units else 0) for j in range(units)]
        rooms = max(1, min(99, math.ceil(max(per_unit) / max(1, floors_target))))
        unit_list: list[NDArray[np.int64]] = []
        floor_list: list[NDArray[np.int64]] = []
        k_list: list[NDArray[np.int64]] = []
        if shops:
            unit_list.append(np.zeros(shops, dtype=np.int64))
            floor_list.append(np.ones(shops, dtype=np.int64))
            k_list.append(np.arange(1, shops + 1, dtype=np.int64))
        top = 1
        for j, m in enumerate(per_unit):
            if m == 0:
                continue
            idx = np.arange(m, dtype=np.int64)
            unit_list.append(np.full(m, (j + 1) if units > 1 else 0, dtype=np.int64))
            fl = first_floor + idx // rooms
            floor_list.append(fl)
            k_list.append(idx % rooms + 1)
            top = max(top, int(fl[-1]))
        d_unit.extend(unit_list)
        d_floor.extend(floor_list)
        d_k.extend(k_list)
        flags = np.zeros(n, dtype=bool)
        flags[:shops] = True
        if commercial_rest:
            flags[:] = True
        d_commercial.append(flags)
        units_out[b] = units
        # Villas: a whole house of 2–4 floors is one dwelling, registered on its ground floor.
        floors_out[b] = 2 + int(u1[3] * 3) if k == VILLA else max(top, 1)

    world.b_count = counts.astype(np.int32)
    world.b_first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    world.b_units = units_out
    world.b_floors = floors_out
    world.d_building = np.repeat(np.arange(n_b, dtype=np.int32), counts)
    world.d_unit = np.concatenate(d_unit).astype(np.int16)
    world.d_floor = np.concatenate(d_floor).astype(np.int16)
    world.d_room = (world.d_floor.astype(np.int32) * 100 + np.concatenate(d_k)).astype(np.int32)
    commercial = np.concatenate(d_commercial)

    # Uses: exactly the published number rented, a vacancy share, the rest owner-occupied.
    use = np.full(n_dwellings, USE_OWNER, dtype=np.int8)
    use[commercial] = USE_COMMERCIAL
    d_kind = kind[world.d_building]
    rent_w = np.where(commercial, 0.0, RENT_WEIGHT[d_kind])
    rented = weighted_pick(rng, rent_w, n_rented)
    use[rented] = USE_RENTED
    residential_left = use == USE_OWNER
    n_vacant = round(VACANT_SHARE * int((~commercial).sum()))
    vac_w = np.where(residential_left, VACANT_WEIGHT[d_kind], 0.0)
    use[weighted_pick(rng, vac_w, min(n_vacant, int((vac_w > 0).sum())))] = USE_VACANT
    world.d_use = use
