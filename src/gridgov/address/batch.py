"""Batch matching: a CSV/XLSX/lines file of free-text addresses → the same rows plus their standard address.

Every input row comes out, in order: matched, sent for review, or unmatched with the reason, and rows the
reader could not parse come out with the parse error. The file is streamed: the main process only cuts it
into chunks of whole records (raw bytes for CSV and lines, so reading costs next to nothing there), the
workers decode, parse, match and format their chunk, and the main process writes the chunks back in order
— memory stays flat whatever the size of the input. Work runs on worker processes (``--workers``; the
matcher is built once and shared with them by ``fork``) or on a Dask distributed cluster
(``--engine dask --scheduler tcp://…``) for lists beyond one machine; both give the same output (tested).
"""

from __future__ import annotations

import collections
import csv
import gc
import hashlib
import io
import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from gridgov.address.match import Candidate, Matcher, StdRecord, decide
from gridgov.address.models import AddressAlias, StdAddress
from gridgov.address.service import MAX_TEXT, decode, detect_format
from gridgov.core.errors import InvalidInput
from gridgov.core.exports import SafeCsvWriter, needs_escape
from gridgov.core.xlsx import open_workbook, sheet_rows, split_row

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
#: Records per chunk: large enough that shipping a chunk costs little next to matching it.
CHUNK = 4000
#: Chunks in flight per worker: keeps the workers busy while the reader stays a few chunks ahead.
IN_FLIGHT = 3
#: A quoted field may hold line breaks; one that runs this long is a broken quote, not a field: the chunk
#: is cut there and the CSV reader reports the row.
_MAX_QUOTED_LINES = 200
#: Distinct texts a worker remembers (lists repeat addresses: a family, a company's several filings).
_MEMO_SIZE = 50_000
_SNIFF_BYTES = 1 << 20

Areas = tuple[str | None, str | None, str | None]  # street, community, grid


@dataclass(frozen=True)
class Library:
    """What the workers need: the records to match against and the area codes of each.

    A child (a dwelling) whose areas are its parent's is not listed in ``areas``: `area_of` reads its
    parent's, which keeps a library of a million dwellings small.
    """

    records: tuple[StdRecord, ...]
    areas: dict[str, Areas]
    #: Standard text of the addresses that also have other names (records whose text is a name).
    standard: dict[str, str] = field(default_factory=dict)

    @cached_property
    def fingerprint(self) -> str:
        """Identifies the records with every field (an edit may change a component, not the text)."""
        digest = hashlib.sha256()
        for r in self.records:
            fields = (
                r.code,
                r.text,
                r.road,
                r.house_number,
                r.site_name,
                r.building,
                r.unit,
                r.floor,
                r.room,
            )
            digest.update("\x1f".join("" if v is None else str(v) for v in (*fields, r.parent)).encode())
            digest.update(b"\x1e")
        return digest.hexdigest()[:16]

    def text_of(self, found: Candidate) -> str:
        """The standard text of a match (a match on another name answers with the address's own text)."""
        return self.standard.get(found.code, found.text)

    def area_of(self, found: Candidate) -> Areas:
        areas = self.areas.get(found.code)
        if areas is None and found.parent is not None:
            areas = self.areas.get(found.parent)
        return areas or (None, None, None)


