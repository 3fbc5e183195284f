"""Pydantic shapes of standard addresses going in and out through the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridgov.address.service import AddressRecord
from gridgov.core.ids import MAX_ROW_ID


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
    status: str = Field("active", description="active, or retired (no longer matched or searched)")


class AliasOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    alias: str
    kind: str = Field(description="common (俗称) or former (an old name, still matched)")
    valid_from: date | None = None
    valid_to: date | None = None


class AddressDetail(AddressOut):
    """One address with its area names, parent, replacement, names and change number."""

    street_text: str | None = None
    community_text: str | None = None
    parent_code: str | None = None
    replaced_by_code: str | None = Field(
        None, description="the address replacing a retired one (when it lies in your scope)"
    )
    aliases: list[AliasOut] = []
    revision: int = Field(0, description="change number of the latest change; send it back to edit safely")
    updated_at: datetime | None = None

    @classmethod
    def of(cls, record: AddressRecord) -> AddressDetail:
        base = AddressOut.model_validate(record.address).model_dump()
        return cls(
            **base,
            street_text=record.address.street_text,
            community_text=record.address.community_text,
            parent_code=record.parent_code,
            replaced_by_code=record.replaced_by_code,
            aliases=[AliasOut.model_validate(a) for a in record.aliases],
            revision=record.address.revision,
            updated_at=record.address.updated_at,
        )


_Text = Field(min_length=1, max_length=256, description="The standard address text")


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_code: str | None = Field(None, max_length=40)
    road: str | None = Field(None, max_length=64)
    house_number: str | None = Field(None, max_length=32)
    site_name: str | None = Field(None, max_length=64, description="estate, village or park (小区/村/园区)")
    building: str | None = Field(None, max_length=32)
    unit: str | None = Field(None, max_length=16)
    floor: int | None = Field(None, ge=-10, le=200)
    room: str | None = Field(None, max_length=16)
    use: str | None = Field(None, max_length=16)
    street_code: str | None = Field(None, pattern=r"^\d{12}$")
    community_code: str | None = Field(None, pattern=r"^\d{12}$")
    grid_code: str | None = Field(None, pattern=r"^\d{15}$", description="street and community follow it")
    lon: float | None = Field(None, ge=-180, le=180, description="WGS84; locates the grid if none is given")
    lat: float | None = Field(None, ge=-90, le=90)
    valid_from: date | None = None


class AddressCreate(_Fields):
    level: Literal["building", "dwelling", "text"] = "building"
    text: str = _Text
    code: str | None = Field(
        None, pattern=r"^[0-9A-Za-z]{4,40}$", description="made like the importer's codes when not given"
    )
    parent_code: str | None = Field(None, max_length=40, description="a dwelling's building")
    reason: str | None = Field(None, max_length=500)

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude={"reason"}, exclude_none=True)


class AddressEdit(_Fields):
    """Only the fields sent change (send null to clear one); ``reason`` is required."""

    text: str | None = Field(None, min_length=1, max_length=256)
    reason: str = Field(min_length=1, max_length=500, description="why (kept in the history)")
    revision: int | None = Field(
        None, ge=0, le=MAX_ROW_ID, description="the revision you edited; refused if it changed since"
    )

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude={"reason", "revision"}, exclude_unset=True)


class AddressRetire(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)
    replaced_by: str | None = Field(None, max_length=40, description="code of the address replacing it")


class AliasCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: str = Field(min_length=1, max_length=128)
    kind: Literal["common", "former"] = "common"
    reason: str | None = Field(None, max_length=500)


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    changed_at: datetime
    actor_name: str
    action: str = Field(description="create, edit, retire or alias")
    changes: dict[str, dict[str, Any]] = Field(description='{"field": {"old": …, "new": …}}')
    reason: str | None = None
