"""Seed event taxonomy and org units: typed, database-free loading and validation.

``data/categories.yaml`` holds the two-level event taxonomy (major class → subtype, DESIGN.md §5) and
``data/org_units.yaml`` the 1+8+N org units: the district centre and district departments listed once,
street centres and street departments as templates expanded per street, community workstations as a
template expanded per community. Everything here is plain data; the database layer copies it into its
own (versioned, admin-editable) tables.

A subtype's ``department`` may name a templated unit: ``"SD-{street}-CG"`` is the law-enforcement team of
the event's street, ``"W-{community}"`` the event's community workstation (:meth:`Subtype.department_for`).

Every problem raises :class:`ValueError` naming the file and the offending entry.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal, cast

import yaml
from pypinyin import lazy_pinyin

DATA_DIR: Final = Path(__file__).with_name("data")
CATEGORIES_PATH: Final = DATA_DIR / "categories.yaml"
ORG_UNITS_PATH: Final = DATA_DIR / "org_units.yaml"

Level = Literal["community", "street", "district"]
LimitUnit = Literal["working_hours", "working_days"]
Domain = Literal["urban", "social"]
OrgKind = Literal["command_centre", "department", "workstation"]

LEVELS: Final[tuple[Level, ...]] = ("district", "street", "community")
LIMIT_UNITS: Final[tuple[LimitUnit, ...]] = ("working_hours", "working_days")
DOMAINS: Final[tuple[Domain, ...]] = ("urban", "social")
ORG_KINDS: Final[tuple[OrgKind, ...]] = ("command_centre", "department", "workstation")

# Higher up the command chain = smaller rank.
_RANK: Final[dict[str, int]] = {"district": 0, "street": 1, "community": 2}
_MAJOR_CODE = re.compile(r"\d{2}")
_SUBTYPE_CODE = re.compile(r"\d{4}")
_UNIT_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_DEPARTMENT_PLACEHOLDERS: Final = frozenset({"street", "community"})
_STREET_PLACEHOLDERS: Final = frozenset({"street", "street_name", "street_name_en"})
_COMMUNITY_PLACEHOLDERS: Final = _STREET_PLACEHOLDERS | {"community", "community_name", "community_name_en"}


@dataclass(frozen=True)
class Subtype:
    code: str
    name: str
    name_en: str
    level: Level
    department: str
    limit: float
    limit_unit: LimitUnit
    closing: str
    urgent: bool = False
    whistle_hint: bool = False
    #: Other names the type goes by in feeds (12345 hotline, department systems): "井盖缺损" for 井盖缺失.
    aliases: tuple[str, ...] = ()

    @property
    def major_code(self) -> str:
        return self.code[:2]

    def department_for(self, street: str, community: str | None = None) -> str:
        """The handling unit's code for an event in ``street`` (and ``community``)."""
        if "{community}" in self.department and community is None:
            raise ValueError(
                f"subtype {self.code} ({self.name}): department {self.department} needs a community"
            )
        return self.department.format(street=street, community=community)


@dataclass(frozen=True)
class MajorClass:
    code: str
    name: str
    name_en: str
    domain: Domain
    subtypes: tuple[Subtype, ...]


@dataclass(frozen=True)
class OrgUnitSeed:
    code: str
    name: str
    name_en: str
    kind: OrgKind
    level: Level
    parent: str | None
    area_code: str | None = None


@dataclass(frozen=True)
class Seed:
    categories: list[MajorClass]
    org_units: list[OrgUnitSeed]


# ---------------------------------------------------------------------------------------------------------
# Reading helpers


def _read_yaml(path: Path, keys: set[str], required: set[str]) -> dict[str, Any]:
    with Path(path).open(encoding="utf-8") as handle:
        try:
            document = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise ValueError(f"{Path(path).name}: not valid YAML: {exc}") from exc
    return _fields(document, Path(path).name, required, keys - required)


