"""Sources and how feeds reach the pipeline (issue 6): registration, on/off, push tokens, HTTP push bodies,
uploads imported in the background, and the batches an operator watches.

The pipeline itself is ``ingest.service``; this module calls its public functions and writes only the
source's registration facts, its switch and its push token, and the ``failed`` mark of a batch whose run
broke off.

**Push tokens.** A source pushing over HTTP holds one token: ``ggs_`` + 32 random bytes (URL-safe), shown
once; only its SHA-256 is kept (``Source.token_hash``, unique), as ``accounts.service`` keeps API tokens:
the secret carries enough entropy that a slow hash buys nothing, and the lookup is one indexed equality
(the stored digest is compared again in constant time). The ``ggs_`` prefix keeps the two kinds apart: a
user token (``ggv_``) never resolves to a source, and a source token never resolves to a user.

**Nothing is lost.** A pushed body is written to ``<var_dir>/ingest/inbox/<sha256>.<ext>`` before anything
reads it, and stays there whether it is imported or refused; an uploaded file goes to
``<var_dir>/ingest/uploads/<sha256>/<its name>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gridgov.core import jsonbody
from gridgov.core.clock import now as clock_now
from gridgov.core.db import transaction
from gridgov.core.errors import Conflict, GridgovError, InvalidInput, NotFound
from gridgov.core.files import sha256_of
from gridgov.ingest import service
from gridgov.ingest.mapping import load_spec
from gridgov.ingest.models import Batch, Source
from gridgov.ingest.readers import detect_format, read_rows

log = logging.getLogger(__name__)

PUSH_TOKEN_PREFIX = "ggs_"
PUSH_MAX_BYTES = 50 * 1024 * 1024
# How long an upload request waits for its background run to open its batch (it does so before reading
# a single row, so this is a bound, not a delay).
BATCH_OPEN_TIMEOUT = 30.0
COUNTS = ("rows", "accepted", "merged", "unchanged", "quarantined")


def _digest(secret: str) -> str:
    """SHA-256 of a push token, as ``accounts.service`` digests API tokens and session secrets."""
    return hashlib.sha256(secret.encode()).hexdigest()


def inbox_dir(var_dir: Path) -> Path:
    return var_dir / "ingest" / "inbox"


def uploads_dir(var_dir: Path) -> Path:
    return var_dir / "ingest" / "uploads"


# ---------------------------------------------------------------------------------------------------------
# Sources


def register(session: Session, spec_text: str) -> Source:
    """Register a source (or update the registration of one already known by the spec's name) from its
    YAML mapping spec; department, system, category and contact come from the spec. A wrong spec is
    refused (InvalidInput) with where the mistake is."""
    if not spec_text.strip():
        raise InvalidInput("The mapping spec is empty: paste or upload its YAML")
    return service.register_source(session, spec_text)


def get_source(session: Session, name: str) -> Source:
    found = session.scalars(select(Source).where(Source.name == name)).first()
    if found is None:
        raise NotFound(f"No source named '{name}'")
    return found


@dataclass
class SourceSummary:
    """A source as the import centre lists it: its registration, switch, last batch and totals."""

    name: str
    title: str
    department: str
    system: str
    category: str
    contact: str | None
    record_kind: str
    active: bool
    has_push_token: bool
    created_at: datetime
    updated_at: datetime
    columns: list[str]
    last_batch: dict[str, Any] | None
    totals: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "department": self.department,
            "system": self.system,
            "category": self.category,
            "contact": self.contact,
            "record_kind": self.record_kind,
            "active": self.active,
            "has_push_token": self.has_push_token,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "columns": self.columns,
            "last_batch": self.last_batch,
            "totals": self.totals,
        }


def list_sources(session: Session) -> list[SourceSummary]:
    """Every registered source by name, with its last batch and the totals of all its batches."""
    sources = list(session.scalars(select(Source).order_by(Source.name)))
    totals = {
        row.source_id: {
            "batches": int(row.batches),
            **{name: int(getattr(row, name) or 0) for name in COUNTS},
        }
        for row in session.execute(
            select(
                Batch.source_id,
                func.count(Batch.id).label("batches"),
                *[func.sum(getattr(Batch, name)).label(name) for name in COUNTS],
            ).group_by(Batch.source_id)
        )
    }
    last_ids = select(func.max(Batch.id)).group_by(Batch.source_id)
    last = {batch.source_id: batch for batch in session.scalars(select(Batch).where(Batch.id.in_(last_ids)))}
    names = {source.id: source.name for source in sources}
    summaries = []
    for source in sources:
        try:
            columns = load_spec(source.spec_yaml).columns
        except InvalidInput:  # pragma: no cover - a stored spec was checked when it registered
            columns = []
        batch = last.get(source.id)
        summaries.append(
            SourceSummary(
                name=source.name,
                title=source.title,
                department=source.department,
                system=source.system,
                category=source.category,
                contact=source.contact,
                record_kind=source.record_kind,
                active=bool(source.active),
                has_push_token=source.token_hash is not None,
                created_at=source.created_at,
                updated_at=source.updated_at,
                columns=columns,
                last_batch=batch_view(batch, names) if batch is not None else None,
                totals=totals.get(source.id, {"batches": 0, **dict.fromkeys(COUNTS, 0)}),
            )
        )
    return summaries


def set_active(session: Session, name: str, active: bool) -> Source:
    """Switch a source on or off: a source switched off takes no file and no push."""
    source = get_source(session, name)
    if source.active != active:
        source.active = active
        source.updated_at = clock_now()
        session.flush()
    return source


# ---------------------------------------------------------------------------------------------------------
# Push tokens


@dataclass(frozen=True)
class IssuedPushToken:
    token: str  # shown once
    source: Source


def issue_push_token(session: Session, name: str) -> IssuedPushToken:
    """A new push token for the source (shown once); the one it held before stops working."""
    source = get_source(session, name)
    secret = PUSH_TOKEN_PREFIX + secrets.token_urlsafe(32)
    source.token_hash = _digest(secret)
    source.updated_at = clock_now()
    session.flush()
    return IssuedPushToken(secret, source)


def revoke_push_token(session: Session, name: str) -> Source:
    """The source's push token stops working at once."""
    source = get_source(session, name)
    if source.token_hash is not None:
        source.token_hash = None
        source.updated_at = clock_now()
        session.flush()
    return source


def resolve_push_token(session: Session, secret: str) -> Source | None:
    """The source holding this push token, or None (a user's API token never resolves here)."""
    if not secret.startswith(PUSH_TOKEN_PREFIX) or len(secret) > 128:
        return None
    digest = _digest(secret)
    source = session.scalars(select(Source).where(Source.token_hash == digest)).first()
    if source is None or source.token_hash is None or not hmac.compare_digest(source.token_hash, digest):
        return None
    return source


# ---------------------------------------------------------------------------------------------------------
# Batches


def batch_view(batch: Batch, source_names: dict[int, str] | None = None) -> dict[str, Any]:
    """A batch as the API and the pages show it."""
    return {
        "batch": batch.id,
        "source": (source_names or {}).get(batch.source_id),
        "file": batch.file_name,
        "format": batch.file_format,
        "sha256": batch.file_sha256,
        "status": batch.status,
        **{name: int(getattr(batch, name) or 0) for name in COUNTS},
        "next_row": batch.next_row,
        "started_at": batch.started_at.isoformat() if batch.started_at else None,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
        "started_by": batch.started_by,
        "error": batch.error,
    }


def _names(session: Session) -> dict[int, str]:
    return {source_id: name for source_id, name in session.execute(select(Source.id, Source.name))}


def list_batches(session: Session, *, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest batches, newest first (of one source, when named)."""
    query = select(Batch).order_by(Batch.id.desc()).limit(max(1, min(limit, 500)))
    if source is not None:
        query = query.where(Batch.source_id == get_source(session, source).id)
    names = _names(session)
    return [batch_view(batch, names) for batch in session.scalars(query)]


def get_batch(session: Session, batch_id: int) -> dict[str, Any]:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"No import batch {batch_id}")
    return batch_view(batch, _names(session))


def mark_failed(factory: sessionmaker[Session], batch_id: int, error: str) -> None:
    """A batch whose run broke off: marked failed with the reason (the rows it committed stay counted;
    importing the same file again runs a new batch, and the rows already in come back unchanged)."""
    with transaction(factory) as session:
        batch = session.get(Batch, batch_id)
        if batch is not None and batch.status == "running":
            batch.status = "failed"
            batch.error = error[:2000]
            batch.finished_at = clock_now()


# ---------------------------------------------------------------------------------------------------------
# Files: what arrives is kept first, then checked, then imported


def check_readable(path: Path, file_format: str) -> None:
    """Refuse a file the reader cannot open (no header, not a workbook, …) or that holds no row, before a
    batch is opened for it (InvalidInput with the reason)."""
    rows = read_rows(path, file_format)
    try:
        first = next(iter(rows), None)
    except UnicodeDecodeError as exc:  # pragma: no cover - GB18030 decodes nearly any byte string
        raise InvalidInput(f"'{path.name}' is not UTF-8 or GB18030 text") from exc
    finally:
        close = getattr(rows, "close", None)
        if callable(close):
            close()
    if first is None:
        raise InvalidInput(f"'{path.name}' holds no rows")


async def store_stream(
    chunks: AsyncIterator[bytes], directory: Path, *, suffix: str, max_bytes: int = PUSH_MAX_BYTES
) -> tuple[Path, str, int]:
    """Write a request body to ``directory/<sha256><suffix>`` as it arrives; (path, sha256, size).
    Over ``max_bytes`` → ``BodyTooLarge`` and nothing is kept (the sender is told to split it)."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    handle = tempfile.NamedTemporaryFile(dir=directory, prefix=".incoming-", delete=False)  # noqa: SIM115
    temporary = Path(handle.name)
    try:
        with handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BodyTooLarge(max_bytes)
                digest.update(chunk)
                handle.write(chunk)
        sha = digest.hexdigest()
        target = directory / f"{sha}{suffix}"
        temporary.replace(target)
        return target, sha, size
    finally:
        temporary.unlink(missing_ok=True)


class BodyTooLarge(GridgovError):
    code = "too_large"
    http_status = 413

    def __init__(self, max_bytes: int) -> None:
        size = f"{max_bytes // (1024 * 1024)} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes} bytes"
        super().__init__(f"The body is larger than {size}: split the feed into several pushes")


# The media types a push may carry, and the inbox suffix each is kept under.
PUSH_MEDIA_TYPES = {
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/json-lines": ".jsonl",
    "application/x-jsonlines": ".jsonl",
    "application/json": ".json",
    "text/csv": ".csv",
}


def push_suffix(content_type: str | None) -> str:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in PUSH_MEDIA_TYPES:
        raise UnsupportedMedia(
            "Send JSON Lines (application/x-ndjson), a JSON array of objects (application/json) or CSV "
            f"(text/csv), not '{media or 'no Content-Type'}'"
        )
    return PUSH_MEDIA_TYPES[media]


class UnsupportedMedia(GridgovError):
    code = "unsupported_media_type"
    http_status = 415


class UnreadableBody(InvalidInput):
    """A pushed body the reader cannot take: refused, and kept in the inbox under ``kept``."""

    code = "unreadable_body"

    def __init__(self, message: str, kept: Path) -> None:
        super().__init__(message)
        self.kept = kept


def feed_file_of(body: Path) -> tuple[Path, str]:
    """The file the pipeline reads for a body kept in the inbox, and its format. A JSON array becomes JSON
    Lines next to it (one element a line, so an element that is not an object is quarantined like a bad
    line); a body that is one JSON object or JSON Lines sent as application/json is read as JSON Lines."""
    if body.suffix == ".csv":
        return body, "csv"
    if body.suffix == ".jsonl":
        return body, "jsonl"
    text = body.read_bytes().decode("utf-8-sig", errors="strict").lstrip()
    if not text.startswith("["):
        return body, "jsonl"
    try:
        items = jsonbody.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"The body is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except jsonbody.TooDeeplyNested as exc:
        raise InvalidInput(str(exc)) from None
    if not isinstance(items, list):  # pragma: no cover - a text starting with [ parses to a list or fails
        raise InvalidInput("A JSON body is an array of objects")
    lines = body.with_suffix(".jsonl")
    lines.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8")
    return lines, "jsonl"


def receive_push(
    factory: sessionmaker[Session],
    source: Source,
    body: Path,
    *,
    started_by: str,
    after: service.AfterBatch | None = None,
) -> service.BatchReport:
    """Import a pushed body already kept in the inbox; a body the reader cannot take is refused
    (``UnreadableBody``, naming where it is kept). The same body pushed again is a new batch whose rows
    come back unchanged; pushed again while it is still importing, it is refused (Conflict) rather than
    run twice into the same batch."""
    if not source.active:
        raise InvalidInput(f"Source '{source.name}' is switched off")
    try:
        feed, kind = feed_file_of(body)
        check_readable(feed, kind)
    except UnicodeDecodeError:
        raise UnreadableBody("The body is not UTF-8 text", body) from None
    except InvalidInput as exc:
        raise UnreadableBody(exc.message, body) from None
    with transaction(factory) as session:
        before = _last_batch_id(session)
    sha = sha256_of(feed)
    key = (source.id, sha)
    _claim(
        key, _Run(thread=threading.current_thread()), f"The same body is being imported for '{source.name}'"
    )
    try:
        return _ingest_marking_failure(
            factory,
            feed,
            source=source.name,
            source_id=source.id,
            sha=sha,
            before=before,
            kind=kind,
            started_by=started_by,
            after=after,
        )
    finally:
        _release(key)


# ---------------------------------------------------------------------------------------------------------
# Uploads, imported in the background


_SAFE_NAME = re.compile(r"[^\w.\-()（）\u4e00-\u9fff]+")


def safe_file_name(name: str | None, fallback: str = "upload.csv") -> str:
    """A client's file name reduced to a harmless base name (no directories, no control characters)."""
    base = Path((name or "").replace("\\", "/")).name
    cleaned = _SAFE_NAME.sub("_", base).strip("._")[:120]
    return cleaned or fallback


def keep_upload(temporary: Path, var_dir: Path, name: str) -> Path:
    """Move an uploaded file (written to ``temporary``) to ``uploads/<sha256>/<name>``."""
    sha = sha256_of(temporary)
    target = uploads_dir(var_dir) / sha / name
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary.replace(target)
    return target


@dataclass
class _Run:
    thread: threading.Thread | None = None
    error: BaseException | None = None
    report: service.BatchReport | None = None


# Imports running in this process, by (source id, file SHA-256): the same file of the same source never
# runs twice at once (both runs would count into the one unfinished batch).
_running: dict[tuple[int, str], _Run] = {}
_running_lock = threading.Lock()


def _claim(key: tuple[int, str], run: _Run, refusal: str) -> None:
    with _running_lock:
        if key in _running:
            raise Conflict(f"{refusal} right now: try again when it has finished")
        _running[key] = run


def _release(key: tuple[int, str]) -> None:
    with _running_lock:
        _running.pop(key, None)


def _last_batch_id(session: Session) -> int:
    return int(session.scalar(select(func.max(Batch.id))) or 0)


def _batch_of_run(session: Session, source_id: int, sha: str, before: int) -> Batch | None:
    """The batch a run of this file opened (newer than ``before``) or resumed (still running)."""
    return session.scalars(
        select(Batch)
        .where(
            Batch.source_id == source_id,
            Batch.file_sha256 == sha,
            (Batch.id > before) | (Batch.status == "running"),
        )
        .order_by(Batch.id.desc())
    ).first()


def _ingest_marking_failure(
    factory: sessionmaker[Session],
    path: Path,
    *,
    source: str,
    source_id: int,
    sha: str,
    before: int,
    kind: str,
    started_by: str,
    after: service.AfterBatch | None = None,
) -> service.BatchReport:
    """``service.ingest_file``; when it breaks off after opening its batch, the batch is marked failed with
    the reason (then the error goes on)."""
    try:
        return service.ingest_file(
            factory, path, source=source, file_format=kind, started_by=started_by, after=after
        )
    except Exception as exc:
        with transaction(factory) as session:
            batch = _batch_of_run(session, source_id, sha, before)
            batch_id = batch.id if batch is not None else None
        if batch_id is not None:
            mark_failed(
                factory, batch_id, exc.message if isinstance(exc, GridgovError) else type(exc).__name__
            )
        raise


def start_import(
    factory: sessionmaker[Session],
    path: Path,
    *,
    source: str,
    started_by: str,
    file_format: str | None = None,
    after: service.AfterBatch | None = None,
) -> int:
    """Import ``path`` in a background thread and return its batch id as soon as the batch is open.

    ``service.ingest_file`` opens the batch (or finds the unfinished one of the same file, to resume it)
    in its first transaction, before it reads a row: the caller waits for that row to appear (matched by
    source and file SHA-256, newer than any batch before the start, or the one still running), so it gets
    the id the run is counting into, and reads progress from the batch row (rows done, status). A run that
    breaks off marks its batch failed with the reason. The same file of the same source cannot run twice
    at once in this process (Conflict).
    """
    kind = file_format or detect_format(path)
    with transaction(factory) as session:
        src, _spec = service.source_with_spec(session, source)  # unknown or switched off: refused here
        source_id = src.id
        before = _last_batch_id(session)
    check_readable(path, kind)
    sha = sha256_of(path)
    key = (source_id, sha)
    run = _Run()
    _claim(key, run, f"This file is being imported for '{source}'")

    def work() -> None:
        try:
            run.report = _ingest_marking_failure(
                factory,
                path,
                source=source,
                source_id=source_id,
                sha=sha,
                before=before,
                kind=kind,
                started_by=started_by,
                after=after,
            )
        except Exception as exc:  # the reason is on the batch (when it opened) and in the log
            run.error = exc
            log.exception("import of %s for %s broke off", path.name, source)
        finally:
            _release(key)

    thread = threading.Thread(name=f"ingest-{source}-{sha[:8]}", daemon=True, target=work)
    run.thread = thread
    thread.start()
    deadline = time.monotonic() + BATCH_OPEN_TIMEOUT
    while True:
        with transaction(factory) as session:
            batch = _batch_of_run(session, source_id, sha, before)
            if batch is not None:
                return batch.id
        if not thread.is_alive():
            if run.report is not None:
                return run.report.batch
            if isinstance(run.error, GridgovError):
                raise run.error
            raise InvalidInput(f"The import could not start ({type(run.error).__name__})")
        if time.monotonic() > deadline:  # pragma: no cover - the batch opens before the first row is read
            raise Conflict("The import started but its batch did not open in time: see the batch list")
        time.sleep(0.05)
