"""The import pipeline (issue 6): a feed file, under its source's mapping spec, into the registry.

parse (``readers``) → map and validate (``mapping``) → match the address through the address library →
resolve identity → upsert with change detection → lineage → area counts, chunk by chunk. Every row ends
in exactly one of four counts:

- **accepted** — it made a record, or changed one that existed before this batch;
- **merged** — it resolved to a record this batch already made or changed (a duplicate row);
- **unchanged** — it resolved to a record that existed before this batch and changed nothing (so a
  re-import reports every valid row unchanged);
- **quarantined** — it could not be taken: kept as it arrived with its reasons, to fix and replay.

Each chunk commits together with the batch's counts and its resume point (``Batch.next_row``), so a batch
killed half-way resumes where its last chunk committed: no row is counted or stored twice. Records are
written with set-based statements (``executemany``), not row by row through the ORM; the audit trail gets
one entry per chunk naming the batch and its counts.

Pipelines by record kind: people, rentals, legal entities, buildings and dwellings.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any, cast

from sqlalchemy import JSON, Column, Table, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from gridgov.areas.scope import AreaScope
from gridgov.audit.service import record
from gridgov.core import crypto
from gridgov.core.clock import now as clock_now
from gridgov.core.db import transaction
from gridgov.core.errors import InvalidInput, NotFound
from gridgov.core.exports import append_row
from gridgov.core.files import sha256_of
from gridgov.core.i18n import translate
from gridgov.core.private_files import open_private
from gridgov.ingest.mapping import MappedRow, MappingSpec, Problem, builtin_spec_texts, load_spec, map_row
from gridgov.ingest.models import Batch, QuarantineRow, Source
from gridgov.ingest.readers import RawRow, detect_format, read_rows
from gridgov.registry.models import (
    AreaCount,
    Building,
    Dwelling,
    IdentityReview,
    LegalEntity,
    Person,
    RegistryChange,
    Rental,
    RentalTenant,
)

DISTRICT_CODE = "440305000000"
# Rows per chunk, each chunk one transaction. At district scale a chunk's rows land on pages all over the
# random-key indexes (ID hashes, names, phones), and every commit writes each page it touched: 10,000 rows
# per commit write a people import's pages about half as often as 2,000 did (SQLite 653 s → 488 s).
CHUNK_ROWS = 10_000
PERSON = cast(Table, Person.__table__)
ENTITY = cast(Table, LegalEntity.__table__)
RENTAL = cast(Table, Rental.__table__)
TENANT = cast(Table, RentalTenant.__table__)
BUILDING = cast(Table, Building.__table__)
DWELLING = cast(Table, Dwelling.__table__)
ID_CONTEXT = "reg_person.id_number"
PHONE_CONTEXT = "reg_person.phone"
# A quarantined row's cells (resident IDs, phones, names as they arrived): one encrypted JSON object.
QUARANTINE_CONTEXT = "ingest_quarantine.cells"
QUARANTINE = cast(Table, QuarantineRow.__table__)
# When set (``ingest_file(trace=…)``): every taken row's (row number, identity key), for the identity
# benchmark to compare the resolution with the generator's truth.
_TRACE: ContextVar[IdentityTrace | None] = ContextVar("ingest_trace", default=None)
# Fuzzy identity (a person row without any document number): how sure a candidate must be.
SURE_SAME_PERSON = 0.85  # at or above, and the only such candidate: the row merges into it
DOUBTFUL_SAME_PERSON = 0.5  # at or above: a new record, and a review item proposing the merge
# Fields a later row may fill when the record lacks them (a duplicate adds, it does not overwrite).
_FILLABLE = ("sex", "birth_date", "household_type", "phone_enc", "phone_hash")


@dataclass
class IdentityTrace:
    """Where the rows of a batch went (people): each taken row's identity key, and the keys that were
    renamed when a record known without a document number took one (old key → new key)."""

    rows: dict[int, str] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)

    def final_key(self, row_number: int) -> str | None:
        key = self.rows.get(row_number)
        while key is not None and key in self.renamed:
            key = self.renamed[key]
        return key


@dataclass
class BatchReport:
    batch: int
    source: str
    file: str
    rows: int = 0
    accepted: int = 0
    merged: int = 0
    unchanged: int = 0
    quarantined: int = 0
    flagged: int = 0  # kept, with a value marked for a grid worker to verify
    resumed_from_row: int | None = None
    tasks: dict[str, int] = field(default_factory=dict)  # verification tasks created, by rule

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------------
# Sources


def register_source(session: Session, spec_text: str) -> Source:
    """Register (or update) a source from its YAML mapping spec; its name is the key."""
    spec = load_spec(spec_text)
    now = clock_now()
    source = session.scalars(select(Source).where(Source.name == spec.name)).first()
    if source is None:
        source = Source(name=spec.name, created_at=now, active=True)
        session.add(source)
    source.title = spec.title
    source.department = spec.department
    source.system = spec.system
    source.category = spec.category
    source.contact = spec.contact
    source.record_kind = spec.record
    source.spec_yaml = spec_text
    source.updated_at = now
    session.flush()
    return source


def source_with_spec(session: Session, name: str) -> tuple[Source, MappingSpec]:
    """A registered source and its spec; a shipped spec (the demo world's feeds) registers on first use."""
    source = session.scalars(select(Source).where(Source.name == name)).first()
    if source is None:
        shipped = builtin_spec_texts()
        if name not in shipped:
            known = ", ".join(sorted(shipped))
            raise NotFound(f"No source named '{name}': register its mapping spec first (shipped: {known})")
        source = register_source(session, shipped[name])
    if not source.active:
        raise InvalidInput(f"Source '{name}' is switched off")
    return source, load_spec(source.spec_yaml)


# ---------------------------------------------------------------------------------------------------------
# Batches


def _chunks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def ingest_file(
    factory: sessionmaker[Session],
    path: Path,
    *,
    source: str,
    file_format: str | None = None,
    started_by: str = "system",
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    trace: IdentityTrace | None = None,
    after: AfterBatch | None = None,
    workers: int = 1,
) -> BatchReport:
    """Run one batch of ``path`` through the pipeline; resumes an unfinished batch of the same file.

    ``trace`` (people): collects where each taken row went (``IdentityTrace``). ``after``: run once the
    batch is done (see ``AfterBatch``); its counts go to ``report.tasks``. ``workers=2``: a forked
    worker process reads the file and prepares its chunks a few ahead — maps and checks the rows, matches
    their addresses, encrypts and hashes what they give — while this one resolves identities and writes
    (for the command line and bulk loads; a server keeps the default, 1). The result is the same."""
    token = _TRACE.set(trace)
    try:
        return _ingest_file(
            factory, path, source, file_format, started_by, chunk_rows, progress, after, workers
        )
    finally:
        _TRACE.reset(token)


def _ingest_file(
    factory: sessionmaker[Session],
    path: Path,
    source: str,
    file_format: str | None,
    started_by: str,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
    after: AfterBatch | None,
    workers: int,
) -> BatchReport:
    if not path.is_file():
        raise InvalidInput(f"'{path}' is not a file")
    if chunk_rows < 1:  # a chunk of none would end the batch at once, as if the file were empty
        raise InvalidInput(f"Rows per chunk must be at least 1 (got {chunk_rows})")
    kind = file_format or detect_format(path)
    sha = sha256_of(path)
    with transaction(factory) as session:
        src, spec = source_with_spec(session, source)
        if spec.record not in _PIPELINES:
            raise InvalidInput(
                f"Importing '{spec.record}' records is not built yet (people, rentals and entities are)"
            )
        batch = session.scalars(
            select(Batch).where(
                Batch.source_id == src.id, Batch.file_sha256 == sha, Batch.status == "running"
            )
        ).first()
        resumed = batch is not None
        if batch is None:
            batch = Batch(
                source_id=src.id,
                file_name=path.name[:255],
                file_sha256=sha,
                file_format=kind,
                status="running",
                rows=0,
                accepted=0,
                merged=0,
                unchanged=0,
                quarantined=0,
                next_row=1,
                started_at=clock_now(),
                started_by=started_by[:64],
            )
            session.add(batch)
            session.flush()
        batch_id, next_row, source_id = batch.id, batch.next_row, src.id
    report = BatchReport(batch=batch_id, source=source, file=str(path))
    if resumed:
        report.resumed_from_row = next_row
    for prepared in _prepared_chunks(factory, spec, path, kind, next_row, chunk_rows, batch_id, workers):
        with transaction(factory) as session:
            counts = _PIPELINES[spec.record](session, spec, source_id, batch_id, prepared)
            batch = session.get_one(Batch, batch_id)
            for name in ("rows", "accepted", "merged", "unchanged", "quarantined"):
                setattr(batch, name, getattr(batch, name) + counts[name])
            batch.next_row = prepared.last_row + 1
            record(
                session,
                action="ingest.chunk",
                object_type="ingest_batch",
                object_id=batch_id,
                details={"source": source, **{k: int(v) for k, v in counts.items()}},
            )
        report.flagged += counts["flagged"]
        if progress is not None:
            progress(counts["rows"])
    with transaction(factory) as session:
        batch = session.get_one(Batch, batch_id)
        batch.status = "done"
        batch.finished_at = clock_now()
        report.rows, report.accepted, report.merged = batch.rows, batch.accepted, batch.merged
        report.unchanged, report.quarantined = batch.unchanged, batch.quarantined
    if after is not None:
        with transaction(factory) as session:
            report.tasks.update(after(session, batch_id))
    return report


#: What runs when a batch is done, in its own transaction, given the session and the batch id: in the app,
#: the CLI and the demo, ``rules.service.tasks_after_batch`` (it sits below this package, so it is passed
#: in), which turns what the batch brought into verification tasks and returns their counts by rule.
AfterBatch = Callable[[Session, int], dict[str, int]]


# ---------------------------------------------------------------------------------------------------------
# People


def _id_hash(values: dict[str, Any], raw_text: str | None) -> str | None:
    """The lookup hash of the document number: the valid one, or (flagged as invalid) the text as written,
    so the same wrong number typed twice still meets itself."""
    number = values.get("id_number") or (raw_text or "").strip().upper()
    return crypto.lookup_hash(number, "resident_id") if number else None


def _ingest_people(
    session: Session, spec: MappingSpec, source_id: int, batch_id: int, prepared: _Prepared
) -> Counter[str]:
    # A row without any document number can still say who it is by name and birth date (a source that
    # collects no IDs, such as door access): it goes through the careful fuzzy match below.
    counts = _take(session, source_id, batch_id, prepared)
    good: list[_PersonRow] = prepared.good
    if not good:
        return counts
    hashes = [id_hash for _number, id_hash, _values, _lineage in good]
    existing = {
        person.id_hash: person
        for person in session.execute(
            select(PERSON).where(_in(session, PERSON.c.id_hash, {h for h in hashes if h}))
        ).mappings()
    }
    reviews: list[tuple[str, dict[str, Any], int]] = []
    adopted = _adopt_records_without_id(session, batch_id, good, hashes, existing, reviews)
    keys = (
        _resolve_without_id(session, good, hashes, existing, reviews)
        if not all(hashes)
        else [key or "" for key in hashes]
    )
    trace = _TRACE.get()
    if trace is not None:
        trace.rows.update((number, key) for (number, *_rest), key in zip(good, keys, strict=True))
    now = clock_now()
    inserts: dict[str, dict[str, Any]] = {}
    updates: dict[str, dict[str, Any]] = {}
    changes: list[dict[str, Any]] = []
    area_deltas: Counter[tuple[str, str]] = Counter()
    # Rows with a document number first: a row without one may resolve to a person this chunk brings.
    order = sorted(range(len(good)), key=lambda i: hashes[i] is None)
    for (_number, _hash, values, lineage), id_hash in ((good[i], keys[i]) for i in order):
        seen = inserts.get(id_hash) or updates.get(id_hash) or existing.get(id_hash)
        if seen is None:
            inserts[id_hash] = _fresh(
                values, "id_hash", id_hash, lineage, batch_id, now, status="resident", version=1
            )
            counts["accepted"] += 1
            _count_person(area_deltas, values, +1)
            continue
        # Made or changed by this batch already (an earlier row, maybe an earlier chunk): a duplicate row.
        # (A row that gave a record known without a number its number changed it: accepted.)
        adopting = id_hash in adopted
        adopted.discard(id_hash)
        if adopting:  # no longer a person without a document number
            _count_in_areas(area_deltas, dict(seen), ["people_no_document"], -1)
        this_batch = seen.get("seen_batch_id") == batch_id and not adopting
        change = _merge_person(dict(seen), values, lineage)
        if not change:
            counts["accepted" if adopting else "merged" if this_batch else "unchanged"] += 1
            continue
        counts["merged" if this_batch else "accepted"] += 1
        target = inserts.get(id_hash)
        if target is not None:
            target.update(change)
        else:
            updates[id_hash] = {**dict(seen), **change, "seen_batch_id": batch_id, "updated_at": now}
        if "grid_code" in change and seen.get("grid_code") != change["grid_code"]:
            _count_person(area_deltas, dict(seen), -1)
            _count_person(area_deltas, {**dict(seen), **change}, +1)
            if seen.get("id") is not None:
                changes.append(_moved(seen, change, batch_id, now))
    _write_chunk(session, PERSON, "id_hash", inserts, updates, changes)
    if reviews:
        _queue_reviews(session, batch_id, reviews, now)
    _bump_counts(session, area_deltas)
    return counts


#: A person row ready to resolve and write: its row number, the lookup hash of its document number (None:
#: it has none), its values (``_person_values``: encrypted, hashed, placed) and their lineage.
_PersonRow = tuple[int, str | None, dict[str, Any], dict[str, str]]


def _prepare_people(
    spec: MappingSpec,
    good: Sequence[tuple[RawRow, MappedRow]],
    matches: dict[str, list[list[str]]],
    batch_id: int,
) -> list[_PersonRow]:
    """What each person row gives without asking the database (in the worker process with ``workers=2``)."""
    from gridgov.address.match import decide

    id_column = spec.fields["id_number"].column
    prepared: list[_PersonRow] = []
    for (raw, row), match in zip(good, matches["address"], strict=True):
        code, _text, _level, score, _decision, street, community, grid, _reason = match
        placed = bool(code) and decide(float(score or 0)) != "reject"
        id_text = str(raw.cells.get(id_column) or "").strip()
        values = _person_values(row, id_text, placed, code, street, community, grid, score)
        id_hash = _id_hash(row.values, raw.cells.get(id_column))
        prepared.append((raw.number, id_hash, values, _lineage_of_row(values, batch_id, raw.number)))
    return prepared


NO_ID_PREFIX = "nid:"  # the identity key of a person known without any document number


def _name_key(name: str) -> str:
    return "".join(name.split())


def _resolve_without_id(
    session: Session,
    good: Sequence[_PersonRow],
    hashes: Sequence[str | None],
    existing: dict[str, Any],
    reviews: list[tuple[str, dict[str, Any], int]],
) -> list[str]:
    """Identity keys for the rows without any document number, by careful fuzzy matching: the same name
    (spaces ignored) and birth date, then the dwelling, phone and sex weigh for or against.

    Sure (one candidate at ``SURE_SAME_PERSON`` or above): the row merges into that person. Doubtful
    (``DOUBTFUL_SAME_PERSON`` or above, or several sure ones): a new record, and a review item proposing
    the merge for a person to decide. No candidate: a new record. A new record's key is made from what the
    row says, so the same row imported again meets its own record and changes nothing."""

    wanted = [i for i, h in enumerate(hashes) if h is None]
    names = {good[i][2]["name_key"] for i in wanted}
    births = {good[i][2]["birth_date"] for i in wanted}
    pool: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for person in session.execute(
        select(PERSON).where(
            _in(session, PERSON.c.name_key, names), _in(session, PERSON.c.birth_date, births)
        )
    ).mappings():
        pool.setdefault((_name_key(person["name"]), person["birth_date"]), []).append(dict(person))
        existing.setdefault(person["id_hash"], person)
    for i, key in enumerate(hashes):  # this chunk's rows with a number (they are written first)
        if key is not None and key not in existing and good[i][2]["birth_date"] in births:
            values = good[i][2]
            pool.setdefault((values["name_key"], values["birth_date"]), []).append(
                {
                    "id_hash": key,
                    "dwelling_code": values["dwelling_code"],
                    "phone_hash": values["phone_hash"],
                    "sex": values["sex"],
                }
            )
    resolved = [key or "" for key in hashes]
    for i in wanted:
        number, _hash, values, _lineage = good[i]
        dwelling, phone = values["dwelling_code"], values["phone_hash"]
        said = "|".join(
            str(part)
            for part in (values["name_key"], values["birth_date"], dwelling or values["address_text"], phone)
        )
        own_key = NO_ID_PREFIX + hashlib.sha256(said.encode()).hexdigest()[:60]
        candidates = pool.setdefault((values["name_key"], values["birth_date"]), [])
        if own_key in existing or any(c["id_hash"] == own_key for c in candidates):
            resolved[i] = own_key  # this very row came before
            continue
        scored = sorted(
            (
                (*_same_person_score(candidate, dwelling, phone, values["sex"]), candidate["id_hash"])
                for candidate in candidates
            ),
            key=lambda item: -item[0],
        )
        sure = {item[2] for item in scored if item[0] >= SURE_SAME_PERSON}
        if len(sure) == 1:
            resolved[i] = sure.pop()
            continue
        resolved[i] = own_key
        candidates.append(
            {"id_hash": own_key, "dwelling_code": dwelling, "phone_hash": phone, "sex": values["sex"]}
        )
        if scored and scored[0][0] >= DOUBTFUL_SAME_PERSON:
            score, why, candidate_key = scored[0]
            reviews.append((own_key, {"candidate": candidate_key, "score": score, "why": why}, number))
    return resolved


def _adopt_records_without_id(
    session: Session,
    batch_id: int,
    good: Sequence[_PersonRow],
    hashes: Sequence[str | None],
    existing: dict[str, Any],
    reviews: list[tuple[str, dict[str, Any], int]],
) -> set[str]:
    """A row with a document number that is new to the registry may be someone known so far without one
    (an earlier door-access row): when exactly one such record is surely them, that record takes the
    number — it becomes this person, rather than a second record beside them. A doubtful one is queued
    for review (the record without a number would fold into the new one)."""

    fresh = [i for i, key in enumerate(hashes) if key is not None and key not in existing]
    adopted: set[str] = set()
    if not fresh or not _anyone_without_document(session):
        return adopted
    names = {good[i][2]["name_key"] for i in fresh}
    births = {good[i][2]["birth_date"] for i in fresh} - {None}
    if not births:
        return adopted
    pool: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for person in session.execute(
        select(PERSON).where(
            _in(session, PERSON.c.name_key, names),
            _in(session, PERSON.c.birth_date, births),
            PERSON.c.id_hash.like(f"{NO_ID_PREFIX}%"),
        )
    ).mappings():
        pool.setdefault((person["name_key"], person["birth_date"]), []).append(dict(person))
    if not pool:
        return adopted
    taken: set[str] = set()
    for i in fresh:
        number, key, values, _lineage = good[i]
        assert key is not None
        if key in existing:
            continue  # an earlier row of this chunk already took a record for this number
        dwelling, phone = values["dwelling_code"], values["phone_hash"]
        candidates = [
            c for c in pool.get((values["name_key"], values["birth_date"]), []) if c["id_hash"] not in taken
        ]
        scored = sorted(
            ((*_same_person_score(c, dwelling, phone, values["sex"]), c) for c in candidates),
            key=lambda item: -item[0],
        )
        sure = [item for item in scored if item[0] >= SURE_SAME_PERSON]
        if len(sure) == 1:
            record = sure[0][2]
            changes = {
                "id_hash": key,
                # The number as the row gives it (encrypted with the row's values, in ``_person_values``).
                "id_number_enc": values["id_number_enc"],
                "id_valid": values["id_valid"],
                "doc_type": "resident_id",
                "seen_batch_id": batch_id,
                "lineage": {
                    **(record["lineage"] or {}),
                    "id_number_enc": f"b{batch_id}:r{number}",
                    "id_valid": f"b{batch_id}:r{number}",
                },
                "updated_at": clock_now(),
            }
            session.execute(update(PERSON).where(PERSON.c.id == record["id"]).values(**changes))
            taken.add(record["id_hash"])
            trace = _TRACE.get()
            if trace is not None:
                trace.renamed[record["id_hash"]] = key
            existing[key] = {**record, **changes}
            adopted.add(key)
        elif scored and scored[0][0] >= DOUBTFUL_SAME_PERSON:
            score, why, record = scored[0]
            reviews.append((record["id_hash"], {"candidate": key, "score": score, "why": why}, number))
    return adopted


def _anyone_without_document(session: Session) -> bool:
    """Whether the registry knows anyone without a document number (one lookup of a maintained count:
    most feeds carry IDs, and then no row needs the search for such a record)."""
    table = cast(Table, AreaCount.__table__)
    count = session.scalar(
        select(table.c.value).where(
            table.c.area_code == DISTRICT_CODE, table.c.metric == "people_no_document"
        )
    )
    return bool(count)


def _same_person_score(
    candidate: dict[str, Any], dwelling: str | None, phone_hash: str | None, sex: str | None
) -> tuple[float, dict[str, str]]:
    """How sure a candidate with the same name and birth date is the same person, and why."""
    score, why = 0.5, {"name": "same", "birth_date": "same"}
    theirs = candidate.get("dwelling_code")
    if dwelling and theirs:
        if theirs == dwelling:
            score, why["dwelling"] = score + 0.4, "same"
        elif theirs[:20] == dwelling[:20]:  # a dwelling's code begins with its building's
            score, why["dwelling"] = score + 0.2, "same_building"
        else:
            why["dwelling"] = "different"
    if phone_hash and candidate.get("phone_hash"):
        same_phone = candidate["phone_hash"] == phone_hash
        score += 0.3 if same_phone else -0.2
        why["phone"] = "same" if same_phone else "different"
    if sex and candidate.get("sex") and sex != candidate["sex"]:
        score, why["sex"] = score - 1.0, "different"
    return round(score, 2), why


def _queue_reviews(
    session: Session, batch_id: int, reviews: list[tuple[str, dict[str, Any], int]], now: Any
) -> None:
    """Doubtful merges (new record ↔ the best candidate) into the identity review queue."""
    keys = {key for key, _info, _row in reviews} | {str(info["candidate"]) for _key, info, _row in reviews}
    ids = dict(
        session.execute(
            select(PERSON.c.id_hash, PERSON.c.id).where(_in(session, PERSON.c.id_hash, keys))
        ).all()
    )
    session.execute(
        insert(cast(Table, IdentityReview.__table__)),
        [
            {
                "record_kind": "person",
                "record_id": ids[key],
                "candidate_id": ids[str(info["candidate"])],
                "score": info["score"],
                "reasons": info["why"],
                "status": "open",
                "batch_id": batch_id,
                "row_number": row_number,
                "created_at": now,
            }
            for key, info, row_number in reviews
            if key in ids and str(info["candidate"]) in ids
        ],
    )


def _person_values(
    row: MappedRow,
    id_text: str,
    placed: bool,
    code: str,
    street: str,
    community: str,
    grid: str,
    score: str,
) -> dict[str, Any]:
    values = row.values
    id_number = values.get("id_number")
    phone = values.get("phone")
    flagged = {flag.field for flag in row.flags}
    return {
        # A number that failed its check is kept as written (encrypted like any other), for the grid worker.
        "id_number_enc": crypto.encrypt(id_number or id_text, ID_CONTEXT) if (id_number or id_text) else None,
        "id_valid": "id_number" not in flagged,
        "doc_type": "resident_id" if (id_number or id_text) else "none",
        "name": values["name"],
        "name_key": _name_key(values["name"]),
        "sex": values.get("sex"),
        "birth_date": values.get("birth_date"),
        "household_type": values.get("household_type"),
        "phone_enc": crypto.encrypt(phone, PHONE_CONTEXT) if phone else None,
        "phone_hash": crypto.lookup_hash(phone, "phone") if phone else None,
        "dwelling_code": code if placed else None,
        "address_text": values["address"],
        "address_score": float(score) if score else None,
        "move_in_date": values.get("move_in_date"),
        "street_code": (street or None) if placed else None,
        "community_code": (community or None) if placed else None,
        "grid_code": (grid or None) if placed else None,
    }


def _merge_person(
    stored: dict[str, Any], incoming: dict[str, Any], lineage: dict[str, str]
) -> dict[str, Any]:
    """What ``incoming`` changes in ``stored``: missing fields filled; a later move-in elsewhere moves the
    person (address, dwelling and area codes). Lineage follows every changed field."""
    change: dict[str, Any] = {}
    for name in _FILLABLE:
        if stored.get(name) is None and incoming.get(name) is not None:
            change[name] = incoming[name]
    moved_in: date | None = incoming.get("move_in_date")
    known: date | None = stored.get("move_in_date")
    if (
        incoming.get("dwelling_code")
        and incoming["dwelling_code"] != stored.get("dwelling_code")
        and moved_in is not None
        and (known is None or moved_in > known)
    ):
        for name in (
            "dwelling_code",
            "address_text",
            "address_score",
            "move_in_date",
            "street_code",
            "community_code",
            "grid_code",
        ):
            if incoming.get(name) != stored.get(name):
                change[name] = incoming.get(name)
    if change:
        merged_lineage = dict(stored.get("lineage") or {})
        merged_lineage.update({name: lineage[name] for name in change if name in lineage})
        change["lineage"] = merged_lineage
    return change


def _moved(stored: Any, change: dict[str, Any], batch_id: int, now: Any) -> dict[str, Any]:
    return {
        "kind": "moved",
        "record_kind": "person",
        "record_id": stored["id"],
        "grid_code": change.get("grid_code"),
        "batch_id": batch_id,
        "at": now,
        "details": {"from_grid": stored.get("grid_code"), "to_grid": change.get("grid_code")},
    }


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows set-based, in the session's transaction: COPY on PostgreSQL (several times faster
    than multi-row INSERTs for the registry's wide rows), one executemany of plain tuples on the driver
    elsewhere (SQLAlchemy's own executemany builds and processes a parameter dict per row: an eighth of a
    district-scale people import on SQLite). Columns a row leaves out get their defaults as an INSERT would
    (the id from its sequence)."""
    if not rows:
        return
    columns, cells = _cells_of(table, rows)
    quoted = ", ".join(f'"{c.name}"' for c in columns)
    raw = session.connection().connection.driver_connection
    assert raw is not None
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        # Each value through the dialect's own bind processor (JSON, dates, booleans), so what is stored
        # is exactly what SQLAlchemy's INSERT would store.
        processing = [
            (i, process)
            for i, c in enumerate(columns)
            if (process := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        for row_cells in cells:
            for i, process in processing:
                row_cells[i] = process(row_cells[i])
        marks = ", ".join("?" for _c in columns)
        raw.cursor().executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})', cells)
        return
    as_json = [i for i, c in enumerate(columns) if isinstance(c.type, JSON)]
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row_cells in cells:
            for i in as_json:
                if row_cells[i] is not None:
                    row_cells[i] = _JSON_TEXT(row_cells[i])
            copy.write_row(row_cells)


def _cells_of(table: Table, rows: list[dict[str, Any]]) -> tuple[list[Column[Any]], list[list[Any]]]:
    """The columns the rows fill (or that have a default) and each row's values in their order."""
    names = {name for row in rows for name in row}
    columns = [c for c in table.columns if c.name in names or (c.default is not None and not c.primary_key)]
    order = [c.name for c in columns]
    # Per row, only what differs from one row to the next is looked at column by column: a value the row
    # leaves out takes the column's default (a callable one is called for each row, as an INSERT would).
    constant = {c.name: _default_of(c) for c in columns if c.default is not None and c.default.is_scalar}
    called = {c.name: c for c in columns if c.default is not None and not c.default.is_scalar}
    return columns, [
        [
            row[name]
            if name in row
            else constant[name]
            if name in constant
            else _default_of(called[name])
            if name in called
            else None
            for name in order
        ]
        for row in rows
    ]


# json.dumps(value, ensure_ascii=False, default=str), without making an encoder for every value.
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _in(session: Session, column: Any, values: Iterable[Any]) -> Any:
    """``column IN values``, with the values as one parameter: a chunk asks for thousands of values, and a
    parameter each costs more to compile and send than the query takes (SQLite also allows only 32,766).
    On PostgreSQL an array (``= ANY``); on SQLite a JSON array read by ``json_each``, each value as the
    column stores it (give a text column text: ``json_each`` values are compared without conversion).
    Both use the column's index as a plain ``IN`` list does."""
    from sqlalchemy import Select, any_, bindparam, func, literal_column

    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    stored = [process(value) for value in values] if process is not None else list(values)
    # Unescaped: a name with a character beyond the basic plane stays one character, not a surrogate pair.
    array = json.dumps(stored, ensure_ascii=False)
    listed: Select[tuple[Any]] = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, array))
    )
    return column.in_(listed.scalar_subquery())