def load_library(session: Session) -> Library:
    """The current (not retired) standard addresses, as matcher records; dwellings know their building."""
    codes: dict[int, str] = {
        row_id: code for row_id, code in session.execute(select(StdAddress.id, StdAddress.code))
    }
    # Plain rows, not ORM objects: a district's library is a million addresses, and building an object
    # (with its identity-map entry) for each took most of a minute.
    rows = session.execute(
        select(
            StdAddress.code,
            StdAddress.text,
            StdAddress.road,
            StdAddress.house_number,
            StdAddress.site_name,
            StdAddress.building,
            StdAddress.unit,
            StdAddress.floor,
            StdAddress.room,
            StdAddress.parent_id,
            StdAddress.street_code,
            StdAddress.community_code,
            StdAddress.grid_code,
        )
        .where(StdAddress.valid_to.is_(None))
        .order_by(StdAddress.code)
    )
    records: list[StdRecord] = []
    areas: dict[str, Areas] = {}
    for row in rows:
        parent = codes.get(row.parent_id) if row.parent_id is not None else None
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
                parent=parent,
            )
        )
        here = (row.street_code, row.community_code, row.grid_code)
        if parent is None or areas.get(parent) != here:
            areas[row.code] = here
    if not records:
        raise InvalidInput(
            "The address library is empty: import standard addresses first (`gridgov address import`)"
        )
    # Other names (南山医院, a road's former name) match like any text and answer with their address.
    standard: dict[str, str] = {}
    parents = {r.code: r.parent for r in records}
    names = session.execute(
        select(AddressAlias.alias, StdAddress.code, StdAddress.text)
        .join(StdAddress, StdAddress.id == AddressAlias.address_id)
        .where(StdAddress.valid_to.is_(None))
        .order_by(AddressAlias.id)
    )
    for alias, code, text in names:
        records.append(StdRecord(code=code, text=alias, parent=parents.get(code)))
        standard[code] = text
    return Library(tuple(records), areas, standard)


# One matcher per process (or thread, on a threaded Dask worker): building it costs seconds. The local
# engine builds it before forking its workers, which inherit it.
_local = threading.local()
_forked: tuple[str, Matcher] | None = None


def _matcher_for(library: Library) -> Matcher:
    if _forked is not None and _forked[0] == library.fingerprint:
        return _forked[1]
    cached = getattr(_local, "matcher", None)
    if cached is None or cached[0] != library.fingerprint:
        cached = (library.fingerprint, Matcher(list(library.records)))
        _local.matcher = cached
    matcher: Matcher = cached[1]
    return matcher


def _result(library: Library, matcher: Matcher, text: str | None) -> list[str]:
    if text is None:
        return ["", "", "none", "", "error", "", "", "", ""]
    clean = text.strip()
    if not clean:
        return ["", "", "none", "0", "reject", "", "", "", "empty address"]
    if len(clean) > MAX_TEXT:
        return ["", "", "none", "0", "reject", "", "", "", f"address longer than {MAX_TEXT} characters"]
    best = matcher.best(clean)
    if best is None:
        return ["", "", "none", "0", "reject", "", "", "", "no candidate shares enough of the text"]
    street, community, grid = library.area_of(best)
    return [
        best.code,
        library.text_of(best),
        best.level,
        f"{best.score:.3f}",
        decide(best.score),
        street or "",
        community or "",
        grid or "",
        best.reason,
    ]


def match_texts(library: Library, texts: Sequence[str | None]) -> list[list[str]]:
    """The output columns for each text (None: a row the reader could not parse — no match attempted)."""
    matcher = _matcher_for(library)
    return [_result(library, matcher, text) for text in texts]


# ---------------------------------------------------------------------------------------------------------
# Chunks: what the reader cuts and a worker turns into output text.


@dataclass(frozen=True)
class _Job:
    header: tuple[str, ...]
    column: int
    encoding: str
    fmt: str  # csv | lines | xlsx


@dataclass
class _Chunk:
    first_line: int
    raw: bytes = b""  # csv and lines: whole records
    rows: list[tuple[int, list[str]]] = field(default_factory=list)  # xlsx: (line, cells)
    end_byte: int = 0


@dataclass
class _Done:
    data: bytes  # UTF-8: encoded once by the worker, written as it is (a str would be encoded to cross
    # the pipe, decoded, and encoded again to be written)
    counts: dict[str, int]


_Row = tuple[int, list[str] | None, str | None, str | None]


