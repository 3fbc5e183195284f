"""Address library rules: importing standard addresses (CSV, XLSX, plain lines), reading them in scope,
and keeping them by hand (create, edit, retire, aliases) with a history of every change.

Import loses nothing: every input row is imported, found unchanged, or rejected with its reason into a
rejects file (the original columns plus ``reason``) that a person can fix and import again.

Hand edits follow these rules: an editor works only inside their area scope (before and after the change);
an edit or a retirement needs a reason; every change writes one ``AddressHistory`` row (fields old → new)
and bumps the address's ``revision`` to the next library-wide change number; a changed text leaves the
old text as a *former* alias, so old names still match; a retired address keeps its row (``valid_to``,
optionally ``replaced_by``) and drops out of search and matching.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, insert, or_, select
from sqlalchemy.orm import Session

from gridgov.address import typeahead
from gridgov.address.models import AddressAlias, AddressHistory, StdAddress
from gridgov.address.parse import GazetteerEntry
from gridgov.address.typeahead import LibraryVersion
from gridgov.areas.scope import AreaScope, ScopeLevel
from gridgov.core import clock
from gridgov.core.errors import Forbidden, InvalidInput, NotFound
from gridgov.core.exports import SafeCsvWriter
from gridgov.core.private_files import open_private, private_dir
from gridgov.core.settings import get_settings
from gridgov.core.xlsx import open_workbook, sheet_rows, split_row

FORMATS = ("csv", "xlsx", "lines")
MAX_TEXT = 256  # characters of one address text; longer is refused with a clear reason
CHUNK = 5000
REQUIRED_BUILDING = ("std_code", "address")
REQUIRED_DWELLING = ("dwelling_code", "std_code", "address")


@dataclass
class ImportReport:
    path: str
    format: str
    encoding: str
    rows: int = 0
    imported: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class RowRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------------------
# Reading files


def detect_format(path: Path, fmt: str | None) -> str:
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen == "txt":
        chosen = "lines"
    if chosen not in FORMATS:
        raise InvalidInput(f"Unknown format '{chosen}' for {path.name}: use csv, xlsx or lines")
    return chosen


def decode(raw: bytes, name: str) -> tuple[str, str]:
    """Text of a file and the encoding used: UTF-8 (with or without BOM), else GB18030 when detected.

    Binary files are refused by name: a NUL byte or undecodable content is not an address list.
    """
    if b"\x00" in raw[:4096]:
        raise InvalidInput(f"{name} looks binary (it contains NUL bytes): expected a text, CSV or XLSX file")
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:200_000]).best()
    encoding = (best.encoding if best else "").lower()
    if encoding in {"gb2312", "gbk", "gb18030", "hz"}:
        try:
            # GB18030 is a superset of GB2312 and GBK: decode with it whichever was detected.
            return raw.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            pass
    raise InvalidInput(
        f"{name} is neither UTF-8 nor GBK/GB18030 text (detected: {encoding or 'unknown'}); "
        "save it as UTF-8 and import again"
    )


def read_rows(
    path: Path, fmt: str
) -> tuple[list[str], Iterator[tuple[int, dict[str, str] | None, str | None]], str]:
    """Header, then (line number, row or None, problem) for every data row, and the encoding."""
    if fmt == "xlsx":
        return _xlsx_rows(path)
    text, encoding = decode(path.read_bytes(), path.name)
    if fmt == "lines":
        lines = text.splitlines()
        return ["address"], ((n, {"address": line}, None) for n, line in enumerate(lines, start=1)), encoding
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration as exc:
        raise InvalidInput(f"{path.name} is empty") from exc
    except csv.Error as exc:
        raise InvalidInput(f"{path.name}: the header line is not valid CSV ({exc})") from exc
    return header, _csv_rows(reader, header), encoding


def _csv_rows(reader: Any, header: list[str]) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, None, f"broken CSV quoting: {exc}"
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield (
                line,
                dict(zip(header, values, strict=False)),
                (f"expected {len(header)} columns, found {len(values)}"),
            )
            continue
        yield line, dict(zip(header, values, strict=True)), None


def _xlsx_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str] | None, str | None]], str]:
    workbook = open_workbook(path)  # a zip bomb is refused before parsing; the dimension is not trusted
    rows = sheet_rows(workbook)
    first = next(rows, None)
    if first is None:
        workbook.close()
        raise InvalidInput(f"{path.name} is empty")
    header = [str(h).strip() if h is not None else "" for h in first]

    def generate() -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
        for number, values in enumerate(rows, start=2):
            head, extra = split_row(values, len(header))
            cells = ["" if v is None else str(v) for v in head]
            cells += [""] * (len(header) - len(cells))  # a row ends at its last cell: pad to the header
            if extra or any(c.strip() for c in cells):
                yield number, dict(zip(header, cells, strict=False)), None
        workbook.close()

    return header, generate(), "xlsx"


# ---------------------------------------------------------------------------------------------------------
# Importing


def clean_text(value: str) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise RowRejected("empty address")
    if len(text) > MAX_TEXT:
        raise RowRejected(f"address longer than {MAX_TEXT} characters")
    if not any("\u4e00" <= ch <= "\u9fff" for ch in text):
        raise RowRejected("no Chinese characters: not an address we can place")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise RowRejected("control characters in the address")
    return text


def text_code(text: str) -> str:
    """A stable code for a library line known only by its text."""
    return "T" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _float(value: str | None, name: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise RowRejected(f"{name} is not a number") from exc


def _int(value: str | None, name: str) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return int(float(value))
    except ValueError as exc:
        raise RowRejected(f"{name} is not a whole number") from exc


def _kind_of(header: list[str], fmt: str) -> str:
    if fmt == "lines":
        return "lines"
    if "dwelling_code" in header:
        missing = [c for c in REQUIRED_DWELLING if c not in header]
        kind = "dwellings"
    elif "std_code" in header:
        missing = [c for c in REQUIRED_BUILDING if c not in header]
        kind = "buildings"
    elif "address" in header:
        return "lines"
    else:
        raise InvalidInput(
            "The file needs a header with std_code and address (buildings), dwelling_code "
            "(dwellings) or at least an address column (one address text per row)"
        )
    if missing:
        raise InvalidInput(f"The file lacks the column(s): {', '.join(missing)}")
    return kind


def _row_values(
    kind: str, row: dict[str, str], source: str, now: datetime, parents: dict[str, int]
) -> dict[str, Any]:
    text = clean_text(row.get("address", ""))
    common: dict[str, Any] = {"text": text, "source": source, "created_at": now, "revision": 0}
    if kind == "lines":
        return {**common, "code": text_code(text), "level": "text"}
    if kind == "buildings":
        code = row["std_code"].strip()
        if not code.isdigit() or len(code) > 40:
            raise RowRejected("std_code must be digits (at most 40)")
        lon, lat = _float(row.get("lon"), "lon"), _float(row.get("lat"), "lat")
        if (lon is None) != (lat is None):
            raise RowRejected("lon and lat must be given together")
        return {
            **common,
            "code": code,
            "level": "building",
            "external_code": (row.get("house_code_25") or "").strip() or None,
            "street_code": (row.get("street_code") or "").strip() or None,
            "street_text": (row.get("street_name") or "").strip() or None,
            "community_code": (row.get("community_code") or "").strip() or None,
            "community_text": (row.get("community_name") or "").strip() or None,
            "grid_code": (row.get("grid_code") or "").strip() or None,
            "road": (row.get("road") or "").strip() or None,
            "house_number": (row.get("house_number") or "").strip() or None,
            "site_name": (row.get("site_name") or "").strip() or None,
            "site_kind": (row.get("site_kind") or "").strip() or None,
            "building": (row.get("building_label") or "").strip() or None,
            "use": (row.get("building_use") or "").strip() or None,
            "lon": lon,
            "lat": lat,
        }
    code = row["dwelling_code"].strip()
    parent_code = row["std_code"].strip()
    parent_id = parents.get(parent_code)
    if parent_id is None:
        raise RowRejected(f"building {parent_code} is not in the library (import the buildings first)")
    return {
        **common,
        "code": code,
        "level": "dwelling",
        "parent_id": parent_id,
        "unit": (row.get("unit") or "").strip() or None,
        "floor": _int(row.get("floor"), "floor"),
        "room": (row.get("room") or "").strip() or None,
        "use": (row.get("use") or "").strip() or None,
    }


def _with_parent_areas(session: Session, values: list[dict[str, Any]]) -> None:
    """Dwellings inherit their building's area codes and location."""
    ids = {v["parent_id"] for v in values if v.get("parent_id")}
    if not ids:
        return
    parents = {p.id: p for p in session.scalars(select(StdAddress).where(StdAddress.id.in_(ids)))}
    for value in values:
        parent = parents.get(value.get("parent_id") or -1)
        if parent is not None:
            for name in (
                "street_code",
                "street_text",
                "community_code",
                "community_text",
                "grid_code",
                "road",
                "house_number",
                "site_name",
                "site_kind",
                "building",
                "lon",
                "lat",
            ):
                value.setdefault(name, getattr(parent, name))