def _lineage_of_row(values: dict[str, Any], batch_id: int, row_number: int) -> dict[str, str]:
    """Every value a row gives, traced to its batch and row."""
    source = f"b{batch_id}:r{row_number}"
    return {name: source for name, value in values.items() if value is not None}


def _fresh(
    values: dict[str, Any],
    key_column: str,
    key: str,
    lineage: dict[str, str],
    batch_id: int,
    now: Any,
    **extra: Any,
) -> dict[str, Any]:
    """A new record made by this batch, identified by ``key`` in ``key_column``."""
    return {
        **values,
        key_column: key,
        "lineage": lineage,
        "seen_batch_id": batch_id,
        "updated_at": now,
        **extra,
    }


def _write_chunk(
    session: Session,
    table: Table,
    key_column: str,
    inserts: dict[str, dict[str, Any]],
    updates: dict[str, dict[str, Any]],
    changes: list[dict[str, Any]],
) -> None:
    """A chunk's new records, changed records (matched on their identity column) and recorded changes."""
    bulk_insert(session, table, list(inserts.values()))
    if updates:
        _update_by(session, table, key_column, list(updates.values()))
    if changes:
        session.execute(insert(cast(Table, RegistryChange.__table__)), changes)


def _default_of(column: Column[Any]) -> Any:
    """A column's Python-side default: a scalar, or a callable SQLAlchemy wrapped to take a context."""
    default: Any = column.default
    if default is None:
        return None
    return default.arg if default.is_scalar else default.arg(None)


