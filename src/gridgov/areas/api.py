"""Area routes: hierarchy, GeoJSON polygons, search and point location. Thin: validate, call, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from gridgov.areas import service
from gridgov.areas.schemas import AreaDetail, AreaNode, AreaStats, LocateResult, SearchHit
from gridgov.web.deps import get_session

router = APIRouter(tags=["areas"])
DbSession = Annotated[Session, Depends(get_session)]
AreaCode = Annotated[str, "12-digit area code or 15-digit grid code"]


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


@router.get("/api/areas", response_model=AreaNode, summary="The district → street → community tree")
def area_tree(session: DbSession) -> AreaNode:
    return service.area_tree(session)


@router.get("/api/areas/stats", response_model=AreaStats, summary="Counts of streets, communities and grids")
def area_stats(session: DbSession) -> AreaStats:
    return service.area_stats(session)


@router.get("/api/areas/search", response_model=list[SearchHit], summary="Find areas by name or code prefix")
def search_areas(
    session: DbSession,
    q: Annotated[str, Query(min_length=1, max_length=64, description="Part of a name, or a code prefix")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[SearchHit]:
    return service.search_areas(session, q, limit=limit)


@router.get("/api/areas/{code}", response_model=AreaDetail, summary="One area with its children and counts")
def area_detail(session: DbSession, code: AreaCode) -> AreaDetail:
    return service.area_detail(session, code)


@router.get(
    "/api/areas/{code}/children.geojson",
    response_class=GeoJSONResponse,
    summary="Polygons of the area's direct children",
)
def area_children_geojson(session: DbSession, code: AreaCode) -> Any:
    return GeoJSONResponse(service.feature_collection(service.children(session, code), session))


@router.get(
    "/api/areas/{code}/grids.geojson",
    response_class=GeoJSONResponse,
    summary="Polygons of every grid inside the area",
)
def area_grids_geojson(session: DbSession, code: AreaCode) -> Any:
    return GeoJSONResponse(service.feature_collection(service.grids_under(session, code), session))


@router.get(
    "/api/locate", response_model=LocateResult, summary="Which grid, community and street a point is in"
)
def locate(
    session: DbSession,
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude")],
    crs: Annotated[str, Query(description="wgs84 (GPS) or gcj02 (Chinese map apps)")] = "wgs84",
) -> LocateResult:
    return service.locate_point(session, lon, lat, crs)
