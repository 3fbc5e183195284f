"""The ingest API (issue 6): thin routes over ``ingest.sources`` and ``ingest.service``.

Two kinds of caller:

- **A source system pushing a feed**: ``POST /api/ingest/push/{source}`` with the source's push token
  (``Authorization: Bearer ggs_…``, or ``X-Source-Token: ggs_…``). A user's credential (API token or
  session) is refused there (403), and a source token opens nothing else (it is no user token: the
  authentication middleware refuses it elsewhere). Its ``x-scope`` is ``permission:ingest.push``, a
  permission no role holds: only a source token passes.
- **The import centre** (district operators and administrators: ``ingest.manage``, district-wide scope,
  since a feed spans the district): sources, their registration from YAML, switch and push token; file
  uploads, imported in the background; batches and their quarantine as XLSX.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from gridgov.accounts.deps import optional_principal, require
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.accounts.service import TOKEN_PREFIX as USER_TOKEN_PREFIX
from gridgov.areas.scope import DISTRICT_CODE
from gridgov.core.db import transaction
from gridgov.core.deps import DbSession
from gridgov.core.errors import Forbidden, Unauthenticated
from gridgov.core.i18n import pick_language
from gridgov.core.ids import RowId
from gridgov.core.private_files import private_dir
from gridgov.core.settings import get_settings
from gridgov.ingest import service, sources

router = APIRouter(tags=["ingest"])


def after_batch(request: Request) -> service.AfterBatch | None:
    """What the app runs after every batch (the detection rules; ``web.app`` sets it)."""
    hook: service.AfterBatch | None = getattr(request.app.state, "after_batch", None)
    return hook


MANAGE = {"x-scope": "permission:ingest.manage"}
# No role holds ``ingest.push``: the push route takes a source's token, never a user's credential.
PUSH = {"x-scope": "permission:ingest.push"}
SOURCE_TOKEN_HEADER = "x-source-token"

Manager = Annotated[Principal, require(Permission.ingest_manage)]


def district_manager(principal: Principal) -> Principal:
    """Imports touch the whole district: the import centre is for holders of ``ingest.manage`` whose scope
    is the district (a narrower account holding it, by a custom role, is refused)."""
    if not principal.scope.covers(DISTRICT_CODE):
        raise Forbidden("The import centre works district-wide: your area scope is narrower")
    return principal


def _factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


def quarantine_url(batch_id: int) -> str:
    return f"/api/ingest/batches/{batch_id}/quarantine.xlsx"


# ---------------------------------------------------------------------------------------------------------
# HTTP push


def _push_secret(request: Request) -> str | None:
    sent = request.headers.get(SOURCE_TOKEN_HEADER, "").strip()
    if sent:
        return sent
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


@router.post(
    "/api/ingest/push/{source}",
    summary="Push a feed (JSON Lines, a JSON array of objects, or CSV) with the source's token",
    openapi_extra=PUSH,
    responses={
        401: {"description": "No push token, or not this source's"},
        403: {"description": "A user credential, or another source's token"},
        409: {"description": "The same body is being imported right now"},
        413: {
            "description": "The body is larger than the push limit, or holds more rows (kept in the inbox)"
        },
        415: {"description": "Not JSON Lines, JSON or CSV"},
        422: {"description": "The body cannot be read (it is kept in the inbox, named in the answer)"},
    },
)
async def push(source: str, request: Request) -> JSONResponse:
    """The body is written to the inbox under its SHA-256 first, then imported as one batch; the answer is
    the batch's counts (rows = accepted + merged + unchanged + quarantined). The same body pushed again
    comes back unchanged. Quarantined rows are downloaded by an operator from the ``quarantine`` link."""
    if optional_principal(request) is not None:
        raise Forbidden("A user's credential cannot push a feed: send the source's push token")
    secret = _push_secret(request)
    if not secret:
        raise Unauthenticated("Send the source's push token: `Authorization: Bearer ggs_…`")
    if secret.startswith(USER_TOKEN_PREFIX):
        raise Forbidden("A user's API token cannot push a feed: send the source's push token")
    factory = _factory(request)

    def resolve() -> Any:
        with transaction(factory) as session:
            return sources.resolve_push_token(session, secret)

    holder = await run_in_threadpool(resolve)
    if holder is None:
        raise Unauthenticated("The push token is unknown or revoked", code="invalid_token")
    if holder.name != source:
        raise Forbidden(f"This push token belongs to another source, not '{source}'")
    if not holder.active:
        raise Forbidden(f"Source '{source}' is switched off")
    suffix = sources.push_suffix(request.headers.get("content-type"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > sources.PUSH_MAX_BYTES:
        raise sources.BodyTooLarge(sources.PUSH_MAX_BYTES)
    inbox = sources.inbox_dir(get_settings().var_dir)
    kept, _sha, _size = await sources.store_stream(
        request.stream(), inbox, suffix=suffix, max_bytes=sources.PUSH_MAX_BYTES
    )
    try:
        report = await run_in_threadpool(
            sources.receive_push,
            factory,
            holder,
            kept,
            started_by=f"push:{source}"[:64],
            after=after_batch(request),
        )
    except sources.UnreadableBody as refused:
        return JSONResponse(
            {
                "error": {
                    "code": refused.code,
                    "message": f"{refused.message} (the body is kept as {refused.kept.name})",
                    "details": {"kept": refused.kept.name},
                }
            },
            status_code=refused.http_status,
        )
    body = {
        key: value
        for key, value in report.as_dict().items()
        if key not in ("file", "resumed_from_row") or value is not None
    }
    body["file"] = kept.name
    body["quarantine"] = quarantine_url(report.batch)
    return JSONResponse(body)


# ---------------------------------------------------------------------------------------------------------
# Sources


class SpecIn(BaseModel):
    spec: str = Field(min_length=1, max_length=200_000, description="The source's YAML mapping spec")


class ActiveIn(BaseModel):
    active: bool


@router.get("/api/ingest/sources", summary="Registered sources with their last batch", openapi_extra=MANAGE)
def list_sources(principal: Manager, session: DbSession) -> list[dict[str, Any]]:
    district_manager(principal)
    return [summary.as_dict() for summary in sources.list_sources(session)]


@router.post(
    "/api/ingest/sources",
    summary="Register a source (or update its registration) from its YAML mapping spec",
    openapi_extra=MANAGE,
    status_code=201,
)
def register_source(body: SpecIn, principal: Manager, session: DbSession) -> dict[str, Any]:
    district_manager(principal)
    source = sources.register(session, body.spec)
    return next(s.as_dict() for s in sources.list_sources(session) if s.name == source.name)


@router.post(
    "/api/ingest/sources/{name}/active",
    summary="Switch a source on or off",
    openapi_extra=MANAGE,
)
def switch_source(name: str, body: ActiveIn, principal: Manager, session: DbSession) -> dict[str, Any]:
    district_manager(principal)
    source = sources.set_active(session, name, body.active)
    return {"name": source.name, "active": source.active}


@router.post(
    "/api/ingest/sources/{name}/token",
    summary="Issue a push token for the source (shown once; the previous one stops working)",
    openapi_extra=MANAGE,
    status_code=201,
)
def issue_push_token(name: str, principal: Manager, session: DbSession) -> dict[str, Any]:
    district_manager(principal)
    issued = sources.issue_push_token(session, name)
    return {
        "source": issued.source.name,
        "token": issued.token,
        "push_url": f"/api/ingest/push/{issued.source.name}",
    }


@router.delete(
    "/api/ingest/sources/{name}/token",
    summary="Revoke the source's push token",
    openapi_extra=MANAGE,
    status_code=204,
)
def revoke_push_token(name: str, principal: Manager, session: DbSession) -> Response:
    district_manager(principal)
    sources.revoke_push_token(session, name)
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------------------
# Uploads and batches


def save_upload(upload: UploadFile, var_dir: Path) -> Path:
    """Copy an uploaded file to ``uploads/<sha256>/<its name>`` (the name keeps its suffix: the format)."""
    name = sources.safe_file_name(upload.filename)
    incoming = sources.uploads_dir(var_dir)
    private_dir(incoming.parent)  # feeds hold personal data: 0700 folders, 0600 files
    private_dir(incoming)
    with tempfile.NamedTemporaryFile(dir=incoming, prefix=".incoming-", delete=False) as handle:
        shutil.copyfileobj(upload.file, handle, 1 << 20)
        temporary = Path(handle.name)
    try:
        return sources.keep_upload(temporary, var_dir, name)
    finally:
        temporary.unlink(missing_ok=True)


def start_upload(request: Request, principal: Principal, source: str, upload: UploadFile) -> dict[str, Any]:
    """Keep the upload, start its import in the background, and say where to watch it."""
    path = save_upload(upload, get_settings().var_dir)
    batch_id = sources.start_import(
        _factory(request), path, source=source, started_by=principal.username, after=after_batch(request)
    )
    return {
        "batch": batch_id,
        "source": source,
        "file": path.name,
        "status_url": f"/api/ingest/batches/{batch_id}",
        "quarantine": quarantine_url(batch_id),
    }


@router.post(
    "/api/ingest/uploads",
    summary="Upload a feed file (CSV, XLSX, JSON Lines) for a source; it imports in the background",
    openapi_extra=MANAGE,
    status_code=202,
)
def upload(
    request: Request,
    principal: Manager,
    source: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
) -> dict[str, Any]:
    """Answers at once with the batch id; ``GET /api/ingest/batches/{id}`` shows rows done and status."""
    district_manager(principal)
    return start_upload(request, principal, source, file)


@router.get("/api/ingest/batches", summary="Import batches, newest first", openapi_extra=MANAGE)
def list_batches(
    principal: Manager,
    session: DbSession,
    source: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    district_manager(principal)
    return sources.list_batches(session, source=source, limit=limit)


@router.get(
    "/api/ingest/batches/{batch_id}",
    summary="One import batch: status and counts so far",
    openapi_extra=MANAGE,
)
def get_batch(batch_id: RowId, principal: Manager, session: DbSession) -> dict[str, Any]:
    district_manager(principal)
    batch = sources.get_batch(session, batch_id)
    batch["quarantine"] = quarantine_url(batch_id)
    return batch


@router.get(
    "/api/ingest/batches/{batch_id}/quarantine.xlsx",
    summary="The batch's quarantined rows as XLSX, with row number and reasons (personal data in clear: "
    "needs personal.reveal and a reason, audited)",
    openapi_extra=MANAGE,
    response_class=Response,
)
def download_quarantine(
    batch_id: RowId,
    request: Request,
    principal: Manager,
    session: DbSession,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """The rows come out as they arrived (resident IDs and phones in clear, so that a person can fix them):
    the caller needs ``personal.reveal`` as well, and a reason (at least 4 characters); it is audited."""
    district_manager(principal)
    principal.require(Permission.personal_reveal)
    lang = pick_language(request)
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / f"quarantine-{batch_id}.xlsx"
        service.export_quarantine(session, batch_id, out, reason=reason, lang=lang)
        data = out.read_bytes()
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f'attachment; filename="quarantine-batch-{batch_id}.xlsx"',
            "Cache-Control": "no-store",
        },
    )