def _update_by(session: Session, table: Table, key: str, rows: list[dict[str, Any]]) -> None:
    """Write whole rows back, matched on their identity column ``key`` (one executemany)."""
    from sqlalchemy import bindparam

    columns = [c.name for c in table.columns if c.name not in ("id", key)]
    statement = (
        update(table)
        .where(table.c[key] == bindparam("match_key"))
        .values({name: bindparam(f"v_{name}") for name in columns})
    )
    session.execute(
        statement,
        [{"match_key": row[key], **{f"v_{name}": row.get(name) for name in columns}} for row in rows],
    )


def _count_in_areas(
    deltas: Counter[tuple[str, str]], values: dict[str, Any], metrics: list[str], sign: int
) -> None:
    """Add ``sign`` to each metric in the district and in the record's street, community and grid."""
    for area in (
        DISTRICT_CODE,
        values.get("street_code"),
        values.get("community_code"),
        values.get("grid_code"),
    ):
        if area:
            for metric in metrics:
                deltas[(area, metric)] += sign


def _count_person(deltas: Counter[tuple[str, str]], values: dict[str, Any], sign: int) -> None:
    metrics = ["people"]
    if values.get("doc_type") == "none":
        metrics.append("people_no_document")  # known without a document number (to verify)
    if values.get("household_type") in ("registered", "floating"):
        metrics.append(f"people_{values['household_type']}")
    _count_in_areas(deltas, values, metrics, sign)