def import_file(
    session: Session, path: Path, *, fmt: str | None = None, source: str | None = None
) -> ImportReport:
    """Import standard addresses from ``path``; idempotent (codes already present count as unchanged)."""
    if not path.is_file():
        raise NotFound(f"No file at {path}")
    chosen = detect_format(path, fmt)
    header, rows, encoding = read_rows(path, chosen)
    kind = _kind_of(header, chosen)
    report = ImportReport(path=str(path), format=chosen, encoding=encoding)
    now = clock.now()
    label = source or f"import:{path.name}"
    existing = set(session.scalars(select(StdAddress.code)))
    parents: dict[str, int] = {}
    if kind == "dwellings":
        parents = {
            code: id_
            for code, id_ in session.execute(
                select(StdAddress.code, StdAddress.id).where(StdAddress.level == "building")
            )
        }
    rejects: list[tuple[int, dict[str, str] | None, str]] = []
    pending: list[dict[str, Any]] = []
    seen: set[str] = set()
    for line, row, problem in rows:
        report.rows += 1
        try:
            if problem is not None or row is None:
                raise RowRejected(problem or "unreadable row")
            values = _row_values(kind, row, label, now, parents)
        except RowRejected as exc:
            rejects.append((line, row, exc.reason))
            kind_of_reason = exc.reason.split(":")[0]
            report.reasons[kind_of_reason] = report.reasons.get(kind_of_reason, 0) + 1
            continue
        if values["code"] in existing or values["code"] in seen:
            report.unchanged += 1
            continue
        seen.add(values["code"])
        pending.append(values)
        if len(pending) >= CHUNK:
            report.imported += _flush(session, pending)
    report.imported += _flush(session, pending)
    report.rejected = len(rejects)
    if rejects:
        report.rejects_file = str(_write_rejects(path, header, rejects))
    from gridgov.audit.service import record

    record(
        session,
        action="address.import",
        object_type="std_address",
        details={
            "file": path.name,
            "rows": report.rows,
            "imported": report.imported,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
        },
    )
    return report