def _rows_of(job: _Job, chunk: _Chunk) -> Iterator[_Row]:
    """(line, values or None, problem, the record's line as written when it is one clean line) for every
    record of a chunk, blank CSV lines skipped. The line as written is copied to the output as it is:
    quoting eleven columns again would cost more than matching the address does on the fast path."""
    if job.fmt == "xlsx":
        for line, cells in chunk.rows:
            yield line, cells, None, None
        return
    text = chunk.raw.decode(job.encoding, errors="replace")
    if job.fmt == "lines":
        for offset, value in enumerate(text.splitlines()):
            bad = "\ufffd" in value
            yield (
                chunk.first_line + offset,
                [value],
                f"bytes that are not valid {job.encoding}" if bad else None,
                None,
            )
        return
    physical = list(io.StringIO(text, newline=""))  # the lines exactly as the CSV reader reads them
    reader = csv.reader(physical, strict=True)
    width = len(job.header)
    undecodable = "\ufffd" in text  # checked row by row only when the chunk has any
    column = job.column
    while True:
        before = reader.line_num
        line = chunk.first_line + before
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, None, f"broken CSV quoting: {exc}", None
            continue
        if len(values) != width:
            if any(v.strip() for v in values):
                yield line, values, f"expected {width} columns, found {len(values)}", None
        elif undecodable and any("\ufffd" in v for v in values):
            yield line, values, f"bytes that are not valid {job.encoding}", None
        elif values[column].strip() or any(v.strip() for v in values):
            written = physical[before].rstrip("\r\n") if reader.line_num == before + 1 else None
            yield line, values, None, written


def _memo_for(library: Library) -> dict[str, list[str]]:
    memo: dict[str, list[str]] | None = getattr(_local, "memo", None)
    if memo is None or getattr(_local, "memo_key", None) != library.fingerprint or len(memo) > _MEMO_SIZE:
        memo = {}
        _local.memo = memo
        _local.memo_key = library.fingerprint
    return memo


def match_chunk(library: Library, job: _Job, chunk: _Chunk) -> _Done:
    """Decode, parse, match and format one chunk: the output CSV text and the decisions counted."""
    matcher = _matcher_for(library)
    memo = _memo_for(library)
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    counts = {"rows": 0, "accept": 0, "review": 0, "reject": 0, "error": 0}
    width = len(job.header)
    for line, values, problem, written in _rows_of(job, chunk):
        if problem is not None:
            result = [*_result(library, matcher, None)[:-1], f"line {line}: {problem}"]
        else:
            assert values is not None
            text = values[job.column]
            cached = memo.get(text)
            if cached is None:
                cached = memo[text] = _result(library, matcher, text)
            result = cached
        if written is not None and not needs_escape(values or ()):  # a cell like =… is written again, escaped
            buffer.write(written)
            buffer.write(",")
            writer.writerow(result)
        else:
            if values is None or len(values) != width:
                values = (values or [])[:width]
                values += [""] * (width - len(values))
            writer.writerow(values + result)
        counts["rows"] += 1
        counts[result[4]] += 1
    return _Done(buffer.getvalue().encode("utf-8"), counts)


def _byte_chunks(handle: BinaryIO, fmt: str, first_line: int, start: int) -> Iterator[_Chunk]:
    """Cut a CSV or lines file into chunks of whole records: a CSV record goes on while its quotes are
    open (an odd number of quote bytes so far; UTF-8 and GB18030 never use 0x22 inside a character)."""
    lines: list[bytes] = []
    records = 0
    inside = False
    quoted_lines = 0
    line = first_line
    position = start
    for raw in handle:
        lines.append(raw)
        position += len(raw)
        if fmt == "csv":
            if raw.count(b'"') & 1:
                inside = not inside
            if inside:
                quoted_lines += 1
                if quoted_lines < _MAX_QUOTED_LINES:
                    continue
            inside = False
            quoted_lines = 0
        records += 1
        if records >= CHUNK:
            yield _Chunk(line, raw=b"".join(lines), end_byte=position)
            line += len(lines)
            lines, records = [], 0
    if lines:
        yield _Chunk(line, raw=b"".join(lines), end_byte=position)