def _bump_counts(session: Session, deltas: Counter[tuple[str, str]]) -> None:
    changed = {key: value for key, value in deltas.items() if value}
    if not changed:
        return
    table = cast(Table, AreaCount.__table__)
    # Every delta added to its row, or inserted as it (the same sums as looking up which rows exist, then
    # inserting some and updating the others).
    into = f"INSERT INTO {table.name} (area_code, metric, value)"
    add = f"ON CONFLICT (area_code, metric) DO UPDATE SET value = {table.name}.value + excluded.value"
    if session.get_bind().dialect.name == "postgresql":
        # One statement: the deltas as three arrays.
        session.execute(
            text(
                f"{into} SELECT * FROM unnest(CAST(:areas AS varchar[]), CAST(:metrics AS varchar[]), "
                f"CAST(:deltas AS integer[])) {add}"
            ),
            {
                "areas": [area for area, _metric in changed],
                "metrics": [metric for _area, metric in changed],
                "deltas": list(changed.values()),
            },
        )
        return
    # SQLite has no arrays to unnest: one executemany, a row per delta.
    session.execute(
        text(f"{into} VALUES (:area, :metric, :delta) {add}"),
        [{"area": area, "metric": metric, "delta": delta} for (area, metric), delta in changed.items()],
    )


def _take(session: Session, source_id: int, batch_id: int, prepared: _Prepared) -> Counter[str]:
    """Quarantine what a chunk cannot take; the counts so far (the pipeline goes on with ``prepared.good``).

    A row sent again (a fixed quarantine row) settles its earlier entry, whether it goes in this time or
    is held again (then under this batch, with its new reasons)."""
    counts: Counter[str] = Counter(rows=prepared.rows)
    _mark_replayed(session, source_id, batch_id, prepared.row_ids)
    if prepared.held:
        bulk_insert(session, cast(Table, QuarantineRow.__table__), prepared.held)
    counts["quarantined"] += len(prepared.held)
    if prepared.flagged:
        counts["flagged"] += prepared.flagged
    return counts


@dataclass
class _Prepared:
    """A chunk read, mapped, checked and address-matched, with every value its rows give that needs no
    database (encrypted numbers, lookup hashes, lineage): the pure half of the pipeline. With
    ``workers=2`` a worker process makes it while the chunk before it is written, on the second core."""

    rows: int  # rows in the chunk
    last_row: int  # the number of its last row (the batch resumes after it)
    row_ids: set[str]  # the source's row ids (a row sent again settles its earlier quarantine entry)
    held: list[dict[str, Any]]  # the quarantine rows of the rows that cannot be taken
    flagged: int  # rows taken with a value marked for verification
    good: list[Any]  # the rows to take, as the kind's preparer gives them (``_PersonRow`` …)


# What each kind matches in the address library, and how its rows say who or what they are.
_MATCHED_FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("address",),
    "rental": ("address",),
    "entity": ("operating_address", "registered_address"),
    "building": (),
    "dwelling": (),
}
_IDENTITY: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "person": ("id_number", ("name", "birth_date")),
    "rental": (None, ()),
    "entity": ("credit_code", ()),
    "building": ("code", ()),
    "dwelling": ("code", ()),
}
_ENCRYPTS = ("person", "rental")  # kinds whose preparation encrypts (the keyring is loaded before a fork)
_AHEAD = 2  # prepared chunks a worker may hold ready beyond the one being written