def _flush(session: Session, pending: list[dict[str, Any]]) -> int:
    if not pending:
        return 0
    _with_parent_areas(session, pending)
    columns = {c.key for c in StdAddress.__table__.columns} - {"id"}
    rows = [{**{c: v.get(c) for c in columns}, "revision": v.get("revision") or 0} for v in pending]
    # Set-based insert (executemany): an ORM object per row would be ten times slower at city scale.
    session.execute(insert(StdAddress), rows)
    count = len(pending)
    pending.clear()
    return count


def _write_rejects(
    path: Path, header: list[str], rejects: list[tuple[int, dict[str, str] | None, str]]
) -> Path:
    folder = private_dir(get_settings().var_dir / "rejects")  # rejected rows hold personal data: 0700/0600
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    target = folder / f"{path.stem}.rejected-{stamp}.csv"
    columns = [*header, "line", "reason"]
    with open_private(target, "w", encoding="utf-8-sig", newline="") as handle:
        writer = SafeCsvWriter(handle)
        writer.writerow(columns)
        for line, row, reason in rejects:
            writer.writerow([*((row or {}).get(h, "") for h in header), line, reason])
    return target


# ---------------------------------------------------------------------------------------------------------
# Reading, in scope


def _area_of(address: StdAddress) -> str | None:
    return address.grid_code or address.community_code or address.street_code


def in_scope(scope: AreaScope, address: StdAddress) -> bool:
    return in_scope_area(scope, _area_of(address))


def in_scope_area(scope: AreaScope, area: str | None) -> bool:
    """An address with no known area (a line from another district) is visible to district scopes only."""
    if area is None:
        return scope.level is ScopeLevel.district
    return scope.covers(area)


def get_address(session: Session, code: str, *, scope: AreaScope) -> StdAddress:
    address = session.scalars(select(StdAddress).where(StdAddress.code == code)).first()
    if address is None:
        raise NotFound(f"No standard address with code {code}")
    if not in_scope(scope, address):
        raise Forbidden("That address lies outside your area scope")
    return address