def _open_stream(source: Path, fmt: str, column: str | None) -> tuple[_Job, Iterator[_Chunk], int]:
    """The job (header, column, encoding), its chunks, and the total for progress (bytes or rows)."""
    if fmt == "xlsx":
        return _open_xlsx(source, column)
    size = source.stat().st_size
    handle = source.open("rb")
    sample = handle.read(_SNIFF_BYTES)
    if not sample.strip():
        handle.close()
        raise InvalidInput(f"{source.name} is empty")
    # Decide the encoding on whole lines (a cut character would look like another encoding).
    cut = sample.rfind(b"\n") + 1 if len(sample) == _SNIFF_BYTES else len(sample)
    encoding = _sniff_encoding(sample[: cut or len(sample)], source.name)
    codec = "utf-8" if encoding == "utf-8" else encoding
    handle.seek(0)
    start = 0
    if handle.read(3) == b"\xef\xbb\xbf":
        start = 3
    handle.seek(start)
    if fmt == "lines":
        job = _Job(("address",), 0, codec, "lines")
        return job, _closing(handle, _byte_chunks(handle, "lines", 1, start)), size
    header_bytes = b""
    for raw in handle:
        header_bytes += raw
        if not header_bytes.count(b'"') & 1:
            break
    try:
        header = [h.strip() for h in next(csv.reader([header_bytes.decode(codec, errors="replace")]))]
    except (csv.Error, StopIteration) as exc:
        handle.close()
        raise InvalidInput(f"{source.name}: the header line is not valid CSV ({exc})") from exc
    target = column
    if target is None or target not in header:
        handle.close()
        raise InvalidInput(f"Column '{column}' is not in the file; it has: {', '.join(header)}")
    job = _Job(tuple(header), header.index(target), codec, "csv")
    first_data_line = 1 + header_bytes.count(b"\n")
    chunks = _byte_chunks(handle, "csv", first_data_line, start + len(header_bytes))
    return job, _closing(handle, chunks), size


def _sniff_encoding(sample: bytes, name: str) -> str:
    """UTF-8 or GB18030 (`service.decode`); a UTF-8 file with a few broken lines is read as UTF-8, those
    lines reported row by row, rather than refused whole."""
    try:
        return decode(sample, name)[1]
    except InvalidInput:
        lines = sample.splitlines()
        bad = 0
        for line in lines:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
        if b"\x00" in sample[:4096] or not lines or bad * 100 > len(lines) or bad == len(lines):
            raise
        return "utf-8"


def _closing(handle: BinaryIO, chunks: Iterator[_Chunk]) -> Iterator[_Chunk]:
    with handle:
        yield from chunks


def _open_xlsx(source: Path, column: str | None) -> tuple[_Job, Iterator[_Chunk], int]:
    workbook = open_workbook(source)  # a zip bomb is refused before parsing; the dimension is not trusted
    sheet = workbook.worksheets[0]
    total = sheet.max_row or 0  # the declared dimension: only a progress estimate
    rows = sheet_rows(workbook)
    first = next(rows, None)
    if first is None:
        workbook.close()
        raise InvalidInput(f"{source.name} is empty")
    header = [str(h).strip() if h is not None else "" for h in first]
    if column is None or column not in header:
        workbook.close()
        raise InvalidInput(f"Column '{column}' is not in the file; it has: {', '.join(header)}")
    job = _Job(tuple(header), header.index(column), "xlsx", "xlsx")

    def chunks() -> Iterator[_Chunk]:
        chunk = _Chunk(2)
        width = len(header)
        for number, values in enumerate(rows, start=2):
            head, extra = split_row(values, width)
            cells = ["" if v is None else str(v) for v in head]
            if not extra and not any(c.strip() for c in cells):
                continue
            cells += [""] * (width - len(cells))  # a row ends at its last cell: pad to the header
            chunk.rows.append((number, cells))
            if len(chunk.rows) >= CHUNK:
                chunk.end_byte = number
                yield chunk
                chunk = _Chunk(number + 1)
        if chunk.rows:
            chunk.end_byte = chunk.rows[-1][0]
            yield chunk
        workbook.close()

    return job, chunks(), total


# ---------------------------------------------------------------------------------------------------------
# Engines: run match_chunk over the chunks, results in input order, a bounded number in flight.

_worker_library: Library | None = None
_worker_job: _Job | None = None


def _init_worker(library: Library, job: _Job) -> None:
    global _worker_library, _worker_job
    _worker_library, _worker_job = library, job


def _match_chunk_in_worker(chunk: _Chunk) -> _Done:
    assert _worker_library is not None and _worker_job is not None
    return match_chunk(_worker_library, _worker_job, chunk)