def _prepared_chunks(
    factory: sessionmaker[Session],
    spec: MappingSpec,
    path: Path,
    file_format: str,
    next_row: int,
    chunk_rows: int,
    batch_id: int,
    workers: int,
) -> Iterator[_Prepared]:
    """The file's chunks from ``next_row`` on, prepared. With ``workers`` > 1 a forked worker process reads
    and prepares them, a few chunks ahead of the caller, which only resolves and writes."""
    from gridgov.address.batch import cached_library, match_texts

    matched = bool(_MATCHED_FIELDS[spec.record])
    if workers < 2:

        def current_library() -> Any:  # as each chunk goes in (the library may change between chunks)
            with factory() as session:
                return cached_library(session)

        yield from _prepare_file(
            spec, path, file_format, next_row, chunk_rows, batch_id, current_library if matched else None
        )
        return
    import gc
    import multiprocessing

    library: Any = None
    if matched:
        with factory() as session:
            library = cached_library(session)
        match_texts(library, [])  # builds the matcher here, once: the worker inherits it with the library
    if spec.record in _ENCRYPTS:
        crypto.get_keyring()  # the worker encrypts under this process's keys, never ones of its own
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=_AHEAD)
    worker = context.Process(
        target=_prepare_in_worker,
        args=(queue, spec, path, file_format, next_row, chunk_rows, batch_id, library),
        name="gridgov-ingest-prepare",
        daemon=True,
    )
    # Frozen for the whole import: the collector in the worker leaves the shared library and matcher alone
    # (not copied page by page), and the one here stops rescanning their millions of objects at every full
    # collection (7% of a district-scale people import).
    gc.freeze()
    try:
        worker.start()
        try:
            while (item := _next_prepared(queue, worker)) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
            worker.join()
        finally:
            if worker.is_alive():
                worker.terminate()
            worker.join()
            queue.close()
    finally:
        gc.unfreeze()


def _prepare_file(
    spec: MappingSpec,
    path: Path,
    file_format: str,
    next_row: int,
    chunk_rows: int,
    batch_id: int,
    library: Callable[[], Any] | None,
) -> Iterator[_Prepared]:
    rows = (raw for raw in read_rows(path, file_format) if raw.number >= next_row)
    for chunk in _chunks(rows, chunk_rows):
        yield _prepare_chunk(spec, chunk, batch_id, library)


def _prepare_in_worker(
    queue: Any,
    spec: MappingSpec,
    path: Path,
    file_format: str,
    next_row: int,
    chunk_rows: int,
    batch_id: int,
    library: Any,
) -> None:
    """The worker process: every chunk prepared onto ``queue``, then None (or the error that stopped it)."""
    try:
        for prepared in _prepare_file(
            spec,
            path,
            file_format,
            next_row,
            chunk_rows,
            batch_id,
            (lambda: library) if library is not None else None,
        ):
            queue.put(prepared)
        queue.put(None)
    except Exception as exc:
        import pickle
        import traceback

        exc.add_note("(in the import's worker process)\n" + traceback.format_exc())
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        queue.put(exc)


def _next_prepared(queue: Any, worker: Any) -> _Prepared | BaseException | None:
    from queue import Empty

    while True:
        try:
            item: _Prepared | BaseException | None = queue.get(timeout=1.0)
            return item
        except Empty:
            if worker.is_alive():
                continue
            try:  # what it sent just before it ended
                item = queue.get(timeout=1.0)
                return item
            except Empty:
                raise RuntimeError(
                    f"The import's worker process ended unexpectedly (exit code {worker.exitcode})"
                ) from None


def _prepare_chunk(
    spec: MappingSpec, chunk: list[RawRow], batch_id: int, library: Callable[[], Any] | None
) -> _Prepared:
    """Map and check a chunk, match the addresses its good rows carry (``library``: the address library,
    asked for only when there are any), and prepare what they give."""
    from gridgov.address.batch import match_texts

    identity, fallback = _IDENTITY[spec.record]
    mapped = [map_row(spec, raw.cells, problems=raw.problems) for raw in chunk]
    if identity is not None:
        _require_identity(spec, chunk, mapped, identity, fallback)
    good = [(raw, row) for raw, row in zip(chunk, mapped, strict=True) if row.ok]
    matches: dict[str, list[list[str]]] = {}
    if good and library is not None:
        addresses = library()
        matches = {
            field: match_texts(addresses, [row.values.get(field) for _raw, row in good])
            for field in _MATCHED_FIELDS[spec.record]
        }
    return _Prepared(
        rows=len(chunk),
        last_row=chunk[-1].number,
        row_ids={row.row_id for row in mapped if row.row_id},
        held=_held(batch_id, chunk, mapped),
        flagged=sum(1 for _raw, row in good if row.flags),
        good=_PREPARERS[spec.record](spec, good, matches, batch_id) if good else [],
    )


def _require_identity(
    spec: MappingSpec,
    chunk: Sequence[RawRow],
    mapped: Sequence[MappedRow],
    field: str,
    fallback: tuple[str, ...] = (),
) -> None:
    """A row that says nothing of who or what it is (no ID, not even a wrong one, and not all of the
    ``fallback`` fields either) cannot be matched to a record: it is quarantined, so every row still ends
    in one count."""
    spec_field = spec.fields.get(field)
    column = spec_field.column if spec_field else field
    for raw, row in zip(chunk, mapped, strict=True):
        if row.ok and not row.values.get(field) and not str(raw.cells.get(column) or "").strip():
            if fallback and all(row.values.get(name) for name in fallback):
                continue
            row.problems.append(Problem("missing_identity", field, column))


def seal_cells(cells: dict[str, Any]) -> str:
    """A quarantined row's cells as stored: the JSON object encrypted like the registry's fields (they hold
    resident IDs and phones as they arrived)."""
    return crypto.encrypt(json.dumps(cells, ensure_ascii=False, separators=(",", ":")), QUARANTINE_CONTEXT)


def open_cells(stored: str | dict[str, Any] | None) -> dict[str, Any]:
    """A quarantined row's cells in clear (a caller that shows them needs ``personal.reveal`` and a
    reason); a row stored before encryption (a plain object) is returned as it is."""
    if stored is None:
        return {}
    if isinstance(stored, dict):
        return stored
    cells = json.loads(crypto.decrypt(stored, QUARANTINE_CONTEXT))
    return cells if isinstance(cells, dict) else {}


def _held(batch_id: int, chunk: Sequence[RawRow], mapped: Sequence[MappedRow]) -> list[dict[str, Any]]:
    """The quarantine rows of a chunk: each row that cannot be taken, as it arrived, with its reasons."""
    return [
        {
            "batch_id": batch_id,
            "row_number": raw.number,
            "row_id": (row.row_id or "")[:64] or None,
            "cells": seal_cells(dict(raw.cells) if raw.raw is None else {**raw.cells, "_fields": raw.raw}),
            "problems": [
                {"code": p.code, "field": p.field, "column": p.column, "detail": p.detail}
                for p in row.problems
            ],
            "status": "open",
        }
        for raw, row in zip(chunk, mapped, strict=True)
        if not row.ok
    ]


def _settle(
    counts: Counter[str],
    key: str,
    stored: dict[str, Any],
    change: dict[str, Any],
    lineage: dict[str, str],
    inserts: dict[str, dict[str, Any]],
    updates: dict[str, dict[str, Any]],
    batch_id: int,
    now: Any,
) -> bool:
    """Count a row that resolved to a known record and queue its change; False when it changes nothing.

    Merged when this batch already made or changed the record (a duplicate row), else accepted (a
    change) or unchanged (nothing new). Lineage follows every changed field.
    """
    this_batch = stored.get("seen_batch_id") == batch_id
    if not change:
        counts["merged" if this_batch else "unchanged"] += 1
        return False
    counts["merged" if this_batch else "accepted"] += 1
    merged_lineage = dict(stored.get("lineage") or {})
    merged_lineage.update({name: lineage[name] for name in change if name in lineage})
    change["lineage"] = merged_lineage
    target = inserts.get(key)
    if target is not None:
        target.update(change)
    else:
        updates[key] = {**stored, **change, "seen_batch_id": batch_id, "updated_at": now}
    return True


# ---------------------------------------------------------------------------------------------------------
# Legal entities

# Filled when missing; the register's newest word on these wins (a change is recorded).
_ENTITY_FILLABLE = (
    "entity_type",
    "legal_representative",
    "registered_capital_wan",
    "established_on",
    "industry",
    "registered_address_text",
    "registered_address_code",
    "risk_level",
    "three_small_kind",
)
_ENTITY_PLACE = (
    "operating_address_text",
    "operating_address_code",
    "street_code",
    "community_code",
    "grid_code",
)