def search(session: Session, query: str, *, scope: AreaScope, limit: int = 20) -> list[StdAddress]:
    """Current addresses whose text or one of whose names contains ``query`` (type-ahead), inside the
    scope, buildings first.

    Answered by the in-memory index (`gridgov.address.typeahead`: normalised substring hits, then loose
    and fuzzy ones to fill the page); while that index is first built in the background for a large
    library, by `like_search`.
    """
    text = query.strip()
    if not text:
        raise InvalidInput("Type part of an address to search")
    if len(text) > 64:
        raise InvalidInput("Search text is too long (64 characters at most)")
    limit = max(1, min(limit, 50))
    return typeahead.search_addresses(
        session,
        text,
        visible=lambda area: in_scope_area(scope, area),
        limit=limit,
        fallback=lambda: like_search(session, text, scope=scope, limit=limit),
    )


def like_search(session: Session, text: str, *, scope: AreaScope, limit: int = 20) -> list[StdAddress]:
    """``search`` by ``LIKE '%text%'`` on the texts and names (scans the table: ~250 ms at 1.1M rows)."""
    pattern = f"%{text.replace('%', '').replace('_', '')}%"
    area = func.coalesce(StdAddress.grid_code, StdAddress.community_code, StdAddress.street_code)
    visible = scope.clause(area)
    if scope.level is ScopeLevel.district:
        visible = or_(visible, area.is_(None))  # lines from outside our hierarchy: district scopes only
    # Common names (南山医院) and former names (a renamed road) find their address too, after text hits.
    named = select(AddressAlias.address_id).where(AddressAlias.alias.like(pattern))
    by_text = StdAddress.text.like(pattern)
    statement = (
        select(StdAddress)
        .where(or_(by_text, StdAddress.id.in_(named)), StdAddress.valid_to.is_(None), visible)
        .order_by(case((by_text, 0), else_=1), StdAddress.level, StdAddress.code)
        .limit(limit)
    )
    return list(session.scalars(statement))


def library_counts(session: Session) -> dict[str, int]:
    return {
        level: count
        for level, count in session.execute(select(StdAddress.level, func.count()).group_by(StdAddress.level))
    }


# ---------------------------------------------------------------------------------------------------------
# Keeping the library by hand: create, edit, retire, aliases — each change with its history row

LEVELS = ("building", "dwelling", "text")
ALIAS_KINDS = ("common", "former")
AREA_FIELDS = ("street_code", "community_code", "grid_code")
COMPONENT_FIELDS = ("road", "house_number", "site_name", "building", "unit", "floor", "room")
# What an edit may change (level, code and parent are fixed once created: retire and create instead).
EDITABLE_FIELDS = (
    "text",
    "external_code",
    *COMPONENT_FIELDS,
    "use",
    *AREA_FIELDS,
    "lon",
    "lat",
    "valid_from",
)
MAX_REASON = 500
MAX_ALIAS = 128
_CODE = re.compile(r"^[0-9A-Za-z]{4,40}$")
# Building codes made here: community code + "9" + a 7-digit sequence. The importer's codes use the
# community's road/estate id (4 digits, numbered from 0001) there, so 9xxxxxxx marks a hand-made code.
HAND_MADE_SITE = "9"


@dataclass(frozen=True)
class Editor:
    """Who makes a change (recorded in the history) and the area scope they may change."""

    name: str
    scope: AreaScope
    user_id: int | None = None


@dataclass(frozen=True)
class AddressRecord:
    """An address with what its detail view shows beside its own columns."""

    address: StdAddress
    parent_code: str | None
    replaced_by_code: str | None
    aliases: list[AddressAlias]


def _clean_reason(reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    if not text:
        if required:
            raise InvalidInput("Give a reason for this change (it is kept in the address's history)")
        return None
    if len(text) > MAX_REASON:
        raise InvalidInput(f"The reason is too long ({MAX_REASON} characters at most)")
    return text


def _clean_address_text(value: str) -> str:
    try:
        return clean_text(value)
    except RowRejected as exc:
        raise InvalidInput(f"Address text: {exc.reason}") from exc


def _clean_optional(name: str, value: Any) -> Any:
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value).strip() or None
        if value is not None and any(unicodedata.category(ch) == "Cc" for ch in value):
            raise InvalidInput(f"{name}: control characters are not allowed")
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value


def _area_names(session: Session, values: dict[str, Any]) -> None:
    from gridgov.areas.models import Community, Street

    street = session.get(Street, values["street_code"]) if values.get("street_code") else None
    community = session.get(Community, values["community_code"]) if values.get("community_code") else None
    values["street_text"] = street.name if street else None
    values["community_text"] = community.name if community else None