def _fields(
    entry: object, where: str, required: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(entry).__name__}")
    missing = sorted(required - entry.keys())
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(str(k) for k in entry.keys() - required - optional)
    if unknown:
        raise ValueError(f"{where}: unknown field {', '.join(unknown)}")
    return cast(dict[str, Any], entry)


def _list(value: object, where: str, key: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: {key} must be a non-empty list")
    return value


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value.strip()


def _choice(entry: Mapping[str, Any], key: str, where: str, choices: Sequence[str]) -> str:
    value = entry[key]
    if value not in choices:
        raise ValueError(f"{where}: {key} must be one of {', '.join(choices)}, got {value!r}")
    return cast(str, value)


def _flag(entry: Mapping[str, Any], key: str, where: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def _label(entry: object, kind: str, index: int) -> str:
    """``subtype 0101 (暴露垃圾)`` when the entry has a code and name, else ``subtype #3``."""
    if isinstance(entry, dict) and entry.get("code") is not None:
        name = f" ({entry['name']})" if entry.get("name") else ""
        return f"{kind} {entry['code']}{name}"
    return f"{kind} #{index + 1}"


def _placeholders(template: str, where: str, key: str, allowed: frozenset[str]) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{where}: {key} {template!r} is not a valid template: {exc}") from exc
    names: set[str] = set()
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in allowed or spec or conversion:
            raise ValueError(
                f"{where}: {key} {template!r} uses {{{field}}}; allowed: "
                + ", ".join(f"{{{a}}}" for a in sorted(allowed))
            )
        names.add(field)
    return names


# ---------------------------------------------------------------------------------------------------------
# Categories

_SUBTYPE_REQUIRED: Final = {
    "code",
    "name",
    "name_en",
    "level",
    "department",
    "limit",
    "limit_unit",
    "closing",
}
_SUBTYPE_OPTIONAL: Final = {"urgent", "whistle_hint", "aliases"}
_MAJOR_REQUIRED: Final = {"code", "name", "name_en", "domain", "subtypes"}


def _subtype(entry: object, index: int, major_code: str, where_major: str) -> Subtype:
    where = f"{where_major}, {_label(entry, 'subtype', index)}"
    fields = _fields(entry, where, _SUBTYPE_REQUIRED, _SUBTYPE_OPTIONAL)
    code = fields["code"]
    if not isinstance(code, str) or not _SUBTYPE_CODE.fullmatch(code):
        raise ValueError(f"{where}: code must be a quoted string of 4 digits, got {code!r}")
    if not code.startswith(major_code):
        raise ValueError(f"{where}: code {code} does not start with its major class code {major_code}")
    limit = fields["limit"]
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int | float)
        or not math.isfinite(limit)
        or limit <= 0
    ):
        raise ValueError(f"{where}: limit must be a number > 0, got {limit!r}")
    department = _text(fields, "department", where)
    _placeholders(department, where, "department", _DEPARTMENT_PLACEHOLDERS)
    return Subtype(
        code=code,
        name=_text(fields, "name", where),
        name_en=_text(fields, "name_en", where),
        level=cast(Level, _choice(fields, "level", where, LEVELS)),
        department=department,
        limit=float(limit),
        limit_unit=cast(LimitUnit, _choice(fields, "limit_unit", where, LIMIT_UNITS)),
        closing=_text(fields, "closing", where),
        urgent=_flag(fields, "urgent", where),
        whistle_hint=_flag(fields, "whistle_hint", where),
        aliases=_aliases(fields, where),
    )


def _aliases(fields: dict[str, object], where: str) -> tuple[str, ...]:
    value = fields.get("aliases", [])
    if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
        raise ValueError(f"{where}: aliases must be a list of names, got {value!r}")
    return tuple(a.strip() for a in value)