def _ingest_entities(
    session: Session, spec: MappingSpec, source_id: int, batch_id: int, prepared: _Prepared
) -> Counter[str]:
    """Legal entities, one per unified social credit code (a code that fails its check is kept as written
    and flagged: the same wrong code typed twice still meets itself)."""
    counts = _take(session, source_id, batch_id, prepared)
    good: list[_EntityRow] = prepared.good
    if not good:
        return counts
    existing = {
        entity["credit_code"]: entity
        for entity in session.execute(
            select(ENTITY).where(_in(session, ENTITY.c.credit_code, {key for _n, key, _v, _l in good}))
        ).mappings()
    }
    now = clock_now()
    inserts: dict[str, dict[str, Any]] = {}
    updates: dict[str, dict[str, Any]] = {}
    changes: list[dict[str, Any]] = []
    area_deltas: Counter[tuple[str, str]] = Counter()
    for _number, key, values, lineage in good:
        seen = inserts.get(key) or updates.get(key) or existing.get(key)
        if seen is None:
            inserts[key] = _fresh(values, "credit_code", key, lineage, batch_id, now)
            counts["accepted"] += 1
            _count_entity(area_deltas, values, +1)
            continue
        stored = dict(seen)
        change = {
            name: values[name] for name in _ENTITY_FILLABLE if stored.get(name) is None and values.get(name)
        }
        if values["status"] != stored.get("status"):
            change["status"] = values["status"]
        if values["operating_address_code"] and values["operating_address_code"] != stored.get(
            "operating_address_code"
        ):
            change.update({name: values[name] for name in _ENTITY_PLACE})
        if not _settle(counts, key, stored, change, lineage, inserts, updates, batch_id, now):
            continue
        if "status" in change or "grid_code" in change:
            _count_entity(area_deltas, stored, -1)
            _count_entity(area_deltas, {**stored, **change}, +1)
        if stored.get("id") is not None:
            for kind, field in (("entity_status", "status"), ("entity_moved", "grid_code")):
                if field in change:
                    changes.append(
                        {
                            "kind": kind,
                            "record_kind": "entity",
                            "record_id": stored["id"],
                            "grid_code": change.get("grid_code", stored.get("grid_code")),
                            "batch_id": batch_id,
                            "at": now,
                            "details": {"from": stored.get(field), "to": change[field]},
                        }
                    )
    _write_chunk(session, ENTITY, "credit_code", inserts, updates, changes)
    _bump_counts(session, area_deltas)
    return counts


#: An entity row ready to write: its row number, its credit code (as written when it fails its check), its
#: values (``_entity_values``, placed) and their lineage.
_EntityRow = tuple[int, str, dict[str, Any], dict[str, str]]


def _prepare_entities(
    spec: MappingSpec,
    good: Sequence[tuple[RawRow, MappedRow]],
    matches: dict[str, list[list[str]]],
    batch_id: int,
) -> list[_EntityRow]:
    from gridgov.address.match import decide

    code_column = spec.fields["credit_code"].column
    prepared: list[_EntityRow] = []
    for (raw, row), op_match, reg_match in zip(
        good, matches["operating_address"], matches["registered_address"], strict=True
    ):
        key = row.values.get("credit_code") or str(raw.cells.get(code_column) or "").strip().upper()[:32]
        values = _entity_values(row, op_match, reg_match, decide)
        values["credit_code_valid"] = "credit_code" not in {flag.field for flag in row.flags}
        prepared.append((raw.number, key, values, _lineage_of_row(values, batch_id, raw.number)))
    return prepared


def _entity_values(
    row: MappedRow, op_match: Sequence[str], reg_match: Sequence[str], decide: Callable[[float], str]
) -> dict[str, Any]:
    values = row.values
    op_code, _t, _l, op_score, _d, street, community, grid, _r = op_match
    op_placed = bool(op_code) and decide(float(op_score or 0)) != "reject"
    reg_code, _t2, _l2, reg_score, *_rest = reg_match
    reg_placed = bool(reg_code) and decide(float(reg_score or 0)) != "reject"
    return {
        "name": values["name"],
        "entity_type": values.get("entity_type"),
        "legal_representative": values.get("legal_representative"),
        "registered_capital_wan": values.get("registered_capital_wan"),
        "established_on": values.get("established_on"),
        "status": values.get("status") or "active",
        "industry": values.get("industry"),
        "registered_address_text": values.get("registered_address"),
        "registered_address_code": reg_code if reg_placed else None,
        "operating_address_text": values["operating_address"],
        "operating_address_code": op_code if op_placed else None,
        "risk_level": values.get("risk_level"),
        "three_small_kind": values.get("three_small_kind"),
        "street_code": (street or None) if op_placed else None,
        "community_code": (community or None) if op_placed else None,
        "grid_code": (grid or None) if op_placed else None,
    }


def _count_entity(deltas: Counter[tuple[str, str]], values: dict[str, Any], sign: int) -> None:
    if values.get("status", "active") != "active":
        return  # counted while operating: a deregistered or revoked entity leaves the counts
    metrics = ["entities"]
    if values.get("three_small_kind"):
        metrics.append("entities_three_small")
    if values.get("entity_type"):
        metrics.append(f"entities:{str(values['entity_type'])[:23]}")  # by type (有限责任公司, 个体工商户 …)
    _count_in_areas(deltas, values, metrics, sign)


# ---------------------------------------------------------------------------------------------------------
# Rentals

_RENTAL_FILLABLE = ("landlord_id_enc", "landlord_phone_enc", "landlord_phone_hash", "end_date")


def _ingest_rentals(
    session: Session, spec: MappingSpec, source_id: int, batch_id: int, prepared: _Prepared
) -> Counter[str]:
    """Rental registrations, one per dwelling + landlord + start date; the tenants named on it are kept by
    the lookup hash of their ID (linked to the person when the population feed knows them). A later row
    with another declared occupancy or end date updates it."""
    counts = _take(session, source_id, batch_id, prepared)
    good: list[_RentalRow] = prepared.good
    if not good:
        return counts
    existing = {
        rental["identity_key"]: rental
        for rental in session.execute(
            select(RENTAL).where(_in(session, RENTAL.c.identity_key, {key for _n, key, *_rest in good}))
        ).mappings()
    }
    now = clock_now()
    inserts: dict[str, dict[str, Any]] = {}
    updates: dict[str, dict[str, Any]] = {}
    tenants_of: dict[str, set[str]] = {}
    area_deltas: Counter[tuple[str, str]] = Counter()
    for _number, key, values, tenants, lineage in good:
        tenants_of.setdefault(key, set()).update(tenants)
        seen = inserts.get(key) or updates.get(key) or existing.get(key)
        if seen is None:
            inserts[key] = _fresh(values, "identity_key", key, lineage, batch_id, now)
            counts["accepted"] += 1
            _count_in_areas(area_deltas, values, ["rentals"], +1)
            continue
        stored = dict(seen)
        change = {
            name: values[name] for name in _RENTAL_FILLABLE if stored.get(name) is None and values.get(name)
        }
        if values["declared_occupants"] is not None and values["declared_occupants"] != stored.get(
            "declared_occupants"
        ):
            change["declared_occupants"] = values["declared_occupants"]
        if not _settle(counts, key, stored, change, lineage, inserts, updates, batch_id, now):
            continue
    _write_chunk(session, RENTAL, "identity_key", inserts, updates, [])
    _add_tenants(session, tenants_of)
    _bump_counts(session, area_deltas)
    return counts


#: A rental row ready to write: its row number, its identity key (dwelling, landlord, start), its values
#: (encrypted, hashed, placed), the lookup hashes of its tenants' IDs and the values' lineage.
_RentalRow = tuple[int, str, dict[str, Any], set[str], dict[str, str]]


def _prepare_rentals(
    spec: MappingSpec,
    good: Sequence[tuple[RawRow, MappedRow]],
    matches: dict[str, list[list[str]]],
    batch_id: int,
) -> list[_RentalRow]:
    from gridgov.address.match import decide

    landlord_column = spec.fields["landlord_id_number"].column
    prepared: list[_RentalRow] = []
    for (raw, row), match in zip(good, matches["address"], strict=True):
        code, _t, _l, score, _d, street, community, grid, _r = match
        placed = bool(code) and decide(float(score or 0)) != "reject"
        landlord_id = (
            row.values.get("landlord_id_number") or str(raw.cells.get(landlord_column) or "").strip()
        )
        landlord_hash = crypto.lookup_hash(landlord_id.upper(), "resident_id") if landlord_id else None
        phone = row.values.get("landlord_phone")
        start: date | None = row.values.get("start_date")
        where = code if placed else " ".join(row.values["address"].split())
        key = hashlib.sha256(f"{where}|{landlord_hash}|{start}".encode()).hexdigest()
        values = {
            "dwelling_code": code if placed else None,
            "address_text": row.values["address"],
            "landlord_name": row.values["landlord_name"],
            "landlord_id_hash": landlord_hash,
            "landlord_id_enc": crypto.encrypt(landlord_id, ID_CONTEXT) if landlord_id else None,
            "landlord_phone_enc": crypto.encrypt(phone, PHONE_CONTEXT) if phone else None,
            "landlord_phone_hash": crypto.lookup_hash(phone, "phone") if phone else None,
            "start_date": start,
            "end_date": row.values.get("end_date"),
            "declared_occupants": row.values.get("declared_occupants"),
            "street_code": (street or None) if placed else None,
            "community_code": (community or None) if placed else None,
            "grid_code": (grid or None) if placed else None,
        }
        tenants = {crypto.lookup_hash(t, "resident_id") for t in row.values.get("tenant_id_numbers") or []}
        prepared.append((raw.number, key, values, tenants, _lineage_of_row(values, batch_id, raw.number)))
    return prepared