def _place(session: Session, values: dict[str, Any], *, given: dict[str, Any]) -> None:
    """Fill the area codes of ``values`` from the most precise one ``given`` (grid → community → street),
    or from ``lon``/``lat`` when no code is given; codes that contradict each other are refused."""
    from gridgov.areas.models import Community, Grid, Street
    from gridgov.areas.service import area_index

    grid_code = given.get("grid_code")
    community_code = given.get("community_code")
    street_code = given.get("street_code")
    if grid_code:
        grid = session.get(Grid, grid_code)
        if grid is None:
            raise InvalidInput(f"No grid with code {grid_code}")
        derived = grid.community_code
        if community_code and community_code != derived:
            raise InvalidInput(f"Grid {grid_code} is not in community {community_code}")
        community_code = derived
    if community_code:
        community = session.get(Community, community_code)
        if community is None:
            raise InvalidInput(f"No community with code {community_code}")
        if street_code and street_code != community.street_code:
            raise InvalidInput(f"Community {community_code} is not in street {street_code}")
        street_code = community.street_code
    if street_code and session.get(Street, street_code) is None:
        raise InvalidInput(f"No street with code {street_code}")
    if not (grid_code or community_code or street_code) and given.get("locate"):
        lon, lat = values.get("lon"), values.get("lat")
        if lon is not None and lat is not None:
            try:
                located = area_index(session).locate(lon, lat)
            except NotFound:
                located = None  # no areas loaded: the address keeps no area
            if located is not None and located.grid is not None:
                grid_code = located.grid.code
                community_code = located.community.code if located.community else None
                street_code = located.street.code if located.street else None
    values.update(grid_code=grid_code or None, community_code=community_code or None)
    values["street_code"] = street_code or None
    _area_names(session, values)


def _check_area_scope(scope: AreaScope, values: dict[str, Any], *, when: str) -> None:
    area = values.get("grid_code") or values.get("community_code") or values.get("street_code")
    if not in_scope_area(scope, area):
        raise Forbidden(f"{when} address would lie outside your area scope")


def _check_location(values: dict[str, Any]) -> None:
    lon, lat = values.get("lon"), values.get("lat")
    if (lon is None) != (lat is None):
        raise InvalidInput("Give lon and lat together (or neither)")
    if lon is not None and lat is not None and not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput("lon must lie in [-180, 180] and lat in [-90, 90]")


def _next_revision(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(StdAddress.revision), 0))) or 0) + 1


def _write_history(
    session: Session,
    address: StdAddress,
    *,
    editor: Editor,
    action: str,
    changes: dict[str, dict[str, Any]],
    reason: str | None,
) -> AddressHistory:
    now = clock.now()
    address.revision = _next_revision(session)
    address.updated_at = now
    entry = AddressHistory(
        address_id=address.id,
        changed_at=now,
        actor_user_id=editor.user_id,
        actor_name=editor.name,
        action=action,
        changes=changes,
        reason=reason,
    )
    session.add(entry)
    session.flush()
    return entry


def _by_code(session: Session, code: str) -> StdAddress | None:
    return session.scalars(select(StdAddress).where(StdAddress.code == code)).first()


def _unique_code(session: Session, code: str) -> str:
    if _by_code(session, code) is not None:
        raise InvalidInput(f"The code {code} is already used by another standard address")
    return code


def _generated_code(session: Session, values: dict[str, Any], parent: StdAddress | None) -> str:
    """A code in the importer's shape: building = community + site + number, dwelling = building + unit
    + room, anything else (no community known) the text's hash code."""
    if values["level"] == "dwelling" and parent is not None:
        unit = str(values.get("unit") or "0")
        room = str(values.get("room") or "")
        if unit.isdigit() and room.isdigit() and len(unit) <= 2 and len(room) <= 4:
            candidate = f"{parent.code}{int(unit):02d}{int(room):04d}"
            if _by_code(session, candidate) is None:
                return candidate
        prefix = f"{parent.code}99"
        width = 4
    elif values["level"] == "building" and values.get("community_code"):
        prefix = f"{values['community_code']}{HAND_MADE_SITE}"
        width = 7
    else:
        return _unique_code(session, text_code(values["text"]))
    taken = session.scalars(
        select(StdAddress.code).where(
            StdAddress.code.like(f"{prefix}%"), func.length(StdAddress.code) == len(prefix) + width
        )
    )
    numbers = [int(c[len(prefix) :]) for c in taken if c[len(prefix) :].isdigit()]
    following = max(numbers, default=0) + 1
    if following >= 10**width:
        raise InvalidInput("No free hand-made code left here: give the code explicitly")
    return f"{prefix}{following:0{width}d}"


