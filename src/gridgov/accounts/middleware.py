"""Who is calling, resolved once per request: session cookie or bearer token → ``request.state.principal``.

Also enforces CSRF for cookie-authenticated unsafe API calls (the ``X-CSRF-Token`` header must echo the
session's token; HTML forms carry it as a hidden field, checked by the form's route), and sets the audit
trail's actor for the request.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgov.accounts import service
from gridgov.audit.context import ActorInfo, actor_context
from gridgov.core.db import transaction

SESSION_COOKIE = "gridgov_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


class AuthenticationMiddleware:
    """Plain ASGI (not Starlette's BaseHTTPMiddleware, which runs the app in a second task and costs a
    measurable share of a small request): the principal goes into the request scope's state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        factory = request.app.state.session_factory
        authorization = request.headers.get("authorization", "")
        resolved: service.Resolved | None = None
        if authorization.lower().startswith("bearer "):
            secret = authorization[7:].strip()

            def by_token() -> service.Resolved | None:
                with transaction(factory) as session:
                    return service.resolve_token(session, secret)

            resolved = await run_in_threadpool(by_token)
            if resolved is None:
                refusal = error_response(401, "invalid_token", "The API token is unknown, expired or revoked")
                await refusal(scope, receive, send)
                return
        elif cookie := request.cookies.get(SESSION_COOKIE):

            def by_cookie() -> service.Resolved | None:
                with transaction(factory) as session:
                    return service.resolve_session(session, cookie)

            resolved = await run_in_threadpool(by_cookie)
        principal = resolved.principal if resolved else None
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["csrf_token"] = resolved.csrf_token if resolved else None
        if (
            resolved is not None
            and principal is not None
            and principal.via == "session"
            and request.method not in SAFE_METHODS
            and request.url.path.startswith("/api/")
        ):
            sent = request.headers.get(CSRF_HEADER, "")
            if not (resolved.csrf_token and hmac.compare_digest(sent, resolved.csrf_token)):
                refusal = error_response(403, "csrf", "Missing or wrong X-CSRF-Token header for this session")
                await refusal(scope, receive, send)
                return
        actor = ActorInfo(
            actor=principal.username if principal else "anonymous",
            role=principal.role.value if principal else None,
            client_address=client_address(request),
        )
        with actor_context(actor):
            await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuses request bodies over ``max_bytes`` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = error_response(413, "too_large", f"The request body is larger than {self.max_bytes} bytes")
        await response({"type": "http"}, _empty_receive, send)


class _TooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
