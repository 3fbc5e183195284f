"""Area business rules: loading the hierarchy, reading it, and locating points in it."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import shape
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from gridgov.areas import crs as crs_module
from gridgov.areas.locate import OUTSIDE, Locator
from gridgov.areas.models import Community, District, Grid, Street
from gridgov.areas.schemas import (
    AreaCounts,
    AreaDetail,
    AreaNode,
    AreaRef,
    AreaStats,
    Level,
    LocateResult,
    SearchHit,
)
from gridgov.areas.scope import AreaScope
from gridgov.areas.synthesis import AreaLayers, AreaShape, area_km2, nanshan_layers
from gridgov.core.errors import Forbidden, InvalidInput, NotFound

AreaRow = District | Street | Community | Grid
MODEL_BY_LEVEL: dict[str, Any] = {
    "district": District,
    "street": Street,
    "community": Community,
    "grid": Grid,
}
LEVELS: tuple[Level, ...] = ("district", "street", "community", "grid")
OUTSIDE_REASON = "outside the district"


def level_of_code(code: str) -> Level:
    """The level a code denotes, from its shape alone (national 12-digit codes; grids 15 digits)."""
    if not code.isdigit() or len(code) not in (12, 15):
        raise InvalidInput(
            f"'{code}' is not an area code: expected 12 digits (district, street, community) "
            "or 15 digits (grid)"
        )
    if len(code) == 15:
        return "grid"
    if code[6:] == "000000":
        return "district"
    if code[9:] == "000":
        return "street"
    return "community"


# ---------------------------------------------------------------------------------------------------------
# Loading


def _common_columns(area: AreaShape) -> dict[str, Any]:
    centroid = area.geometry.representative_point() if area.level != "district" else area.geometry.centroid
    return {
        "code": area.code,
        "name": area.name,
        "geometry": shapely.to_geojson(area.geometry),
        "area_km2": round(area_km2(area.geometry), 6),
        "centroid_lon": round(float(centroid.x), 7),
        "centroid_lat": round(float(centroid.y), 7),
        "synthetic": area.synthetic,
    }


def load_areas(session: Session, layers: AreaLayers) -> AreaStats:
    """Replace the hierarchy with ``layers`` in one transaction (idempotent)."""
    for model in (Grid, Community, Street, District):
        session.execute(delete(model))
    session.flush()
    session.add(District(**_common_columns(layers.district), parent_code=layers.district.parent_code))
    session.flush()
    session.add_all(Street(**_common_columns(s), district_code=s.parent_code) for s in layers.streets)
    session.flush()
    session.add_all(
        Community(
            **_common_columns(c),
            street_code=c.parent_code,
            short_name=c.short_name,
            anchor_lon=c.anchor[0] if c.anchor else None,
            anchor_lat=c.anchor[1] if c.anchor else None,
            anchor_suspect=c.anchor_suspect,
        )
        for c in layers.communities
    )
    session.flush()
    session.bulk_insert_mappings(
        Grid,
        [
            {
                **_common_columns(g),
                "community_code": g.parent_code,
                "sequence": g.sequence,
                "density_weight": g.density_weight,
            }
            for g in layers.grids
        ],
    )
    session.flush()
    invalidate_area_index()
    # Bulk inserts bypass the ORM's write auditing: callers record one `area.load` entry (audit sits
    # below areas, so areas does not import it).
    return area_stats(session)


def load_nanshan_areas(session: Session) -> AreaStats:
    return load_areas(session, nanshan_layers())


def areas_loaded(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(Grid)))


# ---------------------------------------------------------------------------------------------------------
# Reading


def area_stats(session: Session) -> AreaStats:
    district = session.scalars(select(District)).first()
    if district is None:
        raise NotFound("No areas are loaded yet: run `gridgov demo load` (or `gridgov areas load`).")
    synthetic = bool(session.scalar(select(func.count()).select_from(Grid).where(Grid.synthetic)))
    return AreaStats(
        district=f"{district.name} ({district.code})",
        streets=session.scalar(select(func.count()).select_from(Street)) or 0,
        communities=session.scalar(select(func.count()).select_from(Community)) or 0,
        grids=session.scalar(select(func.count()).select_from(Grid)) or 0,
        area_km2=round(district.area_km2, 3),
        synthetic_geometry=synthetic,
    )


def get_area(session: Session, code: str) -> AreaRow:
    level = level_of_code(code)
    area: AreaRow | None = session.get(MODEL_BY_LEVEL[level], code)
    if area is None:
        raise NotFound(f"No {level} with code {code}")
    return area


def visible_area(session: Session, code: str, scope: AreaScope) -> AreaRow:
    """The area, when it lies in the scope or contains part of it (my street's district); 403 otherwise."""
    area = get_area(session, code)
    if not scope.overlaps(code):
        raise Forbidden(f"The {level_of_code(code)} {code} lies outside your area scope")
    return area


def parent_code_of(area: AreaRow) -> str | None:
    if isinstance(area, Street):
        return area.district_code
    if isinstance(area, Community):
        return area.street_code
    if isinstance(area, Grid):
        return area.community_code
    return None


def _children_query(level: Level, code: str) -> Any:
    if level == "district":
        return select(Street).where(Street.district_code == code).order_by(Street.code)
    if level == "street":
        return select(Community).where(Community.street_code == code).order_by(Community.code)
    if level == "community":
        return select(Grid).where(Grid.community_code == code).order_by(Grid.code)
    return None


def children(session: Session, code: str, *, scope: AreaScope) -> list[AreaRow]:
    """Direct children of a visible area that the scope overlaps."""
    query = _children_query(level_of_code(code), code)
    visible_area(session, code, scope)
    return [] if query is None else [a for a in session.scalars(query) if scope.overlaps(a.code)]


def grids_under(session: Session, code: str, *, scope: AreaScope) -> list[Grid]:
    """Grids inside a visible area and inside the scope."""
    level = level_of_code(code)
    visible_area(session, code, scope)
    query = select(Grid).order_by(Grid.code)
    if level == "street":
        query = query.join(Community, Grid.community_code == Community.code).where(
            Community.street_code == code
        )
    elif level == "community":
        query = query.where(Grid.community_code == code)
    elif level == "grid":
        query = query.where(Grid.code == code)
    return list(session.scalars(query.where(scope.clause(Grid.code))))


def _level(area: AreaRow) -> Level:
    return level_of_code(area.code)


def ref(area: AreaRow) -> AreaRef:
    return AreaRef(code=area.code, name=area.name, level=_level(area))


def ancestors(session: Session, area: AreaRow) -> list[AreaRef]:
    """From the district down to the area's parent."""
    chain: list[AreaRef] = []
    parent = parent_code_of(area)
    while parent is not None:
        row: AreaRow | None = session.get(MODEL_BY_LEVEL[level_of_code(parent)], parent)
        if row is None:
            break
        chain.append(ref(row))
        parent = parent_code_of(row)
    return list(reversed(chain))


def counts_under(session: Session, area: AreaRow) -> AreaCounts:
    level = _level(area)
    if level == "district":
        return AreaCounts(
            streets=session.scalar(select(func.count()).select_from(Street)) or 0,
            communities=session.scalar(select(func.count()).select_from(Community)) or 0,
            grids=session.scalar(select(func.count()).select_from(Grid)) or 0,
        )
    if level == "street":
        communities = (
            session.scalar(
                select(func.count()).select_from(Community).where(Community.street_code == area.code)
            )
            or 0
        )
        grids = (
            session.scalar(
                select(func.count())
                .select_from(Grid)
                .join(Community, Grid.community_code == Community.code)
                .where(Community.street_code == area.code)
            )
            or 0
        )
        return AreaCounts(communities=communities, grids=grids)
    if level == "community":
        grids = (
            session.scalar(select(func.count()).select_from(Grid).where(Grid.community_code == area.code))
            or 0
        )
        return AreaCounts(grids=grids)
    return AreaCounts()


def area_detail(session: Session, code: str, *, scope: AreaScope) -> AreaDetail:
    area = visible_area(session, code, scope)
    return AreaDetail(
        code=area.code,
        name=area.name,
        level=_level(area),
        parent_code=parent_code_of(area),
        area_km2=area.area_km2,
        centroid=(area.centroid_lon, area.centroid_lat),
        synthetic=area.synthetic,
        children=[ref(child) for child in children(session, code, scope=scope)],
        counts=counts_under(session, area),
        ancestors=ancestors(session, area),
    )


def area_tree(session: Session, *, scope: AreaScope) -> AreaNode:
    """District → streets → communities (with grid counts) that the scope overlaps; grids left out."""
    district = session.scalars(select(District)).first()
    if district is None:
        raise NotFound("No areas are loaded yet: run `gridgov demo load`.")
    grid_counts: dict[str, int] = {
        code: count
        for code, count in session.execute(
            select(Grid.community_code, func.count())
            .where(scope.clause(Grid.code))
            .group_by(Grid.community_code)
        )
    }
    communities_by_street: dict[str, list[AreaNode]] = {}
    for community in session.scalars(select(Community).order_by(Community.code)):
        if not scope.overlaps(community.code):
            continue
        communities_by_street.setdefault(community.street_code, []).append(
            AreaNode(
                code=community.code,
                name=community.name,
                level="community",
                synthetic=community.synthetic,
                grid_count=grid_counts.get(community.code, 0),
            )
        )
    streets = [
        AreaNode(
            code=street.code,
            name=street.name,
            level="street",
            synthetic=street.synthetic,
            grid_count=sum(c.grid_count or 0 for c in communities_by_street.get(street.code, [])),
            children=communities_by_street.get(street.code, []),
        )
        for street in session.scalars(select(Street).order_by(Street.code))
        if scope.overlaps(street.code)
    ]
    return AreaNode(
        code=district.code,
        name=district.name,
        level="district",
        synthetic=district.synthetic,
        grid_count=sum(s.grid_count or 0 for s in streets),
        children=streets,
    )


def feature_collection(areas: Sequence[AreaRow], session: Session | None = None) -> dict[str, Any]:
    """GeoJSON FeatureCollection of areas; grids also carry their community and street codes."""
    street_of_community: dict[str, str] = {}
    if session is not None and any(isinstance(a, Grid) for a in areas):
        street_of_community = {
            code: street for code, street in session.execute(select(Community.code, Community.street_code))
        }
    features = []
    for area in areas:
        properties: dict[str, Any] = {
            "code": area.code,
            "name": area.name,
            "level": _level(area),
            "parent_code": parent_code_of(area),
            "area_km2": area.area_km2,
            "synthetic": area.synthetic,
        }
        if isinstance(area, Grid):
            properties["community_code"] = area.community_code
            properties["street_code"] = street_of_community.get(area.community_code)
            properties["sequence"] = area.sequence
        features.append({"type": "Feature", "geometry": json.loads(area.geometry), "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def search_areas(session: Session, query: str, *, scope: AreaScope, limit: int = 20) -> list[SearchHit]:
    """Areas whose name contains ``query`` or whose code starts with it; bigger areas first."""
    text = query.strip()
    if not text:
        raise InvalidInput("Type part of an area name or code to search")
    if len(text) > 64:
        raise InvalidInput("Search text is too long (64 characters at most)")
    limit = max(1, min(limit, 100))
    hits: list[SearchHit] = []
    pattern = f"%{text.replace('%', '').replace('_', '')}%"
    for level in LEVELS:
        model = MODEL_BY_LEVEL[level]
        if len(hits) >= limit:
            break
        rows: Sequence[AreaRow] = session.scalars(
            select(model)
            .where(or_(model.name.like(pattern), model.code.like(f"{text}%")))
            .order_by(model.code)
            .limit(limit - len(hits) + 200)  # room for rows the scope filters out below
        ).all()
        hits.extend(
            SearchHit(
                code=r.code,
                name=r.name,
                level=level,
                parent_code=parent_code_of(r),
                centroid=(r.centroid_lon, r.centroid_lat),
            )
            for r in rows
            if scope.overlaps(r.code)
        )
        del hits[limit:]
    return hits


def _rows_of_level(session: Session, level: str) -> list[AreaRow]:
    if level not in ("street", "community", "grid"):
        raise InvalidInput(f"Cannot export level '{level}': choose street, community or grid")
    model = MODEL_BY_LEVEL[level]
    return list(session.scalars(select(model).order_by(model.code)))


def export_geojson(session: Session, level: str) -> dict[str, Any]:
    return feature_collection(_rows_of_level(session, level), session)


EXPORT_HEADER = [
    "code",
    "name",
    "level",
    "parent_code",
    "area_km2",
    "centroid_lon",
    "centroid_lat",
    "synthetic",
]


def export_rows(session: Session, level: str) -> tuple[list[str], list[list[Any]]]:
    """A spreadsheet of one level: what an operator checks codes and names against."""
    rows = [
        [
            a.code,
            a.name,
            level,
            parent_code_of(a),
            round(a.area_km2, 4),
            a.centroid_lon,
            a.centroid_lat,
            "synthetic" if a.synthetic else "real",
        ]
        for a in _rows_of_level(session, level)
    ]
    return EXPORT_HEADER, rows


# ---------------------------------------------------------------------------------------------------------
# Location


@dataclass(frozen=True)
class GridRecord:
    code: str
    name: str
    community: AreaRef
    street: AreaRef
    district: AreaRef


class AreaIndex:
    """The grids of the database in a Locator, with their hierarchy, for point → area answers."""

    def __init__(self, records: list[GridRecord], geometries: list[Any]) -> None:
        self.records = records
        self.codes = np.array([r.code for r in records])
        self.locator = Locator(geometries)

    @classmethod
    def from_session(cls, session: Session) -> AreaIndex:
        district = session.scalars(select(District)).first()
        if district is None:
            raise NotFound("No areas are loaded yet: run `gridgov demo load`.")
        district_ref = ref(district)
        streets = {s.code: ref(s) for s in session.scalars(select(Street))}
        communities = {c.code: (ref(c), c.street_code) for c in session.scalars(select(Community))}
        records: list[GridRecord] = []
        geometries: list[Any] = []
        for grid in session.scalars(select(Grid).order_by(Grid.code)):
            community, street_code = communities[grid.community_code]
            records.append(GridRecord(grid.code, grid.name, community, streets[street_code], district_ref))
            geometries.append(shape(json.loads(grid.geometry)))
        return cls(records, geometries)

    def locate(self, lon: float, lat: float, crs: str = "wgs84") -> LocateResult:
        wgs_lon, wgs_lat = crs_module.to_wgs84(lon, lat, crs)
        index = self.locator.locate_one(wgs_lon, wgs_lat)
        base = {"lon": wgs_lon, "lat": wgs_lat, "crs": crs.strip().lower()}
        if index == OUTSIDE:
            return LocateResult(inside=False, reason=OUTSIDE_REASON, **base)
        record = self.records[index]
        return LocateResult(
            inside=True,
            grid=AreaRef(code=record.code, name=record.name, level="grid"),
            community=record.community,
            street=record.street,
            district=record.district,
            **base,
        )

    def locate_many(self, lons: ArrayLike, lats: ArrayLike, crs: str = "wgs84") -> NDArray[np.str_]:
        """Grid codes for many points ('' where outside the district)."""
        x = np.asarray(lons, dtype=float)
        y = np.asarray(lats, dtype=float)
        if crs.strip().lower() == "gcj02":
            x, y = crs_module.gcj02_to_wgs84_array(x, y)
        elif crs.strip().lower() != "wgs84":
            crs_module.to_wgs84(0.0, 0.0, crs)  # raises the uniform "unknown crs" error
        indices = self.locator.locate_many(x, y)
        codes = np.where(indices >= 0, self.codes[np.clip(indices, 0, None)], "")
        return np.asarray(codes, dtype=np.str_)


_index_lock = threading.Lock()
_index_cache: dict[str, AreaIndex] = {}


def area_index(session: Session) -> AreaIndex:
    """The cached index for this database; rebuilt after ``load_areas``."""
    key = str(session.get_bind().engine.url)
    with _index_lock:
        index = _index_cache.get(key)
        if index is None:
            index = AreaIndex.from_session(session)
            _index_cache[key] = index
        return index


def invalidate_area_index() -> None:
    with _index_lock:
        _index_cache.clear()


def locate_point(
    session: Session, lon: float, lat: float, crs: str = "wgs84", *, scope: AreaScope
) -> LocateResult:
    """Which grid a point is in; a point inside the district but outside the scope is refused (403)."""
    result = area_index(session).locate(lon, lat, crs)
    if result.grid is not None and not scope.covers(result.grid.code):
        raise Forbidden("That point lies outside your area scope")
    return result