def create_address(
    session: Session, *, fields: dict[str, Any], editor: Editor, reason: str | None = None
) -> StdAddress:
    """A new standard address from ``fields`` (level, text, components, area codes or lon/lat, code?)."""
    values = {k: _clean_optional(k, v) for k, v in fields.items()}
    level = values.get("level") or "building"
    if level not in LEVELS:
        raise InvalidInput(f"Unknown level '{level}': use {', '.join(LEVELS)}")
    values["level"] = level
    values["text"] = _clean_address_text(fields.get("text") or "")
    _check_location(values)
    parent: StdAddress | None = None
    parent_code = values.pop("parent_code", None)
    if level == "dwelling":
        if not parent_code:
            raise InvalidInput("A dwelling needs the code of its building (parent_code)")
        parent = _by_code(session, parent_code)
        if parent is None or parent.level != "building":
            raise InvalidInput(f"No building with code {parent_code}")
        if parent.valid_to is not None:
            raise InvalidInput(f"Building {parent_code} is retired")
        for name in ("road", "house_number", "site_name", "building", "lon", "lat", *AREA_FIELDS):
            if values.get(name) is None:
                values[name] = getattr(parent, name)
    elif parent_code:
        raise InvalidInput("Only a dwelling has a parent building")
    # Scope first: a code outside the scope is refused as such, before any lookup says whether it exists.
    if any(values.get(k) for k in AREA_FIELDS):
        _check_area_scope(editor.scope, values, when="The new")
    _place(session, values, given={**{k: values.get(k) for k in AREA_FIELDS}, "locate": True})
    _check_area_scope(editor.scope, values, when="The new")
    code = values.pop("code", None)
    if code:
        if not _CODE.match(code):
            raise InvalidInput("A code is 4 to 40 letters or digits")
        _unique_code(session, code)
    else:
        code = _generated_code(session, values, parent)
    columns = {c.key for c in StdAddress.__table__.columns} - {"id"}
    unknown = set(values) - columns
    if unknown:
        raise InvalidInput(f"Unknown field(s): {', '.join(sorted(unknown))}")
    address = StdAddress(
        **{k: v for k, v in values.items() if k in columns},
        code=code,
        parent_id=parent.id if parent else None,
        source=f"manual:{editor.name}"[:64],
        created_at=clock.now(),
        revision=0,
    )
    session.add(address)
    session.flush()
    created = {
        name: {"old": None, "new": _json_value(getattr(address, name))}
        for name in ("code", "level", "text", *COMPONENT_FIELDS, "use", *AREA_FIELDS, "lon", "lat")
        if getattr(address, name) is not None
    }
    _write_history(
        session,
        address,
        editor=editor,
        action="create",
        changes=created,
        reason=_clean_reason(reason, required=False),
    )
    return address


class EditConflict(InvalidInput):
    code = "edit_conflict"


def edit_address(
    session: Session,
    code: str,
    *,
    changes: dict[str, Any],
    reason: str | None,
    editor: Editor,
    expected_revision: int | None = None,
) -> StdAddress:
    """Change some fields of an address (only those given). A new text keeps the old one as a former name."""
    why = _clean_reason(reason, required=True)
    address = get_address(session, code, scope=editor.scope)
    if address.valid_to is not None:
        raise InvalidInput(f"Address {code} is retired: it can no longer be edited")
    if expected_revision is not None and expected_revision != address.revision:
        raise EditConflict(
            f"Address {code} was changed by someone else since you opened it: reload it and edit again"
        )
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"These fields cannot be edited: {', '.join(sorted(unknown))}")
    new = {k: _clean_optional(k, v) for k, v in changes.items()}
    if "text" in new:
        new["text"] = _clean_address_text(changes["text"] or "")
    values = {name: getattr(address, name) for name in (*EDITABLE_FIELDS, "street_text", "community_text")}
    values.update(new)
    _check_location(values)
    given_area = {k: new[k] for k in AREA_FIELDS if k in new}
    moved = any(k in new and new[k] != getattr(address, k) for k in ("lon", "lat"))
    if given_area:
        _check_area_scope(editor.scope, given_area, when="The edited")
        _place(session, values, given=given_area)
    elif moved and values.get("lon") is not None:
        # The pin moved and no area was given: the address follows its pin into the grid it now lies in.
        located = dict(values)
        _place(session, located, given={"locate": True})
        if located.get("grid_code"):
            values.update({k: located[k] for k in (*AREA_FIELDS, "street_text", "community_text")})
    _check_area_scope(editor.scope, values, when="The edited")
    diff: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        old = getattr(address, name)
        if value != old:
            diff[name] = {"old": _json_value(old), "new": _json_value(value)}
    if not diff:
        raise InvalidInput("Nothing to change: every given value equals the current one")
    if "text" in diff:
        _rename(session, address, old_text=address.text, new_text=values["text"])
    for name in diff:
        setattr(address, name, values[name])
    _write_history(session, address, editor=editor, action="edit", changes=diff, reason=why)
    return address