def load_categories(path: Path = CATEGORIES_PATH) -> list[MajorClass]:
    """The major classes, each with its subtypes, in file order; validated."""
    source = Path(path).name
    document = _read_yaml(path, {"major_classes"}, {"major_classes"})
    majors: list[MajorClass] = []
    seen: dict[tuple[str, str], str] = {}  # (kind, code or name) -> where it was first used

    def claim(kind: str, code: str, name: str, where: str) -> None:
        for what, value in (("code", code), ("name", name)):
            if (kind, value) in seen:
                raise ValueError(
                    f"{where}: duplicate {kind} {what} {value} (already used at {seen[kind, value]})"
                )
        seen[kind, code] = seen[kind, name] = where.removeprefix(f"{source}: ")

    for index, entry in enumerate(_list(document["major_classes"], source, "major_classes")):
        where = f"{source}: {_label(entry, 'major class', index)}"
        fields = _fields(entry, where, _MAJOR_REQUIRED)
        code = fields["code"]
        if not isinstance(code, str) or not _MAJOR_CODE.fullmatch(code):
            raise ValueError(f"{where}: code must be a quoted string of 2 digits, got {code!r}")
        name = _text(fields, "name", where)
        claim("major class", code, name, where)
        subtypes = []
        for sub_index, sub_entry in enumerate(_list(fields["subtypes"], where, "subtypes")):
            subtype = _subtype(sub_entry, sub_index, code, where)
            here = f"{where}, {_label(sub_entry, 'subtype', sub_index)}"
            claim("subtype", subtype.code, subtype.name, here)
            for alias in subtype.aliases:
                # An alias is a name like any other: it may not name two types.
                if ("subtype", alias) in seen:
                    raise ValueError(
                        f"{here}: duplicate subtype name {alias} (already used at {seen['subtype', alias]})"
                    )
                seen["subtype", alias] = here.removeprefix(f"{source}: ")
            subtypes.append(subtype)
        majors.append(
            MajorClass(
                code=code,
                name=name,
                name_en=_text(fields, "name_en", where),
                domain=cast(Domain, _choice(fields, "domain", where, DOMAINS)),
                subtypes=tuple(subtypes),
            )
        )
    return majors


def iter_subtypes(categories: Sequence[MajorClass]) -> Iterator[Subtype]:
    for major in categories:
        yield from major.subtypes


def subtypes_by_code(categories: Sequence[MajorClass]) -> dict[str, Subtype]:
    return {s.code: s for s in iter_subtypes(categories)}


def subtypes_by_name(categories: Sequence[MajorClass]) -> dict[str, Subtype]:
    """Every name and alias → its subtype (names and aliases are unique across the taxonomy)."""
    return {name: s for s in iter_subtypes(categories) for name in (s.name, *s.aliases)}


# ---------------------------------------------------------------------------------------------------------
# Org units

_UNIT_REQUIRED: Final = {"code", "name", "name_en", "kind", "level", "parent"}


@dataclass(frozen=True)
class _OrgConfig:
    units: list[OrgUnitSeed]
    per_street: list[OrgUnitSeed]
    per_community: list[OrgUnitSeed]
    romanise: dict[str, str]


def _unit(entry: object, where: str, allowed: frozenset[str] | None) -> OrgUnitSeed:
    """One unit (``allowed`` is None) or template (``allowed``: the placeholders it may use)."""
    fields = _fields(entry, where, _UNIT_REQUIRED, {"area_code"} if allowed is None else set())
    parent = fields["parent"]
    if parent is not None and (not isinstance(parent, str) or not parent.strip()):
        raise ValueError(f"{where}: parent must be a unit code or null, got {parent!r}")
    area_code = fields.get("area_code")
    if area_code is not None and not isinstance(area_code, str):
        raise ValueError(f"{where}: area_code must be a quoted string, got {area_code!r}")
    unit = OrgUnitSeed(
        code=_text(fields, "code", where),
        name=_text(fields, "name", where),
        name_en=_text(fields, "name_en", where),
        kind=cast(OrgKind, _choice(fields, "kind", where, ORG_KINDS)),
        level=cast(Level, _choice(fields, "level", where, LEVELS)),
        parent=parent.strip() if isinstance(parent, str) else None,
        area_code=area_code,
    )
    if allowed is not None:
        for key in ("code", "name", "name_en", "parent"):
            value = getattr(unit, key)
            if value is not None:
                _placeholders(value, where, key, allowed)
    return unit


