"""The application factory: routers, static files, uniform errors, security headers."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgov import __version__
from gridgov.accounts.deps import LoginRequired
from gridgov.accounts.middleware import AuthenticationMiddleware, BodySizeLimit, feed_upload, route_path
from gridgov.audit.service import install_write_auditing
from gridgov.core.db import get_engine, session_factory
from gridgov.core.errors import GridgovError
from gridgov.core.i18n import pick_language, translate
from gridgov.core.templating import render

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")

SECURITY_HEADERS = {
    # No inline scripts; only our own origin. Tiles from a configured server are added per settings.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """Adds the security headers to every answer that does not set them itself (plain ASGI: see
    `accounts.middleware.AuthenticationMiddleware`)."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        merged = {**SECURITY_HEADERS, "Content-Security-Policy": csp}
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in merged.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                headers += [(name, value) for name, value in self.headers if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class VersionedStaticFiles(StaticFiles):
    """Static files; a URL carrying the version (``?v=…``, as ``static_url`` writes every one) names content
    that never changes, so browsers keep it for a year without asking again. Without it, they revalidate
    (ETag / Last-Modified) each time."""

    VERSIONED = "public, max-age=31536000, immutable"
    UNVERSIONED = "no-cache"

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = "v" in parse_qs(scope.get("query_string", b"").decode("latin-1"))
        response.headers["Cache-Control"] = self.VERSIONED if versioned else self.UNVERSIONED
        return response


def wants_html(request: Request) -> bool:
    """Pages get an error page; API callers and scripts get the uniform JSON body."""
    return not route_path(request.scope).startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def error_body(code: str, message: str, details: object | None = None) -> dict[str, object]:
    body: dict[str, object] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details  # type: ignore[index]
    return body


def content_security_policy(tile_url: str) -> str:
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    if tile_url:
        # Allow only the configured tile server's origin for images.
        from urllib.parse import urlsplit

        parts = urlsplit(tile_url.replace("{s}", "a"))
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
        if origin:
            csp = csp.replace("img-src 'self' data: blob:;", f"img-src 'self' data: blob: {origin};")
    return csp


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Startup: a large address library's type-ahead index starts building in the background (~20 s at
    1.1M addresses), so the first searches do not wait for it (they get the LIKE answer meanwhile); with
    ``run_jobs`` (the demo), the event deadline job runs in a thread until shutdown."""
    from gridgov.address.typeahead import warm_up

    try:
        if warm_up(app.state.engine):
            log.info("building the type-ahead address index in the background")
    except Exception:  # an unmigrated database, say: searching later builds it (or reports the error)
        log.warning("type-ahead index not started at startup", exc_info=True)
    from gridgov.core.settings import get_settings

    settings = get_settings()
    # Requests run their (synchronous) database work on this many threads; the rest wait their turn in
    # the event loop. More threads than cores mostly fight over Python's interpreter lock: on 2 cores
    # under 32 concurrent filings, 8 threads answered faster than the 40 AnyIO starts with.
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
    worker = None
    if settings.run_jobs:
        from gridgov.core.db import session_factory
        from gridgov.events.jobs import DeadlineWorker

        worker = DeadlineWorker(session_factory(app.state.engine))
        worker.start()
        log.info("event deadline job running in-process (every %.0f s)", worker.interval)
    yield
    app.state.event_intake.close()  # files what is queued before the process ends
    if worker is not None:
        worker.stop()


def create_app(engine: Engine | None = None) -> FastAPI:
    from gridgov.core.settings import get_settings

    settings = get_settings()
    app = FastAPI(
        title="gridgov 网格化社会治理平台",
        version=__version__,
        description="Grid-based urban governance: one base (address library, block data), four lines "
        "(population, housing, legal entities, events). Street, community and grid polygons in the demo "
        "are synthetic.",
        # FastAPI's own docs pages load Swagger from a CDN with inline scripts; web/pages.py serves an
        # offline /docs built from npm instead (air-gapped intranets, strict CSP).
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    # Every ORM write leaves an audit entry (names of changed columns, never values).
    install_write_auditing()
    app.state.engine = engine or get_engine()
    app.state.session_factory = session_factory(app.state.engine)
    from gridgov.events.api import intake_writer

    app.state.event_intake = intake_writer(app.state.session_factory)
    # Starlette runs the last-added middleware first: headers, compression, CORS, who, then the size limit
    # (feed-sized bodies only once the caller is known).
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        large_when=feed_upload(("/api/ingest/", "/ingest/")),
        large_max_bytes=settings.max_feed_bytes,
    )
    app.add_middleware(AuthenticationMiddleware)
    if settings.cors_origins:
        # Closed unless configured: only the listed origins may call the API from a browser.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    # Grid polygons are ~1 MB of GeoJSON; compressed they travel well over a street office's line.
    app.add_middleware(GZipMiddleware, minimum_size=2048)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(settings.tile_url))

    @app.exception_handler(GridgovError)
    async def domain_error(request: Request, exc: GridgovError) -> Response:
        if wants_html(request):
            return render(
                request,
                "error.html",
                {"status": exc.http_status, "message": exc.message},
                status_code=exc.http_status,
            )
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.http_status)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        # A value the database cannot take (PostgreSQL: a NUL character in text, a number out of range) came
        # from the request: the caller's mistake, answered as such; the route's transaction is rolled back.
        log.warning("the database refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
        message = "A value in the request cannot be stored or searched for (a NUL character, or out of range)"
        if wants_html(request):
            return render(request, "error.html", {"status": 422, "message": message}, status_code=422)
        return JSONResponse(error_body("invalid_input", message), status_code=422)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> RedirectResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")  # served under a root path: stay under it
        return RedirectResponse(f"{root}/login?{urlencode({'next': exc.next_path})}", status_code=303)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # Uniform and revealing nothing: the details go to the server log, not to the caller.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal", "Something went wrong on the server; it has been logged"), status_code=500
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body", "path")),
                "message": e.get("msg", ""),
            }
            for e in exc.errors()
        ]
        return JSONResponse(error_body("invalid_input", "The request is not valid", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # A browser that asks for an address we do not have gets the error page (Chinese, titled), not JSON;
        # headers an exception carries (Retry-After, Allow) go out with either.
        headers = getattr(exc, "headers", None)
        if wants_html(request):
            lang = pick_language(request)
            if exc.status_code == 404:
                message = translate("error.not_found", lang)
            elif exc.status_code == 405:
                message = translate("error.method_not_allowed", lang)
            else:
                message = str(exc.detail)
            response = render(
                request,
                "error.html",
                {"status": exc.status_code, "message": message},
                status_code=exc.status_code,
            )
            response.headers.update(headers or {})
            return response
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers)

    @app.get("/health", tags=["system"], summary="Liveness and database check")
    def health() -> dict[str, str]:
        with app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": app.state.engine.dialect.name}

    from gridgov.accounts.api import router as accounts_api
    from gridgov.accounts.pages import router as accounts_pages
    from gridgov.address.api import router as address_api
    from gridgov.address.pages import router as address_pages
    from gridgov.areas.api import router as areas_api
    from gridgov.areas.pages import router as areas_pages
    from gridgov.audit.api import router as audit_api
    from gridgov.audit.pages import router as audit_pages
    from gridgov.events.alerts import router as events_alerts
    from gridgov.events.api import router as events_api
    from gridgov.events.open311 import Open311Error
    from gridgov.events.open311 import error_response as open311_error
    from gridgov.events.open311 import router as open311_api
    from gridgov.events.pages import router as events_pages
    from gridgov.ingest.api import router as ingest_api
    from gridgov.ingest.pages import router as ingest_pages
    from gridgov.ingest.review import pages as review_pages
    from gridgov.ingest.review import router as review_api
    from gridgov.registry.api import router as registry_api
    from gridgov.registry.pages import router as registry_pages
    from gridgov.tasks.api import router as tasks_api
    from gridgov.tasks.pages import router as tasks_pages
    from gridgov.web.pages import router as web_pages

    app.include_router(accounts_api)
    app.include_router(accounts_pages)
    app.include_router(areas_api)
    app.include_router(address_api)
    app.include_router(web_pages)
    app.include_router(areas_pages)
    app.include_router(address_pages)
    app.include_router(audit_api)
    app.include_router(audit_pages)
    app.include_router(events_api)
    app.include_router(events_alerts)
    app.include_router(open311_api)
    app.add_exception_handler(Open311Error, open311_error)
    app.include_router(events_pages)
    from gridgov.rules.service import tasks_after_batch

    # Every import batch (upload or push) ends with the detection rules over what it brought.
    app.state.after_batch = tasks_after_batch
    for router in (
        registry_api,
        registry_pages,
        tasks_api,
        tasks_pages,
        ingest_api,
        ingest_pages,
        review_api,
        review_pages,
    ):
        app.include_router(router)
    if STATIC_DIR.is_dir():
        app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    return app
