"""Who is calling, resolved once per request: session cookie or bearer token → ``request.state.principal``.

Also enforces CSRF for cookie-authenticated unsafe API calls (the ``X-CSRF-Token`` header must echo the
session's token; HTML forms carry it as a hidden field, checked by the form's route), and sets the audit
trail's actor for the request.
"""

from __future__ import annotations

import hmac
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

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
# A source system pushing a feed (ingest/api.py) authenticates with its own push token, which is no user
# credential: on this path the route reads the bearer token itself (a user's token is refused there).
SOURCE_PUSH_PREFIX = "/api/ingest/push/"


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _networks(entries: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


_trusted_cache: dict[tuple[str, ...], tuple[IPv4Network | IPv6Network, ...]] = {}


def _is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    networks = _trusted_cache.get(trusted)
    if networks is None:
        networks = _trusted_cache[trusted] = _networks(trusted)
    try:
        ip = ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: Request) -> str | None:
    """Who is calling, for rate limits, the login throttle and the audit trail: the socket peer, unless the
    peer is a trusted proxy (``GRIDGOV_TRUSTED_PROXIES``); then the header it sets
    (``GRIDGOV_CLIENT_IP_HEADER``, default X-Forwarded-For), read from the right, skipping trusted hops.
    With no trusted proxy configured (the default) no header is believed."""
    from gridgov.core.settings import get_settings

    peer = request.client.host if request.client else None
    settings = get_settings()
    trusted = tuple(settings.trusted_proxies)
    if peer is None or not trusted or not _is_trusted(peer, trusted):
        return peer
    header = request.headers.get(settings.client_ip_header.lower(), "")
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            try:
                return str(ip_address(hop))
            except ValueError:
                return peer  # a malformed header: fall back to the proxy itself
    return hops[0] if hops else peer


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
        if authorization.lower().startswith("bearer ") and not request.url.path.startswith(
            SOURCE_PUSH_PREFIX
        ):
            secret = authorization[7:].strip()

            def by_token() -> service.Resolved | None:
                with transaction(factory) as session:
                    found = service.resolve_token(session, secret)
                if found is not None:
                    service.remember_token(secret, found)
                return found

            resolved = service.recently_resolved_token(secret) or await run_in_threadpool(by_token)
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
    """Refuses request bodies over ``max_bytes`` with 413, whether or not Content-Length is sent. Paths under
    one of ``large_prefixes`` (feed uploads and pushes: a department's export is often hundreds of MB) may
    send up to ``large_max_bytes``; their routes set their own, tighter limits where they want one."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        large_prefixes: tuple[str, ...] = (),
        large_max_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.large_prefixes = large_prefixes
        self.large_max_bytes = large_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        large = str(scope.get("path", "")).startswith(self.large_prefixes) if self.large_prefixes else False
        max_bytes = self.large_max_bytes if large else self.default_max_bytes
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(send, max_bytes)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send, max_bytes)

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        response = error_response(413, "too_large", f"The request body is larger than {max_bytes} bytes")
        await response({"type": "http"}, _empty_receive, send)


class _TooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