def _read_org_config(path: Path) -> _OrgConfig:
    source = Path(path).name
    document = _read_yaml(path, {"units", "per_street", "per_community", "romanise"}, {"units"})
    units = [
        _unit(entry, f"{source}: {_label(entry, 'unit', i)}", None)
        for i, entry in enumerate(_list(document["units"], source, "units"))
    ]
    per_street = [
        _unit(entry, f"{source}: per_street {_label(entry, 'template', i)}", _STREET_PLACEHOLDERS)
        for i, entry in enumerate(document.get("per_street") or [])
    ]
    per_community = [
        _unit(entry, f"{source}: per_community {_label(entry, 'template', i)}", _COMMUNITY_PLACEHOLDERS)
        for i, entry in enumerate(document.get("per_community") or [])
    ]
    for scope, templates, key in (
        ("per_street", per_street, "street"),
        ("per_community", per_community, "community"),
    ):
        for template in templates:
            if f"{{{key}}}" not in template.code:
                raise ValueError(f"{source}: {scope} template {template.code}: code must contain {{{key}}}")
    romanise = document.get("romanise") or {}
    if not isinstance(romanise, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in romanise.items()
    ):
        raise ValueError(f"{source}: romanise must map Chinese short names to romanisations")
    return _OrgConfig(units, per_street, per_community, romanise)


