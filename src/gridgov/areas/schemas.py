"""Pydantic shapes of area data going out through the API and the CLI."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Level = Literal["district", "street", "community", "grid"]


class AreaRef(BaseModel):
    code: str
    name: str
    level: Level


class AreaNode(AreaRef):
    synthetic: bool
    grid_count: int | None = None
    children: list[AreaNode] = Field(default_factory=list)


class AreaCounts(BaseModel):
    streets: int = 0
    communities: int = 0
    grids: int = 0


class AreaDetail(AreaRef):
    parent_code: str | None
    area_km2: float
    centroid: tuple[float, float]
    synthetic: bool
    children: list[AreaRef]
    counts: AreaCounts
    ancestors: list[AreaRef] = Field(default_factory=list, description="From the district down to the parent")


class SearchHit(AreaRef):
    parent_code: str | None
    centroid: tuple[float, float]


class LocateResult(BaseModel):
    inside: bool
    lon: float = Field(description="WGS84 longitude actually located")
    lat: float = Field(description="WGS84 latitude actually located")
    crs: str = Field(description="The coordinate system the point was given in")
    grid: AreaRef | None = None
    community: AreaRef | None = None
    street: AreaRef | None = None
    district: AreaRef | None = None
    reason: str | None = None


class AreaStats(BaseModel):
    district: str
    streets: int
    communities: int
    grids: int
    area_km2: float
    synthetic_geometry: bool
