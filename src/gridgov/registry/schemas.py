"""Registry API shapes (Pydantic v2): search hits, the record views (person, rental, entity, dwelling,
building) with every field's lineage, care tags, reveal and the area statistics.

Personal data goes out masked (``张**``, ``4403**********1234``, ``138****5678``); the unmasked value only
through ``POST /api/registry/people/{id}/reveal`` with a typed reason (audited). Care tags are never part of
a record view: they have their own routes, which need ``registry.care``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SearchKind = Literal["address", "person", "entity"]
RevealField = Literal["id_number", "phone"]
CareCategory = Literal[
    "severe_mental_disorder",
    "disability",
    "elderly_alone",
    "left_behind_child",
    "community_correction",
    "other",
]
FieldValue = str | int | float | bool | None


class Placed(BaseModel):
    """Where a record lies: the area codes of its (matched) address."""

    street_code: str | None = None
    community_code: str | None = None
    grid_code: str | None = None


class LineageOut(BaseModel):
    """Where a field's current value came from, for a person to read."""

    raw: str = Field(
        description='As stored: "b<batch>:r<row>" or "t<task id>" ("address_library": a view from it)'
    )
    kind: Literal["batch", "task", "address_library", "unknown"]
    text: str = Field(description='e.g. "出租屋登记 第2批 第15行" or "网格员核查 任务 #7"')
    source: str | None = None
    batch_id: int | None = None
    row: int | None = None
    task_id: int | None = None
    link: str | None = None


class FieldOut(BaseModel):
    name: str
    value: FieldValue
    lineage: LineageOut | None = None


class RecordRef(Placed):
    """One search hit or one listed record: enough to show it in a list and link to it."""

    kind: Literal["building", "dwelling", "person", "rental", "entity"]
    key: str = Field(description="The record id (person, rental, entity) or standard address code")
    title: str
    subtitle: str | None = None
    link: str


class SearchIn(BaseModel):
    """A search sent in a body: how people are searched, so names and ID numbers stay out of URLs (server
    logs, browser history, links)."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=64)
    kind: SearchKind = "person"
    offset: int = Field(default=0, ge=0, le=500)
    limit: int = Field(default=20, ge=1, le=50)


class SearchOut(BaseModel):
    kind: SearchKind
    mode: Literal["address", "name", "id_number", "phone", "credit_code"]
    offset: int
    limit: int
    has_more: bool
    results: list[RecordRef]


class RentalSummary(Placed):
    """A rental as listed on a building or dwelling: declared occupants vs the people counted there."""

    id: int
    link: str
    address_text: str
    dwelling_code: str | None
    landlord_name: str
    start_date: date | None
    end_date: date | None
    declared_occupants: int | None
    tenants_named: int
    people_counted: int
    over_declared: bool = Field(
        description="More people counted at the dwelling than declared (群租 suspicion)"
    )


class PersonOut(Placed):
    id: int
    name: str
    id_number: str | None
    phone: str | None
    status: str
    household_type: str | None
    dwelling_code: str | None
    address_text: str | None
    fields: list[FieldOut]
    rentals: list[RentalSummary] = Field(description="Rentals naming this person as tenant or landlord")


class RentalOut(RentalSummary):
    landlord_phone: str | None
    fields: list[FieldOut]
    tenants: list[RecordRef] = Field(description="Tenants named on the registration that the register knows")
    residents: list[RecordRef] = Field(description="People the population register counts at the dwelling")


class EntityOut(Placed):
    id: int
    name: str
    credit_code: str
    status: str
    three_small_kind: str | None
    operating_address_code: str | None
    fields: list[FieldOut]


class DwellingRow(BaseModel):
    code: str
    address_text: str
    use: str | None
    residents: int
    link: str


class DwellingOut(Placed):
    code: str
    address_text: str
    use: str | None
    building_code: str | None
    source: Literal["registry", "address_library"]
    fields: list[FieldOut]
    residents: list[RecordRef]
    residents_total: int
    rentals: list[RentalSummary]
    entities: list[RecordRef]


class BuildingOut(Placed):
    code: str
    address_text: str
    use: str | None
    floors: int | None
    structure: str | None
    source: Literal["registry", "address_library"]
    fields: list[FieldOut]
    dwellings: list[DwellingRow]
    dwellings_total: int
    residents: list[RecordRef]
    residents_total: int
    rentals: list[RentalSummary]
    entities: list[RecordRef]
    limit: int = Field(
        description="Lists are cut at this many rows; the *_total fields say how many there are"
    )


class CareTagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: CareCategory
    care_every_days: int = Field(ge=1, le=365)
    note: str | None = Field(default=None, max_length=500)


class CareTagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    person_id: int
    category: str
    care_every_days: int
    note: str | None
    active: bool
    created_at: datetime
    created_by: str


class RevealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: RevealField
    reason: str = Field(min_length=4, max_length=500, description="Why you need it (kept in the audit trail)")


class RevealOut(BaseModel):
    field: RevealField
    value: str | None


class AreaRefOut(BaseModel):
    code: str
    name: str
    level: str


class AreaFigures(AreaRefOut):
    metrics: dict[str, int] = Field(description="Maintained counts by metric (whatever the pipeline keeps)")
    tasks_open: int


class AreaStatsOut(BaseModel):
    area: AreaFigures | None = Field(description="The area asked for (None: the caller's several grids)")
    parents: list[AreaRefOut] = Field(description="From the district down, those inside the caller's scope")
    children: list[AreaFigures]
    metrics: list[str] = Field(description="Every metric present, in display order")