def _short_name(name: str, suffixes: Sequence[str]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name.removesuffix(suffix)
    return name


def _romanised(short: str, overrides: Mapping[str, str]) -> str:
    if short in overrides:
        return overrides[short]
    return "".join(lazy_pinyin(short, v_to_u=True)).capitalize()


def _expand(template: OrgUnitSeed, values: Mapping[str, str], area_code: str) -> OrgUnitSeed:
    return replace(
        template,
        code=template.code.format_map(values),
        name=template.name.format_map(values),
        name_en=template.name_en.format_map(values),
        parent=template.parent.format_map(values) if template.parent is not None else None,
        area_code=area_code,
    )


def _check_units(units: Sequence[OrgUnitSeed], source: str) -> None:
    by_code: dict[str, OrgUnitSeed] = {}
    for unit in units:
        where = f"{source}: unit {unit.code} ({unit.name})"
        if not _UNIT_CODE.fullmatch(unit.code):
            raise ValueError(f"{where}: code must be ASCII letters, digits, '-' or '_'")
        if unit.code in by_code:
            raise ValueError(
                f"{where}: duplicate code {unit.code} (already used by {by_code[unit.code].name})"
            )
        by_code[unit.code] = unit
        if (unit.kind == "workstation") != (unit.level == "community"):
            raise ValueError(f"{where}: workstations, and only they, are at community level")
    for unit in units:
        where = f"{source}: unit {unit.code} ({unit.name})"
        if unit.parent is None:
            if unit.kind != "command_centre" or unit.level != "district":
                raise ValueError(f"{where}: only the district command centre may have no parent")
            continue
        parent = by_code.get(unit.parent)
        if parent is None:
            raise ValueError(f"{where}: parent {unit.parent} is not an org unit")
        if parent.kind != "command_centre":
            raise ValueError(f"{where}: parent {unit.parent} is a {parent.kind}, not a command centre")
        # Centres report strictly upwards (which also rules out cycles); others to a centre at or above.
        if _RANK[parent.level] > _RANK[unit.level] or (
            unit.kind == "command_centre" and _RANK[parent.level] == _RANK[unit.level]
        ):
            raise ValueError(f"{where}: cannot report to {parent.level}-level centre {parent.code}")


def _check_departments(
    categories: Sequence[MajorClass],
    units: Sequence[OrgUnitSeed],
    config: _OrgConfig,
    streets: Sequence[str],
    communities: Sequence[tuple[str, str]],
    source: str,
) -> None:
    """Every subtype's department resolves, for every street/community given, to a unit of its level.

    When no street (community) is given, a templated department must be one of the templates.
    """
    by_code = {u.code: u for u in units}
    templates = {t.code: t for t in [*config.per_street, *config.per_community]}
    for subtype in iter_subtypes(categories):
        where = f"subtype {subtype.code} ({subtype.name})"
        department = subtype.department
        targets: list[OrgUnitSeed | None]
        if "{community}" in department and communities:
            targets = [by_code.get(department.format(street=s, community=c)) for c, s in communities]
        elif "{community}" not in department and "{street}" in department and streets:
            targets = [by_code.get(department.format(street=s)) for s in streets]
        elif "{" in department:
            targets = [templates.get(department)]
        else:
            targets = [by_code.get(department)]
        for target in targets:
            if target is None:
                raise ValueError(f"{where}: department {department} is not an org unit in {source}")
            if target.level != subtype.level:
                raise ValueError(
                    f"{where}: handled at {subtype.level} level, but its department {target.code}"
                    f" is a {target.level}-level unit"
                )


def load_org_units(
    streets: Sequence[tuple[str, str]],
    communities: Sequence[tuple[str, str, str]] | None = None,
    path: Path = ORG_UNITS_PATH,
    *,
    categories: Sequence[MajorClass] | None = None,
) -> list[OrgUnitSeed]:
    """The org units with templates expanded; validated.

    ``streets`` are ``(code, name)`` pairs (e.g. ``("440305007000", "粤海街道")``), ``communities``
    ``(code, name, street_code)`` triples: one workstation per community, reporting to its street's
    centre (without communities, no workstations). With ``categories``, every subtype's department must
    resolve among the units at the subtype's level.
    """
    source = Path(path).name
    config = _read_org_config(path)
    units = list(config.units)
    street_values: dict[str, dict[str, str]] = {}
    for code, name in streets:
        where = f"street {code} ({name})"
        if not code or not name:
            raise ValueError(f"{where}: street code and name must be non-empty")
        if code in street_values:
            raise ValueError(f"{where}: street given twice")
        short = _short_name(name, ("街道",))
        street_values[code] = {
            "street": code,
            "street_name": name,
            "street_name_en": f"{_romanised(short, config.romanise)} Subdistrict",
        }
        units.extend(_expand(t, street_values[code], code) for t in config.per_street)
    community_streets: list[tuple[str, str]] = []
    seen_communities: set[str] = set()
    for code, name, street_code in communities or ():
        where = f"community {code} ({name})"
        if not code or not name:
            raise ValueError(f"{where}: community code and name must be non-empty")
        if street_code not in street_values:
            raise ValueError(f"{where}: its street {street_code} is not among the streets given")
        if code in seen_communities:
            raise ValueError(f"{where}: community given twice")
        seen_communities.add(code)
        short = _short_name(name, ("社区居委会", "居委会", "社区"))
        values = {
            **street_values[street_code],
            "community": code,
            "community_name": _short_name(name, ("居委会",)),
            "community_name_en": f"{_romanised(short, config.romanise)} Community",
        }
        units.extend(_expand(t, values, code) for t in config.per_community)
        community_streets.append((code, street_code))
    _check_units(units, source)
    if categories is not None:
        _check_departments(categories, units, config, list(street_values), community_streets, source)
    return units


def load_seed(
    streets: Sequence[tuple[str, str]],
    communities: Sequence[tuple[str, str, str]] | None = None,
    *,
    categories_path: Path = CATEGORIES_PATH,
    org_units_path: Path = ORG_UNITS_PATH,
) -> Seed:
    """Categories and org units, cross-checked (every subtype's department exists at its level)."""
    categories = load_categories(categories_path)
    units = load_org_units(streets, communities, org_units_path, categories=categories)
    return Seed(categories, units)