def _rename(session: Session, address: StdAddress, *, old_text: str, new_text: str) -> None:
    """The old text becomes a former name (valid until today); renaming back drops that former name."""
    aliases = list(session.scalars(select(AddressAlias).where(AddressAlias.address_id == address.id)))
    for alias in aliases:
        if alias.kind == "former" and alias.alias == new_text:
            session.delete(alias)
    if not any(a.kind == "former" and a.alias == old_text for a in aliases):
        session.add(
            AddressAlias(
                address_id=address.id,
                alias=old_text,
                kind="former",
                valid_from=address.valid_from,
                valid_to=clock.now().date(),
            )
        )


def retire_address(
    session: Session, code: str, *, reason: str | None, editor: Editor, replaced_by: str | None = None
) -> StdAddress:
    """Retire an address from today, optionally naming the address that replaces it (in your scope)."""
    why = _clean_reason(reason, required=True)
    address = get_address(session, code, scope=editor.scope)
    if address.valid_to is not None:
        raise InvalidInput(f"Address {code} is already retired")
    changes: dict[str, dict[str, Any]] = {"valid_to": {"old": None, "new": clock.now().date().isoformat()}}
    replacement: StdAddress | None = None
    if replaced_by:
        replacement = _by_code(session, replaced_by.strip())
        if replacement is None:
            raise InvalidInput(f"No standard address with code {replaced_by} to replace it")
        if not in_scope(editor.scope, replacement):
            raise Forbidden("The replacing address lies outside your area scope")
        if replacement.id == address.id:
            raise InvalidInput("An address cannot replace itself")
        if replacement.valid_to is not None:
            raise InvalidInput(f"The replacing address {replacement.code} is retired itself")
        changes["replaced_by"] = {"old": None, "new": replacement.code}
    address.valid_to = clock.now().date()
    address.replaced_by_id = replacement.id if replacement else None
    _write_history(session, address, editor=editor, action="retire", changes=changes, reason=why)
    return address


def _clean_alias(value: str) -> str:
    text = unicodedata.normalize("NFC", value or "").strip()
    if not text:
        raise InvalidInput("The name is empty")
    if len(text) > MAX_ALIAS:
        raise InvalidInput(f"The name is too long ({MAX_ALIAS} characters at most)")
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidInput("Control characters are not allowed in a name")
    return text


def add_alias(
    session: Session,
    code: str,
    *,
    alias: str,
    editor: Editor,
    kind: str = "common",
    reason: str | None = None,
) -> AddressAlias:
    """Another name for an address: a common name (南山医院) by default, or a former one."""
    if kind not in ALIAS_KINDS:
        raise InvalidInput(f"Unknown kind of name '{kind}': use common or former")
    name = _clean_alias(alias)
    address = get_address(session, code, scope=editor.scope)
    if address.valid_to is not None:
        raise InvalidInput(f"Address {code} is retired: give the name to its replacement")
    if name == address.text:
        raise InvalidInput("That is the address's own text")
    same = session.scalars(select(AddressAlias).where(AddressAlias.alias == name)).all()
    if any(a.address_id == address.id for a in same):
        raise InvalidInput("The address already has that name")
    if kind == "common" and same:
        others = session.scalars(
            select(StdAddress.id).where(
                StdAddress.id.in_([a.address_id for a in same if a.kind == "common"]),
                StdAddress.valid_to.is_(None),
            )
        ).first()
        if others is not None:
            raise InvalidInput("That common name already names another address")
    entry = AddressAlias(
        address_id=address.id,
        alias=name,
        kind=kind,
        valid_from=clock.now().date() if kind == "common" else None,
        valid_to=clock.now().date() if kind == "former" else None,
    )
    session.add(entry)
    session.flush()
    _write_history(
        session,
        address,
        editor=editor,
        action="alias",
        changes={f"alias.{kind}": {"old": None, "new": name}},
        reason=_clean_reason(reason, required=False),
    )
    return entry