def _local_engine(
    library: Library, job: _Job, chunks: Iterator[_Chunk], workers: int
) -> Iterator[tuple[_Chunk, _Done]]:
    global _forked
    if workers <= 1:
        for chunk in chunks:
            yield chunk, match_chunk(library, job, chunk)
        return
    # Build the matcher here and fork: every worker shares it (copy-on-write) instead of building its
    # own. gc.freeze keeps the collector from touching — and so copying — the shared objects.
    _forked = (library.fingerprint, _matcher_for(library))
    gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=_init_worker, initargs=(library, job)) as pool:
            pending: collections.deque[tuple[_Chunk, Any]] = collections.deque()
            for chunk in chunks:
                pending.append((chunk, pool.apply_async(_match_chunk_in_worker, (chunk,))))
                if len(pending) >= workers * IN_FLIGHT:
                    done_chunk, future = pending.popleft()
                    yield done_chunk, future.get()
            while pending:
                done_chunk, future = pending.popleft()
                yield done_chunk, future.get()
    finally:
        gc.unfreeze()


def _dask_engine(
    library: Library, job: _Job, chunks: Iterator[_Chunk], scheduler: str
) -> Iterator[tuple[_Chunk, _Done]]:
    from distributed import Client

    with Client(scheduler, set_as_default=False) as client:  # type: ignore[no-untyped-call]
        # Ship the library once; every task refers to the same copy on the workers.
        [shared] = client.scatter([library], broadcast=True)
        window = max(2, IN_FLIGHT * len(client.scheduler_info().get("workers", {})))
        pending: collections.deque[tuple[_Chunk, Any]] = collections.deque()
        for chunk in chunks:
            pending.append((chunk, client.submit(match_chunk, shared, job, chunk, pure=False)))
            if len(pending) >= window:
                done_chunk, future = pending.popleft()
                yield done_chunk, future.result()
        while pending:
            done_chunk, future = pending.popleft()
            yield done_chunk, future.result()


def _check_engine(engine: str, scheduler: str | None) -> None:
    if engine not in ("local", "dask"):
        raise InvalidInput(f"Unknown engine '{engine}': use local or dask")
    if engine == "dask" and not scheduler:
        raise InvalidInput("The dask engine needs --scheduler tcp://HOST:PORT")


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
    """Match every row of ``source`` against the database's library and write ``output`` (see
    `match_library_file`)."""
    _check_engine(engine, scheduler)  # before loading the library: a wrong option should not wait for it
    detect_format(source, fmt)
    return match_library_file(
        load_library(session),
        source,
        output,
        column=column,
        fmt=fmt,
        workers=workers,
        engine=engine,
        scheduler=scheduler,
        progress=progress,
    )


def match_library_file(
    library: Library,
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
    """Match every row of ``source`` and write ``output`` (CSV, UTF-8 with BOM for Excel), streaming.

    ``progress(done, total)`` is called after each chunk, in bytes of the input (rows for XLSX).
    """
    _check_engine(engine, scheduler)
    chosen = detect_format(source, fmt)
    job, chunks, total = _open_stream(source, chosen, column or ("address" if chosen == "lines" else None))
    results = (
        _dask_engine(library, job, chunks, scheduler or "")
        if engine == "dask"
        else _local_engine(library, job, chunks, workers)
    )
    counts = {"rows": 0, "accept": 0, "review": 0, "reject": 0, "error": 0}
    header = io.StringIO()
    SafeCsvWriter(header).writerow([*job.header, *OUTPUT_COLUMNS])
    with output.open("wb") as handle:
        handle.write(header.getvalue().encode("utf-8-sig"))
        for chunk, done in results:
            handle.write(done.data)
            for key, value in done.counts.items():
                counts[key] += value
            if progress is not None:
                progress(chunk.end_byte, total)
    return {
        **counts,
        "encoding": job.encoding,
        "engine": engine,
        "library": len(library.records),
        "output": str(output),
    }


# ---------------------------------------------------------------------------------------------------------
# Matching for the API: one library per database, rebuilt when the library changes.

_library_lock = threading.Lock()
_library_cache: dict[str, tuple[tuple[int, ...], Library]] = {}
MAX_API_TEXTS = 10_000


def cached_library(session: Session) -> Library:
    """The library of this database, rebuilt when `service.library_version` moves (any import, edit,
    retirement or name change)."""
    from gridgov.address.service import library_version

    version = tuple(library_version(session))
    key = str(session.get_bind().engine.url)
    with _library_lock:
        cached = _library_cache.get(key)
        if cached is None or cached[0] != version:
            cached = (version, load_library(session))
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
