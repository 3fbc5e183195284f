"""Area routes: hierarchy, GeoJSON polygons, search and point location. Thin: validate, call, return.

Every route reads through the caller's area scope; ``openapi_extra["x-scope"]`` says how, and the
route-walking test (tests/test_scope_walk.py) probes each route accordingly.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from gridgov.accounts.deps import require
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.areas import service
from gridgov.areas.schemas import AreaDetail, AreaNode, AreaStats, LocateResult, SearchHit
from gridgov.core.deps import DbSession

router = APIRouter(tags=["areas"])

Reader = Annotated[Principal, require(Permission.areas_read)]
AreaCode = Annotated[str, "12-digit area code or 15-digit grid code"]
SCOPE_PATH = {"x-scope": "area:path"}
SCOPE_LIST = {"x-scope": "area:list"}
SCOPE_POINT = {"x-scope": "area:point"}


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


@router.get(
    "/api/areas",
    response_model=AreaNode,
    openapi_extra=SCOPE_LIST,
    summary="The district → street → community tree, within my scope",
)
def area_tree(session: DbSession, principal: Reader) -> AreaNode:
    return service.area_tree(session, scope=principal.scope)


@router.get(
    "/api/areas/stats",
    response_model=AreaStats,
    openapi_extra={"x-scope": "reference"},
    summary="District-wide counts of streets, communities and grids",
)
def area_stats(session: DbSession, principal: Reader) -> AreaStats:
    return service.area_stats(session)


@router.get(
    "/api/areas/search",
    response_model=list[SearchHit],
    openapi_extra=SCOPE_LIST,
    summary="Find areas by name or code prefix, within my scope",
)
def search_areas(
    session: DbSession,
    principal: Reader,
    q: Annotated[str, Query(min_length=1, max_length=64, description="Part of a name, or a code prefix")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[SearchHit]:
    return service.search_areas(session, q, scope=principal.scope, limit=limit)


@router.get(
    "/api/areas/{code}",
    response_model=AreaDetail,
    openapi_extra=SCOPE_PATH,
    summary="One area with its children and counts",
)
def area_detail(session: DbSession, principal: Reader, code: AreaCode) -> AreaDetail:
    return service.area_detail(session, code, scope=principal.scope)


@router.get(
    "/api/areas/{code}/children.geojson",
    response_class=GeoJSONResponse,
    openapi_extra=SCOPE_PATH,
    summary="Polygons of the area's direct children",
)
def area_children_geojson(session: DbSession, principal: Reader, code: AreaCode) -> Any:
    areas = service.children(session, code, scope=principal.scope)
    return GeoJSONResponse(service.feature_collection(areas, session))


@router.get(
    "/api/areas/{code}/grids.geojson",
    response_class=GeoJSONResponse,
    openapi_extra=SCOPE_PATH,
    summary="Polygons of every grid inside the area",
)
def area_grids_geojson(session: DbSession, principal: Reader, code: AreaCode) -> Any:
    grids = service.grids_under(session, code, scope=principal.scope)
    return GeoJSONResponse(service.feature_collection(grids, session))


@router.get(
    "/api/locate",
    response_model=LocateResult,
    openapi_extra=SCOPE_POINT,
    summary="Which grid, community and street a point is in",
)
def locate(
    session: DbSession,
    principal: Reader,
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude")],
    crs: Annotated[str, Query(description="wgs84 (GPS) or gcj02 (Chinese map apps)")] = "wgs84",
) -> LocateResult:
    return service.locate_point(session, lon, lat, crs, scope=principal.scope)