def remove_alias(
    session: Session, code: str, alias_id: int, *, editor: Editor, reason: str | None = None
) -> None:
    address = get_address(session, code, scope=editor.scope)
    entry = session.get(AddressAlias, alias_id)
    if entry is None or entry.address_id != address.id:
        raise NotFound(f"Address {code} has no name with id {alias_id}")
    session.delete(entry)
    _write_history(
        session,
        address,
        editor=editor,
        action="alias",
        changes={f"alias.{entry.kind}": {"old": entry.alias, "new": None}},
        reason=_clean_reason(reason, required=False),
    )


def address_record(session: Session, code: str, *, scope: AreaScope) -> AddressRecord:
    """An address in scope with its parent's code, its replacement (when visible to you) and its names."""
    address = get_address(session, code, scope=scope)
    parent = session.get(StdAddress, address.parent_id) if address.parent_id else None
    replacement = session.get(StdAddress, address.replaced_by_id) if address.replaced_by_id else None
    aliases = list(
        session.scalars(
            select(AddressAlias).where(AddressAlias.address_id == address.id).order_by(AddressAlias.id)
        )
    )
    return AddressRecord(
        address=address,
        parent_code=parent.code if parent else None,
        replaced_by_code=replacement.code if replacement and in_scope(scope, replacement) else None,
        aliases=aliases,
    )


def address_history(session: Session, code: str, *, scope: AreaScope) -> list[AddressHistory]:
    """The changes made to an address by hand, newest first."""
    address = get_address(session, code, scope=scope)
    statement = (
        select(AddressHistory)
        .where(AddressHistory.address_id == address.id)
        .order_by(AddressHistory.id.desc())
    )
    return list(session.scalars(statement))


def library_version(session: Session) -> LibraryVersion:
    """Changes whenever the matchable library changes: (newest address id, newest name id, newest change
    number). An import adds rows (never updates one in place); create, edit, retire and every name added
    or removed bump the address's ``revision`` (`_write_history`). Three indexed ``max()`` lookups, no
    count: well under a millisecond on the full library, so callers may check it on every request."""
    return typeahead.library_version(session)


# ---------------------------------------------------------------------------------------------------------
# Parsing


def gazetteer_entries(session: Session) -> list[GazetteerEntry]:
    """Names the parser should know, from our own areas and library: streets, communities, roads, estates."""
    from gridgov.areas.models import Community, District, Street

    entries: list[GazetteerEntry] = []
    district = session.scalars(select(District)).first()
    if district is not None:
        entries.append(GazetteerEntry(district.name, "district", district=district.code))
    for street in session.scalars(select(Street)):
        entries.append(GazetteerEntry(street.name, "town", district=street.district_code, town=street.code))
    for community in session.scalars(select(Community)):
        for name in {community.name, community.name.removesuffix("社区")}:
            if len(name) >= 2:
                entries.append(
                    GazetteerEntry(name, "community", town=community.street_code, community=community.code)
                )
    named = (
        select(StdAddress.road, StdAddress.site_name, StdAddress.street_code, StdAddress.community_code)
        .where(StdAddress.level == "building")
        .distinct()
    )
    for road, site, street_code, community_code in session.execute(named):
        if road:
            entries.append(GazetteerEntry(road, "road", town=street_code, community=community_code))
        if site:
            entries.append(GazetteerEntry(site, "poi", town=street_code, community=community_code))
    return entries


def default_parser_model() -> Path:
    """Where `bench/parse.py` leaves a trained CRF model (research data stays out of the package)."""
    return get_settings().var_dir / "address" / "naacl-crf.model"


def parse_lines(session: Session, source: Path, target: Path, *, model: Path | None = None) -> dict[str, Any]:
    """Parse one address per line into JSON Lines; every input line gives one output line."""
    import json

    from gridgov.address.parse import Parser, to_jsonl_record

    text, encoding = decode(source.read_bytes(), source.name)
    parser = Parser.auto(gazetteer_entries(session), model or default_parser_model())
    lines = text.splitlines()
    errors = 0
    with target.open("w", encoding="utf-8") as handle:
        for line in lines:
            record: dict[str, Any]
            if len(line) > MAX_TEXT:
                record = {"text": line, "spans": [], "error": f"address longer than {MAX_TEXT} characters"}
                errors += 1
            else:
                record = to_jsonl_record(parser.parse(line))
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {"lines": len(lines), "errors": errors, "engine": parser.engine, "encoding": encoding}
