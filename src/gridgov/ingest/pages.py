"""The import centre (issue 6): sources, registration from YAML, uploads, batches with live progress, the
quarantine download and push tokens — one page over ``ingest.sources``.

Forms post to the routes below (each carries the session's CSRF token as a hidden field); successful
changes answer with a redirect back to the page (so a reload does not upload twice), except a new push
token, which is shown once on the page that issued it and never again. Running batches update through
``static/ingest.js``, which polls ``GET /api/ingest/batches/{id}`` (same origin, no inline script).
"""

from __future__ import annotations

import hmac
from contextlib import AbstractContextManager
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gridgov.accounts.deps import require_page
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.core.db import transaction
from gridgov.core.errors import Forbidden, GridgovError
from gridgov.core.i18n import pick_language, translate
from gridgov.core.templating import render
from gridgov.ingest import sources
from gridgov.ingest.api import district_manager, quarantine_url, start_upload

router = APIRouter(tags=["pages"], include_in_schema=False)

PAGE = "/ingest"
BATCHES_SHOWN = 30
MAX_SPEC_BYTES = 200_000

PageManager = Annotated[Principal, require_page(Permission.ingest_manage)]


def _check_csrf(request: Request, principal: Principal, sent: str) -> None:
    """A form posted with a session cookie must echo the session's CSRF token (an API token has none)."""
    if principal.via != "session":
        return
    expected = getattr(request.state, "csrf_token", None)
    if not expected or not hmac.compare_digest(expected, sent):
        raise Forbidden(translate("ingest.centre.csrf", pick_language(request)))


def _page(
    request: Request,
    session: Session,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    summaries = sources.list_sources(session)
    batches = sources.list_batches(session, limit=BATCHES_SHOWN)
    for batch in batches:
        batch["quarantine_url"] = quarantine_url(int(batch["batch"]))
    lang = pick_language(request)
    statuses = {
        "running": translate("ingest.batches.status.running", lang),
        "done": translate("ingest.batches.status.done", lang),
        "failed": translate("ingest.batches.status.failed", lang),
    }
    context: dict[str, Any] = {
        "nav": "ingest",
        "sources": summaries,
        "batches": batches,
        "statuses": statuses,
        "script_config": {
            "statuses": statuses,
            # The message with its {placeholders}, filled by the script as counts arrive.
            "summary": translate("ingest.batches.summary", lang),
            "batchUrl": "/api/ingest/batches/",
        },
        "spec_text": "",
        "register_error": None,
        "notice": None,
        "error": None,
        "issued": None,
        "highlight": None,
    }
    context.update(extra)
    return render(request, "ingest/index.html", context, status_code=status_code)


def _back(request: Request, **query: str | int) -> RedirectResponse:
    root = request.scope.get("root_path", "")
    suffix = f"?{urlencode(query)}" if query else ""
    return RedirectResponse(f"{root}{PAGE}{suffix}#batches", status_code=303)


def _factory_session(request: Request) -> AbstractContextManager[Session]:
    """A unit of work of its own: forms commit before they redirect or render."""
    return transaction(request.app.state.session_factory)


@router.get(PAGE)
def ingest_page(
    request: Request,
    principal: PageManager,
    registered: str | None = None,
    batch: int | None = None,
    switched: str | None = None,
) -> Response:
    district_manager(principal)
    lang = pick_language(request)
    notice = None
    if registered:
        notice = translate("ingest.register.done", lang, name=registered[:64])
    elif batch is not None:
        notice = translate("ingest.upload.started", lang, batch=batch)
    elif switched:
        notice = translate("ingest.sources.switched", lang, name=switched[:64])
    with _factory_session(request) as session:
        return _page(request, session, notice=notice, highlight=batch)


@router.post(f"{PAGE}/sources")
def register_page(
    request: Request,
    principal: PageManager,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    spec: Annotated[str, Form(max_length=MAX_SPEC_BYTES)] = "",
    spec_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    district_manager(principal)
    _check_csrf(request, principal, csrf_token)
    lang = pick_language(request)
    text = spec
    if spec_file is not None and spec_file.filename:
        data = spec_file.file.read(MAX_SPEC_BYTES + 1)
        try:
            text = data.decode("utf-8-sig") if len(data) <= MAX_SPEC_BYTES else ""
        except UnicodeDecodeError:
            text = ""
        if not text:
            return _with_session(
                request,
                status_code=422,
                register_error=translate("ingest.register.bad_file", lang),
                spec_text=spec,
            )
    try:
        with _factory_session(request) as session:
            source = sources.register(session, text)
            name = source.name
    except GridgovError as exc:
        return _with_session(
            request,
            status_code=422,
            register_error=translate("ingest.register.refused", lang, reason=exc.message),
            spec_text=text,
        )
    return _back(request, registered=name)


def _with_session(request: Request, *, status_code: int = 200, **extra: Any) -> Response:
    with _factory_session(request) as session:
        return _page(request, session, status_code=status_code, **extra)


@router.post(f"{PAGE}/sources/{{name}}/upload")
def upload_page(
    name: str,
    request: Request,
    principal: PageManager,
    file: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    district_manager(principal)
    _check_csrf(request, principal, csrf_token)
    lang = pick_language(request)
    try:
        started = start_upload(request, principal, name, file)
    except GridgovError as exc:
        return _with_session(
            request,
            status_code=exc.http_status if exc.http_status in (404, 409, 422) else 422,
            error=translate("ingest.upload.refused", lang, name=name, reason=exc.message),
        )
    return _back(request, batch=int(started["batch"]))


@router.post(f"{PAGE}/sources/{{name}}/token")
def token_page(
    name: str,
    request: Request,
    principal: PageManager,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    action: Annotated[str, Form(max_length=16)] = "issue",
) -> Response:
    district_manager(principal)
    _check_csrf(request, principal, csrf_token)
    lang = pick_language(request)
    with _factory_session(request) as session:
        if action == "revoke":
            sources.revoke_push_token(session, name)
            session.commit()
            return _page(request, session, notice=translate("ingest.push.revoked", lang, name=name))
        issued = sources.issue_push_token(session, name)
        session.commit()
        response = _page(
            request,
            session,
            issued={"source": name, "token": issued.token, "url": f"/api/ingest/push/{name}"},
        )
    response.headers["Cache-Control"] = "no-store"  # the token is shown once: keep it out of caches
    return response


@router.post(f"{PAGE}/sources/{{name}}/active")
def switch_page(
    name: str,
    request: Request,
    principal: PageManager,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    active: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    district_manager(principal)
    _check_csrf(request, principal, csrf_token)
    with _factory_session(request) as session:
        sources.set_active(session, name, active in ("1", "true", "on"))
    return _back(request, switched=name)