def _add_tenants(session: Session, tenants_of: dict[str, set[str]]) -> None:
    """Tenants named on the rentals (by identity key) that are not recorded yet: one row each."""
    wanted = {key: hashes for key, hashes in tenants_of.items() if hashes}
    if not wanted:
        return
    ids = dict(
        session.execute(
            select(RENTAL.c.identity_key, RENTAL.c.id).where(_in(session, RENTAL.c.identity_key, set(wanted)))
        ).all()
    )
    known = {
        (rental_id, id_hash)
        for rental_id, id_hash in session.execute(
            select(TENANT.c.rental_id, TENANT.c.id_hash).where(
                _in(session, TENANT.c.rental_id, set(ids.values()))
            )
        )
    }
    all_hashes = {h for hashes in wanted.values() for h in hashes}
    people = dict(
        session.execute(
            select(PERSON.c.id_hash, PERSON.c.id).where(_in(session, PERSON.c.id_hash, all_hashes))
        ).all()
    )
    fresh = [
        {"rental_id": ids[key], "id_hash": id_hash, "person_id": people.get(id_hash)}
        for key, hashes in wanted.items()
        for id_hash in sorted(hashes)
        if (ids[key], id_hash) not in known
    ]
    if fresh:
        bulk_insert(session, TENANT, fresh)


# ---------------------------------------------------------------------------------------------------------
# Buildings and dwellings (the housing register, keyed by standard address code)


def _ingest_buildings(
    session: Session, spec: MappingSpec, source_id: int, batch_id: int, prepared: _Prepared
) -> Counter[str]:
    return _ingest_places(session, source_id, batch_id, prepared, kind="building")


def _ingest_dwellings(
    session: Session, spec: MappingSpec, source_id: int, batch_id: int, prepared: _Prepared
) -> Counter[str]:
    return _ingest_places(session, source_id, batch_id, prepared, kind="dwelling")


#: A building or dwelling row as mapped: its row number and values (placing it needs the database).
_PlaceRow = tuple[int, dict[str, Any]]


def _prepare_places(
    spec: MappingSpec,
    good: Sequence[tuple[RawRow, MappedRow]],
    matches: dict[str, list[list[str]]],
    batch_id: int,
) -> list[_PlaceRow]:
    return [(raw.number, row.values) for raw, row in good]


def _ingest_places(
    session: Session, source_id: int, batch_id: int, prepared: _Prepared, *, kind: str
) -> Counter[str]:
    """Buildings or dwellings, one per standard address code. They are placed by their code in the address
    library (the register and the library share codes); a code the library does not hold is placed by
    matching the address text, and stays unplaced when that fails too. The register's newest word on
    use, floors and structure wins, and a dwelling's change of use (vacant → rented …) is recorded."""
    from gridgov.address.batch import cached_library, match_texts
    from gridgov.address.match import decide
    from gridgov.address.models import StdAddress

    table = BUILDING if kind == "building" else DWELLING
    fields = ("use", "floors", "structure") if kind == "building" else ("use", "building_code")
    counts = _take(session, source_id, batch_id, prepared)
    good: list[_PlaceRow] = prepared.good
    if not good:
        return counts
    keys = [str(mapped["code"]) for _number, mapped in good]
    library: dict[str, tuple[str | None, str | None, str | None]] = {
        code: (street, community, grid)
        for code, street, community, grid in session.execute(
            select(
                StdAddress.code, StdAddress.street_code, StdAddress.community_code, StdAddress.grid_code
            ).where(_in(session, StdAddress.code, set(keys)))
        )
    }
    strays = [
        mapped["address"] for (_number, mapped), key in zip(good, keys, strict=True) if key not in library
    ]
    if strays:
        for text, match in zip(strays, match_texts(cached_library(session), strays), strict=True):
            if match[0] and decide(float(match[3] or 0)) != "reject":
                library[f"text:{text}"] = (match[5], match[6], match[7])
    existing = {
        record["code"]: record
        for record in session.execute(select(table).where(_in(session, table.c.code, set(keys)))).mappings()
    }
    now = clock_now()
    inserts: dict[str, dict[str, Any]] = {}
    updates: dict[str, dict[str, Any]] = {}
    changes: list[dict[str, Any]] = []
    area_deltas: Counter[tuple[str, str]] = Counter()
    for (number, mapped), key in zip(good, keys, strict=True):
        place = library.get(key) or library.get(f"text:{mapped['address']}")
        street, community, grid = place if place else (None, None, None)
        values: dict[str, Any] = {
            "address_text": mapped["address"],
            **{name: mapped.get(name) for name in fields},
            "street_code": street or None,
            "community_code": community or None,
            "grid_code": grid or None,
        }
        if kind == "dwelling":
            values["use"] = values["use"] or "unknown"
        lineage = _lineage_of_row(values, batch_id, number)
        seen = inserts.get(key) or updates.get(key) or existing.get(key)
        if seen is None:
            inserts[key] = _fresh(values, "code", key, lineage, batch_id, now)
            counts["accepted"] += 1
            _count_place(area_deltas, kind, values, +1)
            continue
        stored = dict(seen)
        change = {
            name: value
            for name, value in values.items()
            if value is not None and value != stored.get(name) and (name != "use" or value != "unknown")
        }
        if not _settle(counts, key, stored, change, lineage, inserts, updates, batch_id, now):
            continue
        if "use" in change or "grid_code" in change:
            _count_place(area_deltas, kind, stored, -1)
            _count_place(area_deltas, kind, {**stored, **change}, +1)
        if kind == "dwelling" and "use" in change and stored.get("id") is not None:
            changes.append(
                {
                    "kind": "dwelling_use",
                    "record_kind": "dwelling",
                    "record_id": stored["id"],
                    "grid_code": change.get("grid_code", stored.get("grid_code")),
                    "batch_id": batch_id,
                    "at": now,
                    "details": {"from": stored.get("use"), "to": change["use"]},
                }
            )
    _write_chunk(session, table, "code", inserts, updates, changes)
    _bump_counts(session, area_deltas)
    return counts


def _count_place(deltas: Counter[tuple[str, str]], kind: str, values: dict[str, Any], sign: int) -> None:
    metrics = [f"{kind}s"]
    if kind == "dwelling" and values.get("use") not in (None, "unknown"):
        metrics.append(f"dwellings_{values['use']}")  # dwellings_rented, dwellings_vacant …
    _count_in_areas(deltas, values, metrics, sign)


_PIPELINES: dict[str, Callable[[Session, MappingSpec, int, int, _Prepared], Counter[str]]] = {
    "person": _ingest_people,
    "entity": _ingest_entities,
    "rental": _ingest_rentals,
    "building": _ingest_buildings,
    "dwelling": _ingest_dwellings,
}

# What each kind's rows give before the database is asked (see ``_Prepared.good``).
_PREPARERS: dict[
    str,
    Callable[[MappingSpec, Sequence[tuple[RawRow, MappedRow]], dict[str, list[list[str]]], int], list[Any]],
] = {
    "person": _prepare_people,
    "entity": _prepare_entities,
    "rental": _prepare_rentals,
    "building": _prepare_places,
    "dwelling": _prepare_places,
}


def describe_problem(problem: dict[str, Any], lang: str = "zh-CN") -> str:
    """A quarantine reason a person understands (zh-CN first), from a stored problem."""
    message = _PROBLEM_MESSAGES.get(str(problem.get("code")))
    column = str(problem.get("column") or problem.get("field") or "")
    return message(lang, column) if message else str(problem.get("code"))


_PROBLEM_MESSAGES: dict[str, Callable[[str, str], str]] = {
    "missing_required": lambda lang, c: translate("ingest.problem.missing_required", lang, column=c),
    "missing_row_id": lambda lang, c: translate("ingest.problem.missing_row_id", lang, column=c),
    "wrong_column_count": lambda lang, c: translate("ingest.problem.wrong_column_count", lang, column=c),
    "bad_date": lambda lang, c: translate("ingest.problem.bad_date", lang, column=c),
    "date_in_future": lambda lang, c: translate("ingest.problem.date_in_future", lang, column=c),
    "bad_number": lambda lang, c: translate("ingest.problem.bad_number", lang, column=c),
    "bad_resident_id": lambda lang, c: translate("ingest.problem.bad_resident_id", lang, column=c),
    "bad_credit_code": lambda lang, c: translate("ingest.problem.bad_credit_code", lang, column=c),
    "bad_phone": lambda lang, c: translate("ingest.problem.bad_phone", lang, column=c),
    "unknown_code": lambda lang, c: translate("ingest.problem.unknown_code", lang, column=c),
    "too_long": lambda lang, c: translate("ingest.problem.too_long", lang, column=c),
    "bad_json": lambda lang, c: translate("ingest.problem.bad_json", lang, column=c),
    "missing_identity": lambda lang, c: translate("ingest.problem.missing_identity", lang, column=c),
}


