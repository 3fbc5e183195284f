"""Batch matching: a CSV/XLSX/lines file of free-text addresses → the same rows plus their standard address.

Every input row comes out, in order: matched, sent for review, or unmatched with the reason, and rows the
reader could not parse come out with the parse error. Work is split into chunks and matched by worker
processes (``--workers``), or on a Dask distributed cluster (``--engine dask --scheduler tcp://…``) for
lists beyond one machine; both give the same output (tested).
"""

from __future__ import annotations

import csv
import hashlib
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.address.match import Matcher, StdRecord, decide
from gridgov.address.models import StdAddress
from gridgov.address.service import MAX_TEXT, detect_format, read_rows
from gridgov.core.errors import InvalidInput

OUTPUT_COLUMNS = [
    "std_code",
    "std_address",
    "level",
    "score",
    "decision",
    "street_code",
    "community_code",
    "grid_code",
    "reason",
]
CHUNK = 2000


@dataclass(frozen=True)
class Library:
    """What the workers need: the records to match against and the area codes of each."""

    records: tuple[StdRecord, ...]
    areas: dict[str, tuple[str | None, str | None, str | None]]  # code → street, community, grid

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for record in self.records:
            digest.update(record.code.encode())
            digest.update(record.text.encode())
        return digest.hexdigest()[:16]


def load_library(session: Session) -> Library:
    """The current (not retired) standard addresses, as matcher records."""
    rows = session.scalars(select(StdAddress).where(StdAddress.valid_to.is_(None)).order_by(StdAddress.code))
    records: list[StdRecord] = []
    areas: dict[str, tuple[str | None, str | None, str | None]] = {}
    for row in rows:
        records.append(
            StdRecord(
                code=row.code,
                text=row.text,
                road=row.road,
                house_number=row.house_number,
                site_name=row.site_name,
                building=row.building,
                unit=row.unit,
                floor=row.floor,
                room=row.room,
            )
        )
        areas[row.code] = (row.street_code, row.community_code, row.grid_code)
    if not records:
        raise InvalidInput(
            "The address library is empty: import standard addresses first (`gridgov address import`)"
        )
    return Library(tuple(records), areas)


# One matcher per worker process (or thread, on a threaded Dask worker): building it costs seconds.
_local = threading.local()


def _matcher_for(library: Library) -> Matcher:
    cached = getattr(_local, "matcher", None)
    if cached is None or cached[0] != library.fingerprint:
        cached = (library.fingerprint, Matcher(list(library.records)))
        _local.matcher = cached
    matcher: Matcher = cached[1]
    return matcher


def match_texts(library: Library, texts: Sequence[str | None]) -> list[list[str]]:
    """The output columns for each text (None: a row the reader could not parse — no match attempted)."""
    matcher = _matcher_for(library)
    out: list[list[str]] = []
    for text in texts:
        if text is None:
            out.append(["", "", "none", "", "error", "", "", "", ""])
            continue
        clean = text.strip()
        if not clean:
            out.append(["", "", "none", "0", "reject", "", "", "", "empty address"])
            continue
        if len(clean) > MAX_TEXT:
            out.append(
                ["", "", "none", "0", "reject", "", "", "", f"address longer than {MAX_TEXT} characters"]
            )
            continue
        best = matcher.best(clean)
        if best is None:
            out.append(["", "", "none", "0", "reject", "", "", "", "no candidate shares enough of the text"])
            continue
        street, community, grid = library.areas.get(best.code, (None, None, None))
        out.append(
            [
                best.code,
                best.text,
                best.level,
                f"{best.score:.3f}",
                decide(best.score),
                street or "",
                community or "",
                grid or "",
                best.reason,
            ]
        )
    return out


# ---------------------------------------------------------------------------------------------------------
# Engines: run match_texts over chunks, in order.

_worker_library: Library | None = None


def _init_worker(library: Library) -> None:
    global _worker_library
    _worker_library = library


def _match_chunk_in_worker(texts: list[str | None]) -> list[list[str]]:
    assert _worker_library is not None
    return match_texts(_worker_library, texts)


def _local_engine(
    library: Library, chunks: Iterator[list[str | None]], workers: int
) -> Iterator[list[list[str]]]:
    if workers <= 1:
        for chunk in chunks:
            yield match_texts(library, chunk)
        return
    # fork: the library is inherited by the workers, not pickled once per task.
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(library,)) as pool:
        yield from pool.imap(_match_chunk_in_worker, chunks)


