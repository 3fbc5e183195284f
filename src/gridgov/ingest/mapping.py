"""Mapping specs: how one source system's columns become our fields, so that connecting the 27th system
is configuration, not code (issue 6).

A spec is YAML, registered once with its source::

    name: population.self_declared        # the source's stable name (``gridgov ingest --source NAME``)
    title: 实有人口自主申报
    department: 南山公安分局
    system: 自主申报平台
    category: population
    record: person                        # one row describes: person | rental | entity | dwelling | building
    row_id: 申报编号                      # the source's own row id: lineage and replay point at it
    fields:
      name:      {column: 姓名, required: true, transforms: [strip, collapse_spaces], max_length: 64}
      id_number: {column: 证件号码, type: resident_id, on_invalid: flag}
      sex:       {column: 性别, type: code, table: sex}
      birth_date: {column: 出生日期, type: date, not_after: today}
    code_tables:
      sex: {男: male, 女: female}

``map_row`` turns one raw row (header → text) into typed values and two lists: *problems*, which
quarantine the row (a person must fix it), and *flags*, which keep it but mark a value for a grid
worker to verify (``on_invalid: flag``: a resident ID with a wrong check digit is still the best lead to
the person). A problem carries a code and the source column, never the offending value: quarantine
reasons and logs must not become a second copy of personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gridgov.core import clock
from gridgov.core.errors import InvalidInput
from gridgov.core.identifiers import normalise_phone, parse_credit_code, parse_resident_id

RecordKind = Literal["person", "rental", "entity", "dwelling", "building"]
# The fields a pipeline cannot work without, by record kind: a spec that lacks one is refused at
# registration, not half-way through a file.
RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("name", "id_number", "address"),
    "rental": ("address", "landlord_name", "landlord_id_number"),
    "entity": ("credit_code", "name", "operating_address"),
    "dwelling": ("code", "address"),
    "building": ("code", "address"),
}
FieldType = Literal["text", "date", "int", "decimal", "resident_id", "credit_code", "phone", "code", "list"]
TransformName = Literal["strip", "half_width", "upper", "collapse_spaces", "no_spaces"]

# Full-width ASCII and the ideographic space, as Chinese input methods type them.
_HALF_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}
_SPACES = re.compile(r"\s+")
TRANSFORMS: dict[str, Callable[[str], str]] = {
    "strip": str.strip,
    "half_width": lambda text: text.translate(_HALF_WIDTH),
    "upper": str.upper,
    "collapse_spaces": lambda text: _SPACES.sub(" ", text).strip(),
    "no_spaces": lambda text: _SPACES.sub("", text),
}
# What spreadsheets and forms put in a cell that means "nothing": treated as empty, not as a value.
BLANKS = frozenset({"", "-", "--", "—", "——", "/", "\\", "N/A", "n/a", "NA", "null", "NULL", "None", "无"})
# Dates as Chinese systems export them. Anything else (Excel serials, "#VALUE!", 2024-02-30) is refused.
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(?: \d{1,2}:\d{2}(?::\d{2})?)?$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
EARLIEST_DATE = date(1900, 1, 1)


def _default_transforms() -> list[TransformName]:
    return ["strip"]


class FieldSpec(BaseModel):
    """One of our fields and where it comes from."""

    model_config = ConfigDict(extra="forbid")

    column: str
    type: FieldType = "text"
    required: bool = False
    transforms: list[TransformName] = Field(default_factory=_default_transforms)
    table: str | None = None  # code: the code table that translates the source's values
    separator: str = ","  # list: between items (Chinese commas and semicolons are accepted too)
    item_type: FieldType = "text"  # list: the type of each item
    max_length: int | None = Field(default=None, gt=0)
    not_after: Literal["today"] | None = None  # date: refused when later than the clock's date
    on_invalid: Literal["quarantine", "flag"] = "quarantine"

    @model_validator(mode="after")
    def _code_needs_table(self) -> FieldSpec:
        if (self.type == "code" or (self.type == "list" and self.item_type == "code")) and not self.table:
            raise ValueError("a code field names its code table (table: …)")
        if self.item_type == "list":
            raise ValueError("a list holds single values, not lists")
        return self


class MappingSpec(BaseModel):
    """A source system and its mapping (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=64)
    title: str
    department: str
    system: str
    category: str
    contact: str | None = None
    record: RecordKind
    row_id: str
    fields: dict[str, FieldSpec]
    code_tables: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("code_tables", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML reads 1: male as an int key; the source's cells are text.
        if isinstance(value, Mapping):
            return {
                str(name): {str(k): str(v) for k, v in table.items()} if isinstance(table, Mapping) else table
                for name, table in value.items()
            }
        return value

    @model_validator(mode="after")
    def _tables_exist(self) -> MappingSpec:
        for name, spec in self.fields.items():
            if spec.table is not None and spec.table not in self.code_tables:
                raise ValueError(
                    f"field '{name}' uses code table '{spec.table}', which the spec does not define"
                )
        missing = [name for name in RECORD_FIELDS[self.record] if name not in self.fields]
        if missing:
            raise ValueError(f"a '{self.record}' spec must map the fields {', '.join(missing)}")
        return self

    @property
    def columns(self) -> list[str]:
        """The source columns this spec reads, the row id first."""
        seen = [self.row_id]
        for spec in self.fields.values():
            if spec.column not in seen:
                seen.append(spec.column)
        return seen


def load_spec(text: str) -> MappingSpec:
    """Parse and check a YAML spec; every mistake is named with where it is (InvalidInput)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The mapping spec is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("The mapping spec is a YAML mapping (name:, record:, fields: …)")
    try:
        return MappingSpec.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'spec'}: {error['msg']}" for error in exc.errors()
        )
        raise InvalidInput(f"The mapping spec is not right: {reasons}") from None


# ---------------------------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True)
class Problem:
    """Why a value (or a row) cannot be taken as it is: a code, the field and its source column."""

    code: str
    field: str | None = None
    column: str | None = None
    detail: str | None = None  # a fixed explanation (never the value itself)


@dataclass
class MappedRow:
    row_id: str | None
    values: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)  # the row is quarantined
    flags: list[Problem] = field(default_factory=list)  # kept, marked for verification

    @property
    def ok(self) -> bool:
        return not self.problems


class _Refused(Exception):
    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail


def parse_date(text: str, *, not_after: date | None = None) -> date:
    """A calendar date from the forms Chinese systems export; anything else is refused."""
    for pattern in _DATE_PATTERNS:
        found = pattern.match(text)
        if found:
            year, month, day = (int(part) for part in found.groups())
            try:
                value = date(year, month, day)
            except ValueError:
                raise _Refused("bad_date", "not a real calendar date") from None
            if value < EARLIEST_DATE:
                raise _Refused("bad_date", "before 1900")
            if not_after is not None and value > not_after:
                raise _Refused("date_in_future")
            return value
    if text.isdigit() and len(text) <= 6:
        raise _Refused("bad_date", "a bare number (an Excel date serial?)")
    raise _Refused("bad_date", "not a date")


def _typed(kind: FieldType, text: str, spec: FieldSpec, tables: Mapping[str, Mapping[str, str]]) -> Any:
    if kind == "text":
        if spec.max_length is not None and len(text) > spec.max_length:
            raise _Refused("too_long", f"more than {spec.max_length} characters")
        return text
    if kind == "date":
        return parse_date(text, not_after=clock.now().date() if spec.not_after == "today" else None)
    if kind == "int":
        try:
            return int(text.replace(",", ""))
        except ValueError:
            raise _Refused("bad_number", "not a whole number") from None
    if kind == "decimal":
        try:
            number = Decimal(text.replace(",", ""))
        except InvalidOperation:
            raise _Refused("bad_number", "not a number") from None
        if not number.is_finite():
            raise _Refused("bad_number", "not a number")
        return number
    if kind == "resident_id":
        try:
            return parse_resident_id(text).number
        except InvalidInput as exc:
            raise _Refused("bad_resident_id", str(exc)) from None
    if kind == "credit_code":
        try:
            return parse_credit_code(text).code
        except InvalidInput as exc:
            raise _Refused("bad_credit_code", str(exc)) from None
    if kind == "phone":
        try:
            return normalise_phone(text)
        except InvalidInput as exc:
            raise _Refused("bad_phone", str(exc)) from None
    if kind == "code":
        table = tables[spec.table or ""]
        if text not in table:
            raise _Refused("unknown_code", f"not in code table '{spec.table}'")
        return table[text]
    raise AssertionError(kind)  # pragma: no cover - lists are split by the caller


_LIST_SEPARATORS = re.compile(r"[，；;、]")


def _value(text: str, spec: FieldSpec, tables: Mapping[str, Mapping[str, str]]) -> Any:
    if spec.type != "list":
        return _typed(spec.type, text, spec, tables)
    items = [item.strip() for item in _LIST_SEPARATORS.sub(spec.separator, text).split(spec.separator)]
    return [_typed(spec.item_type, item, spec, tables) for item in items if item not in BLANKS]


def map_row(
    spec: MappingSpec, raw: Mapping[str, str | None], *, problems: Sequence[Problem] = ()
) -> MappedRow:
    """Typed values of one source row (header → cell text) under ``spec``.

    ``problems`` are what the reader already found (a wrong number of fields); they quarantine the row
    like the ones found here. A value that fails its type is left out of ``values``.
    """
    row_id = (raw.get(spec.row_id) or "").strip() or None
    mapped = MappedRow(row_id=row_id, problems=list(problems))
    if row_id is None:
        mapped.problems.append(Problem("missing_row_id", None, spec.row_id))
    for name, field_spec in spec.fields.items():
        text = raw.get(field_spec.column)
        if text is None:
            text = ""
        for transform in field_spec.transforms:
            text = TRANSFORMS[transform](text)
        if text.strip() in BLANKS:
            mapped.values[name] = [] if field_spec.type == "list" else None
            if field_spec.required:
                mapped.problems.append(Problem("missing_required", name, field_spec.column))
            continue
        try:
            mapped.values[name] = _value(text, field_spec, spec.code_tables)
        except _Refused as refused:
            problem = Problem(refused.code, name, field_spec.column, refused.detail)
            if field_spec.on_invalid == "flag" and not field_spec.required:
                mapped.values[name] = None
                mapped.flags.append(problem)
            elif field_spec.on_invalid == "flag":
                mapped.values[name] = text  # kept as written, marked for a person to check
                mapped.flags.append(problem)
            else:
                mapped.problems.append(problem)
    return mapped


def parse_cell_datetime(value: object) -> str | None:
    """A spreadsheet cell as text the mapping reads (openpyxl gives dates as datetime)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


SPEC_DIR = Path(__file__).parent / "data" / "sources"


def builtin_spec_texts() -> dict[str, str]:
    """The YAML of the specs shipped for the synthetic Nanshan world's feeds, by source name."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(SPEC_DIR.glob("*.yaml"))]
    return {load_spec(text).name: text for text in texts}


def builtin_specs() -> dict[str, MappingSpec]:
    """The specs shipped for the synthetic Nanshan world's feeds, by source name."""
    return {name: load_spec(text) for name, text in builtin_spec_texts().items()}