def export_quarantine(session: Session, batch_id: int, out: Path, *, reason: str, lang: str = "zh-CN") -> int:
    """The batch's open quarantined rows as XLSX: the source's own columns as they arrived, then the row's
    number in the file and the reasons. Fix the cells, delete nothing, and import the file again under
    the same source: the fixed rows go in, and their quarantine entries are marked replayed.

    The cells are stored encrypted and come out in clear (a person must see what to fix): the caller holds
    ``personal.reveal`` (the API checks it), gives a reason, and the export is audited as a reveal. The
    file is written with mode 0600."""
    from openpyxl import Workbook

    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"No import batch {batch_id}")
    clean_reason = reason.strip()
    if len(clean_reason) < 4:
        raise InvalidInput(
            "Quarantined rows hold personal data in clear: give a reason (at least 4 characters)"
        )
    _source, spec = source_with_spec(session, session.get_one(Source, batch.source_id).name)
    held = session.scalars(
        select(QuarantineRow)
        .where(QuarantineRow.batch_id == batch_id, QuarantineRow.status == "open")
        .order_by(QuarantineRow.row_number)
    ).all()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "quarantine"
    columns = spec.columns
    extra = [translate("ingest.quarantine.row", lang), translate("ingest.quarantine.reason", lang)]
    append_row(sheet, [*columns, *extra])
    for row in held:
        cells = open_cells(row.cells)
        reasons = "；".join(describe_problem(problem, lang) for problem in row.problems)
        append_row(sheet, [cells.get(column) for column in columns] + [row.row_number, reasons])
    record(
        session,
        action="personal.reveal",
        object_type="ingest_batch",
        object_id=batch_id,
        reason=clean_reason,
        details={"export": "quarantine", "rows": len(held)},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_private(out, "wb") as handle:
        book.save(handle)
    return len(held)


def _mark_replayed(session: Session, source_id: int, batch_id: int, row_ids: set[str]) -> None:
    """Open quarantine entries of earlier batches of this source whose row came again: settled by
    ``batch_id``."""
    if not row_ids:
        return
    earlier = select(Batch.id).where(Batch.source_id == source_id, Batch.id != batch_id)
    session.execute(
        update(QuarantineRow)
        .where(
            QuarantineRow.status == "open",
            _in(session, cast(Table, QuarantineRow.__table__).c.row_id, row_ids),
            QuarantineRow.batch_id.in_(earlier),
        )
        .values(status="replayed", resolved_batch_id=batch_id)
    )


def area_counts(session: Session, area_code: str) -> dict[str, int]:
    """The maintained counts of one area (district, street, community or grid code)."""
    table = cast(Table, AreaCount.__table__)
    return {
        row.metric: int(row.value)
        for row in session.execute(
            select(table.c.metric, table.c.value).where(table.c.area_code == area_code)
        )
    }


# (table, id column, encrypted column, its context): every field the pipeline encrypts.
_ENCRYPTED_FIELDS = (
    (PERSON, "id_number_enc", ID_CONTEXT),
    (PERSON, "phone_enc", PHONE_CONTEXT),
    (RENTAL, "landlord_id_enc", ID_CONTEXT),
    (RENTAL, "landlord_phone_enc", PHONE_CONTEXT),
    (QUARANTINE, "cells", QUARANTINE_CONTEXT),
)


def reencrypt_registry(session: Session, *, batch_rows: int = 5000) -> int:
    """Re-encrypt every encrypted registry field under the active key (after ``gridgov keys rotate``), in
    batches by id; returns how many values changed. Lookup hashes do not rotate, so matching still works."""
    from sqlalchemy import bindparam

    keyring = crypto.get_keyring()
    changed = 0
    for table, column, context in _ENCRYPTED_FIELDS:
        statement = (
            update(table).where(table.c.id == bindparam("b_id")).values({column: bindparam("b_token")})
        )
        last = 0
        while True:
            rows = session.execute(
                select(table.c.id, table.c[column])
                .where(table.c.id > last, table.c[column].is_not(None))
                .order_by(table.c.id)
                .limit(batch_rows)
            ).all()
            if not rows:
                break
            last = rows[-1][0]
            fresh = [
                {"b_id": row_id, "b_token": new}  # (not "row_id": the quarantine has such a column)
                for row_id, token in rows
                if isinstance(token, str) and (new := keyring.reencrypt(token, context)) != token
            ]
            if fresh:
                session.execute(statement, fresh)
                changed += len(fresh)
    return changed


# ---------------------------------------------------------------------------------------------------------
# Identity review (doubtful merges)


def open_identity_reviews(session: Session, *, limit: int = 200) -> list[IdentityReview]:
    """The doubtful merges still waiting for a decision, surest first."""
    return list(
        session.scalars(
            select(IdentityReview)
            .where(IdentityReview.status == "open")
            .order_by(IdentityReview.score.desc(), IdentityReview.id)
            .limit(limit)
        )
    )


def decide_identity_review(
    session: Session, review_id: int, *, merge: bool, decided_by: str
) -> IdentityReview:
    """Settle a doubtful merge. ``merge``: the record made from the row folds into the candidate (fields
    the candidate lacks are filled, with their lineage; rental tenancies and care tags follow; the record
    goes and the counts drop by one); otherwise both stay, and the pair is not proposed again."""
    review = session.get(IdentityReview, review_id, with_for_update=True)
    if review is None:
        raise NotFound(f"No identity review {review_id}")
    if review.status != "open":
        raise InvalidInput(f"Identity review {review_id} is already decided ({review.status})")
    review.status, review.decided_at, review.decided_by = (
        "merged" if merge else "kept_apart",
        clock_now(),
        decided_by[:128],
    )
    if not merge:
        return review
    record = session.execute(select(PERSON).where(PERSON.c.id == review.record_id)).mappings().first()
    candidate = session.execute(select(PERSON).where(PERSON.c.id == review.candidate_id)).mappings().first()
    if record is None or candidate is None:
        raise InvalidInput(f"Identity review {review_id}: one of its two records is gone")
    fill = {
        name: record[name]
        for name in (*_FILLABLE, "dwelling_code", "address_text", "address_score", "move_in_date")
        if candidate[name] is None and record[name] is not None
    }
    if candidate["grid_code"] is None and record["grid_code"] is not None:
        fill.update({name: record[name] for name in ("street_code", "community_code", "grid_code")})
    lineage = dict(candidate["lineage"] or {})
    lineage.update({name: (record["lineage"] or {}).get(name, f"review:{review_id}") for name in fill})
    session.execute(
        update(PERSON)
        .where(PERSON.c.id == candidate["id"])
        .values(**fill, lineage=lineage, updated_at=clock_now(), version=candidate["version"] + 1)
    )
    session.execute(
        update(TENANT).where(TENANT.c.person_id == record["id"]).values(person_id=candidate["id"])
    )
    from gridgov.registry.models import CareTag

    session.execute(
        update(CareTag).where(CareTag.person_id == record["id"]).values(person_id=candidate["id"])
    )
    # Other open reviews of the folded record now concern the candidate.
    session.execute(
        update(IdentityReview)
        .where(IdentityReview.status == "open", IdentityReview.record_id == record["id"])
        .values(record_id=candidate["id"])
    )
    session.execute(PERSON.delete().where(PERSON.c.id == record["id"]))
    deltas: Counter[tuple[str, str]] = Counter()
    _count_person(deltas, dict(record), -1)
    if "grid_code" in fill:
        _count_person(deltas, dict(candidate), -1)
        _count_person(deltas, {**dict(candidate), **fill}, +1)
    _bump_counts(session, deltas)
    session.execute(
        insert(cast(Table, RegistryChange.__table__)),
        [
            {
                "kind": "merged",
                "record_kind": "person",
                "record_id": candidate["id"],
                "grid_code": fill.get("grid_code", candidate["grid_code"]),
                "batch_id": review.batch_id,
                "at": clock_now(),
                "details": {"merged_record": record["id"], "review": review_id},
            }
        ],
    )
    return review


def identity_reviews(
    session: Session, scope: AreaScope, *, status: str = "open", limit: int = 200
) -> list[dict[str, Any]]:
    """Identity reviews whose two records both lie in ``scope`` (a record not placed yet counts as the
    district's), surest first, each with the two people side by side (names as written: the caller
    masks them)."""
    reviews = session.scalars(
        select(IdentityReview)
        .where(IdentityReview.status == status)
        .order_by(IdentityReview.score.desc(), IdentityReview.id)
        .limit(limit * 4)
    ).all()
    items = (item for item in _review_items(session, reviews, scope) if item is not None)
    return list(islice(items, limit))


def identity_review(session: Session, scope: AreaScope, review_id: int) -> dict[str, Any]:
    """One identity review with its two people, when both lie in ``scope`` (else NotFound)."""
    review = session.get(IdentityReview, review_id)
    item = _review_items(session, [review], scope)[0] if review is not None else None
    if item is None:
        raise NotFound(f"No identity review {review_id} within your scope")
    return item


def _review_items(
    session: Session, reviews: Sequence[IdentityReview], scope: AreaScope
) -> list[dict[str, Any] | None]:
    ids = {r.record_id for r in reviews} | {r.candidate_id for r in reviews}
    people = {
        row["id"]: dict(row) for row in session.execute(select(PERSON).where(PERSON.c.id.in_(ids))).mappings()
    }
    items: list[dict[str, Any] | None] = []
    for review in reviews:
        record, candidate = people.get(review.record_id), people.get(review.candidate_id)
        if record is None or candidate is None:
            items.append(None)
        elif all(scope.covers(side["grid_code"] or DISTRICT_CODE) for side in (record, candidate)):
            items.append({"review": review, "record": record, "candidate": candidate})
        else:
            items.append(None)
    return items