def _dask_engine(
    library: Library, chunks: Iterator[list[str | None]], scheduler: str
) -> Iterator[list[list[str]]]:
    from distributed import Client

    with Client(scheduler, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        # Ship the library once; every task refers to the same copy on the workers.
        [shared] = client.scatter([library], broadcast=True)
        futures = [client.submit(match_texts, shared, chunk, pure=False) for chunk in chunks]
        for future in futures:
            yield future.result()


def match_file(
    session: Session,
    source: Path,
    output: Path,
    *,
    column: str | None = None,
    fmt: str | None = None,
    workers: int = 1,
    engine: str = "local",
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Match every row of ``source`` and write ``output`` (CSV, UTF-8 with BOM for Excel)."""
    if engine not in ("local", "dask"):
        raise InvalidInput(f"Unknown engine '{engine}': use local or dask")
    if engine == "dask" and not scheduler:
        raise InvalidInput("The dask engine needs --scheduler tcp://HOST:PORT")
    chosen = detect_format(source, fmt)
    header, rows, encoding = read_rows(source, chosen)
    target_column = column or ("address" if chosen == "lines" else None)
    if target_column is None or target_column not in header:
        raise InvalidInput(f"Column '{column}' is not in the file; it has: {', '.join(header)}")
    library = load_library(session)
    collected = list(rows)
    inputs: list[str | None] = [
        None if problem or row is None else row.get(target_column, "") for _line, row, problem in collected
    ]
    chunks = (inputs[i : i + CHUNK] for i in range(0, len(inputs), CHUNK))
    results = (
        _dask_engine(library, chunks, scheduler or "")
        if engine == "dask"
        else _local_engine(library, chunks, workers)
    )
    counts = {"rows": len(collected), "accept": 0, "review": 0, "reject": 0, "error": 0}
    with output.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, *OUTPUT_COLUMNS])
        done = 0
        for chunk_result in results:
            for values in chunk_result:
                line, row, problem = collected[done]
                if problem is not None:
                    values = [*values[:-1], f"line {line}: {problem}"]
                writer.writerow([*((row or {}).get(h, "") for h in header), *values])
                counts[values[4]] += 1
                done += 1
            if progress is not None:
                progress(done, len(collected))
    return {
        **counts,
        "encoding": encoding,
        "engine": engine,
        "library": len(library.records),
        "output": str(output),
    }


# ---------------------------------------------------------------------------------------------------------
# Matching for the API: one library per database, rebuilt when the library changes.

_library_lock = threading.Lock()
_library_cache: dict[str, tuple[tuple[int, int], Library]] = {}
MAX_API_TEXTS = 10_000


def cached_library(session: Session) -> Library:
    from sqlalchemy import func

    version = session.execute(select(func.count(), func.coalesce(func.max(StdAddress.id), 0))).one()
    key = str(session.get_bind().engine.url)
    with _library_lock:
        cached = _library_cache.get(key)
        if cached is None or cached[0] != (version[0], version[1]):
            cached = ((version[0], version[1]), load_library(session))
            _library_cache[key] = cached
        return cached[1]


def match_for_api(
    session: Session, texts: Sequence[str], *, covers: Callable[[str | None], bool]
) -> list[dict[str, Any]]:
    """Match up to 10,000 texts; a match outside the caller's scope is reported as such, without its code."""
    if not texts:
        raise InvalidInput("Send at least one address text")
    if len(texts) > MAX_API_TEXTS:
        raise InvalidInput(
            f"At most {MAX_API_TEXTS} addresses per request; use `gridgov address match` for more"
        )
    library = cached_library(session)
    results = []
    for text, values in zip(texts, match_texts(library, list(texts)), strict=True):
        result: dict[str, Any] = dict(zip(OUTPUT_COLUMNS, values, strict=True))
        area = result["grid_code"] or result["community_code"] or result["street_code"] or None
        if result["std_code"] and not covers(area):
            result = {
                **dict.fromkeys(OUTPUT_COLUMNS, ""),
                "level": "none",
                "decision": "reject",
                "reason": "the matching standard address lies outside your area scope",
            }
        result["score"] = float(result["score"]) if result["score"] else 0.0
        results.append({"text": text, **result})
    return results
