"""The shapes of the assessment: the indicator catalogue, the schemes, results per subject and
period, drill-downs.

Every figure is a numerator over a denominator (both lists of events, tasks or whistle summons that a
drill-down shows); ``value`` is in the indicator's unit: a percentage 0–100 rounded to two places (93.72),
a count, or a mean score rounded to two places; None when the denominator is 0.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

SubjectKind = Literal["district", "street", "community", "grid", "unit", "worker", "contractor"]
SUBJECT_KINDS: tuple[SubjectKind, ...] = (
    "district",
    "street",
    "community",
    "grid",
    "unit",
    "worker",
    "contractor",
)
Grade = Literal["excellent", "good", "pass", "fail"]


class IndicatorDef(BaseModel):
    """One entry of the catalogue."""

    code: str
    name_zh: str
    name_en: str
    subjects: list[SubjectKind]
    direction: Literal["higher", "lower"]
    unit: Literal["percent", "count", "score"]
    numerator: str  # fact names, computed by the engine
    denominator: str | None
    value: Literal["ratio", "one_minus_ratio", "count", "mean"]
    numerator_zh: str
    numerator_en: str
    denominator_zh: str | None = None
    denominator_en: str | None = None
    formula_zh: str
    formula_en: str
    additive: bool  # numerator and denominator of child areas add up to the parent's


class Catalogue(BaseModel):
    version: int
    created_at: datetime
    indicators: list[IndicatorDef]


class GradeBand(BaseModel):
    grade: Grade
    name_zh: str
    name_en: str
    min_score: float
    colour: str  # "#1a9850"


class SchemeItem(BaseModel):
    indicator: str
    weight: float
    target: float | None = None


class SchemeDef(BaseModel):
    subject_kind: SubjectKind
    items: list[SchemeItem]
    bands: list[GradeBand]


class Scheme(BaseModel):
    version: int
    created_at: datetime
    schemes: list[SchemeDef]


class Figure(BaseModel):
    numerator: float
    denominator: float | None
    value: float | None
    target: float | None = None
    points: float | None = None  # what this indicator earned in the score (weight × attainment)


class SubjectResult(BaseModel):
    subject_kind: SubjectKind
    subject_code: str
    subject_name: str
    parent_code: str | None
    score: float | None
    grade: Grade | None
    grade_name: str | None
    grade_colour: str | None
    rank: int | None  # 1 = best; ties share a rank (1, 2, 2, 4)
    previous_score: float | None
    change: float | None  # against the previous period of the same kind
    indicators: dict[str, Figure]


class AssessmentResult(BaseModel):
    period: str
    period_kind: str
    period_start: date
    period_end: date  # exclusive
    level: SubjectKind
    catalogue_version: int
    scheme_version: int
    frozen: bool
    snapshot_id: int | None
    computed_at: datetime
    subjects: list[SubjectResult]  # sorted by rank


class DrillItem(BaseModel):
    kind: Literal["event", "task", "summons"]
    id: int
    ref: str  # ticket, task id or summons id
    title: str
    state: str
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    at: datetime | None
    due_at: datetime | None
    done_at: datetime | None


class DrillDown(BaseModel):
    period: str
    level: SubjectKind
    subject_code: str
    indicator: str
    part: Literal["numerator", "denominator"]
    total: int
    items: list[DrillItem]
