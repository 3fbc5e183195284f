"""Address library rules: importing standard addresses (CSV, XLSX, plain lines), reading them in scope.

Import loses nothing: every input row is imported, found unchanged, or rejected with its reason into a
rejects file (the original columns plus ``reason``) that a person can fix and import again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from gridgov.address.models import StdAddress
from gridgov.address.parse import GazetteerEntry
from gridgov.areas.scope import AreaScope, ScopeLevel
from gridgov.core import clock
from gridgov.core.errors import Forbidden, InvalidInput, NotFound
from gridgov.core.settings import get_settings

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
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken or foreign file
        raise InvalidInput(f"{path.name} is not a readable XLSX workbook") from exc
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    first = next(rows, None)
    if first is None:
        raise InvalidInput(f"{path.name} is empty")
    header = [str(h).strip() if h is not None else "" for h in first]

    def generate() -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
        for number, values in enumerate(rows, start=2):
            cells = ["" if v is None else str(v) for v in values]
            if any(c.strip() for c in cells):
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
    common: dict[str, Any] = {"text": text, "source": source, "created_at": now}
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
    rows = [{c: v.get(c) for c in columns} for v in pending]
    # Set-based insert (executemany): an ORM object per row would be ten times slower at city scale.
    session.execute(insert(StdAddress), rows)
    count = len(pending)
    pending.clear()
    return count


def _write_rejects(
    path: Path, header: list[str], rejects: list[tuple[int, dict[str, str] | None, str]]
) -> Path:
    folder = get_settings().var_dir / "rejects"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    target = folder / f"{path.stem}.rejected-{stamp}.csv"
    columns = [*header, "line", "reason"]
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
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
    """Addresses whose text contains ``query`` (type-ahead), inside the scope, buildings first."""
    text = query.strip()
    if not text:
        raise InvalidInput("Type part of an address to search")
    if len(text) > 64:
        raise InvalidInput("Search text is too long (64 characters at most)")
    limit = max(1, min(limit, 50))
    pattern = f"%{text.replace('%', '').replace('_', '')}%"
    area = func.coalesce(StdAddress.grid_code, StdAddress.community_code, StdAddress.street_code)
    visible = scope.clause(area)
    if scope.level is ScopeLevel.district:
        visible = or_(visible, area.is_(None))  # lines from outside our hierarchy: district scopes only
    statement = (
        select(StdAddress)
        .where(StdAddress.text.like(pattern), StdAddress.valid_to.is_(None), visible)
        .order_by(StdAddress.level, StdAddress.code)
        .limit(limit)
    )
    return list(session.scalars(statement))


def library_counts(session: Session) -> dict[str, int]:
    return {
        level: count
        for level, count in session.execute(select(StdAddress.level, func.count()).group_by(StdAddress.level))
    }


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
