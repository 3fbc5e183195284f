"""Area tables: one per level, codes are the national 12-digit statistical codes (grids: 15 digits)."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gridgov.core.db import Base


class AreaColumns:
    """Columns every level shares. Geometry is GeoJSON text in WGS84 so SQLite and PostgreSQL agree."""

    code: Mapped[str] = mapped_column(String(15), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    geometry: Mapped[str] = mapped_column(Text)
    area_km2: Mapped[float] = mapped_column(Float)
    centroid_lon: Mapped[float] = mapped_column(Float)
    centroid_lat: Mapped[float] = mapped_column(Float)
    # True where the polygon is synthesised (no public street/community/grid boundaries exist).
    synthetic: Mapped[bool] = mapped_column(Boolean, default=True)


class District(AreaColumns, Base):
    __tablename__ = "area_district"

    parent_code: Mapped[str] = mapped_column(String(12))


class Street(AreaColumns, Base):
    __tablename__ = "area_street"

    district_code: Mapped[str] = mapped_column(ForeignKey("area_district.code"), index=True)


class Community(AreaColumns, Base):
    __tablename__ = "area_community"

    street_code: Mapped[str] = mapped_column(ForeignKey("area_street.code"), index=True)
    short_name: Mapped[str] = mapped_column(String(32))
    # Approximate real location the synthetic polygon was grown around, when one is known.
    anchor_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    anchor_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    anchor_suspect: Mapped[bool] = mapped_column(Boolean, default=False)


class Grid(AreaColumns, Base):
    __tablename__ = "area_grid"

    community_code: Mapped[str] = mapped_column(ForeignKey("area_community.code"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    # Relative density (population proxy) the grid was sized by; denser places get smaller grids.
    density_weight: Mapped[float] = mapped_column(Float)
