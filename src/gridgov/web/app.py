"""The application factory: routers, static files, uniform errors, security headers."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from gridgov import __version__
from gridgov.core.db import get_engine, session_factory
from gridgov.core.errors import GridgovError

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


class SecurityHeaders(BaseHTTPMiddleware):
    def __init__(self, app: object, csp: str) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.headers = {**SECURITY_HEADERS, "Content-Security-Policy": csp}

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        return response


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
    )
    app.state.engine = engine or get_engine()
    app.state.session_factory = session_factory(app.state.engine)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(settings.tile_url))
    # Grid polygons are ~1 MB of GeoJSON; compressed they travel well over a street office's line.
    app.add_middleware(GZipMiddleware, minimum_size=2048)

    @app.exception_handler(GridgovError)
    async def domain_error(_request: Request, exc: GridgovError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.http_status)

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
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.get("/health", tags=["system"], summary="Liveness and database check")
    def health() -> dict[str, str]:
        with app.state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": app.state.engine.dialect.name}

    from gridgov.areas.api import router as areas_api
    from gridgov.areas.pages import router as areas_pages
    from gridgov.web.pages import router as web_pages

    app.include_router(areas_api)
    app.include_router(web_pages)
    app.include_router(areas_pages)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
