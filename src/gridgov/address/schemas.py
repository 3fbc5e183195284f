"""Pydantic shapes of standard addresses going out through the API."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict


class AddressOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    level: str
    text: str
    external_code: str | None = None
    street_code: str | None = None
    community_code: str | None = None
    grid_code: str | None = None
    road: str | None = None
    house_number: str | None = None
    site_name: str | None = None
    building: str | None = None
    unit: str | None = None
    floor: int | None = None
    room: str | None = None
    use: str | None = None
    lon: float | None = None
    lat: float | None = None
    valid_from: date | None = None
    valid_to: date | None = None
