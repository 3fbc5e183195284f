"""Who is calling, resolved once per request: session cookie or bearer token → ``request.state.principal``.

Also enforces CSRF for cookie-authenticated unsafe API calls (the ``X-CSRF-Token`` header must echo the
session's token; HTML forms carry it as a hidden field, checked by the form's route), refuses anonymous
calls to API routes that need a login before their body is read, and sets the audit trail's actor for the
request. What a request is (an API call, public, a feed push) is decided by the route it goes to
(``matched_route``), never by a prefix of the raw path: under a root path (``/gg/api/…``) the raw path
starts with something else.
"""

from __future__ import annotations

import contextlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgov.accounts import service
from gridgov.audit.context import ActorInfo, actor_context
from gridgov.core.db import transaction
from gridgov.core.ratelimit import RateLimited, limiter_of, too_many

SESSION_COOKIE = "gridgov_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A source system pushing a feed (ingest/api.py) authenticates with its own push token, which is no user
# credential: on a route of this scope the route reads the bearer token itself (a user's token is refused
# there), before it reads the body.
SOURCE_PUSH_SCOPE = "permission:ingest.push"
# Routes any caller may use without logging in (``openapi_extra["x-scope"]``).
PUBLIC_SCOPE = "public"
API_PREFIX = "/api/"


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


@dataclass(frozen=True)
class MatchedRoute:
    """The route a request goes to: its declared path (without the root path) and ``x-scope``."""

    path: str
    x_scope: str | None
    #: An HTML page's route (left out of the OpenAPI document), not the API or Open311.
    page: bool = False

    @property
    def api(self) -> bool:
        """A JSON API route (the pages, the static files and Open311 are not)."""
        return self.path.startswith(API_PREFIX)

    @property
    def needs_login(self) -> bool:
        """An API route that only a logged-in user may call (the feed push checks its own token)."""
        return self.api and self.x_scope not in (PUBLIC_SCOPE, SOURCE_PUSH_SCOPE)

    @property
    def form_needs_login(self) -> bool:
        """A page whose forms only a logged-in user may post (the public ones say ``x-scope: public``)."""
        return self.page and self.x_scope != PUBLIC_SCOPE


@dataclass(frozen=True)
class _Entry:
    regex: re.Pattern[str]
    methods: frozenset[str]
    route: MatchedRoute


def _api_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every FastAPI route with its full path, looking inside included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _api_routes(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def _route_table(app: Any) -> list[_Entry]:
    """The app's routes, compiled once (again when routes are added)."""
    routes = app.router.routes
    cached: tuple[int, list[_Entry]] | None = getattr(app.state, "gridgov_route_table", None)
    if cached is not None and cached[0] == len(routes):
        return cached[1]
    table = []
    for path, route in _api_routes(routes):
        regex, _format, _convertors = compile_path(path)
        x_scope = (route.openapi_extra or {}).get("x-scope")
        page = not route.include_in_schema and not path.startswith(API_PREFIX)
        table.append(_Entry(regex, frozenset(route.methods or ()), MatchedRoute(path, x_scope, page)))
    app.state.gridgov_route_table = (len(routes), table)
    return table


def route_path(scope: Scope) -> str:
    """The request's path inside the app: without the root path it is served under."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", "")).rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


def matched_route(scope: Scope) -> MatchedRoute | None:
    """The FastAPI route this request goes to (its path matching, the method too when one does), or None
    (no route: a 404, or a static file); worked out once per request."""
    if "gridgov.route" in scope:
        found: MatchedRoute | None = scope["gridgov.route"]
        return found
    app = scope.get("app")
    found = None
    if app is not None and hasattr(app, "router"):
        path, method = route_path(scope), str(scope.get("method", ""))
        for entry in _route_table(app):
            if entry.regex.match(path):
                if method in entry.methods:
                    found = entry.route
                    break
                found = found or entry.route  # the path is right, the method is not: a 405 from this route
    scope["gridgov.route"] = found
    return found


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
        route = matched_route(scope)
        pushing = route is not None and route.x_scope == SOURCE_PUSH_SCOPE
        if authorization.lower().startswith("bearer ") and not pushing:
            secret = authorization[7:].strip()

            def by_token() -> service.Resolved | None:
                with transaction(factory) as session:
                    found = service.resolve_token(session, secret)
                if found is not None:
                    service.remember_token(secret, found)
                return found

            resolved = service.recently_resolved_token(secret)
            if resolved is None:
                # Wrong tokens count against the client's API-credential failures (``key_failures``, as
                # wrong Open311 keys do): past the limit a token is not even looked up (429).
                limiter, client = limiter_of(request), client_address(request) or ""
                try:
                    limiter.check("key_failures", client)
                except RateLimited as exc:
                    await too_many(exc)(scope, receive, send)
                    return
                resolved = await run_in_threadpool(by_token)
                if resolved is None:
                    with contextlib.suppress(RateLimited):
                        limiter.hit("key_failures", client)
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
        if principal is None and route is not None and route.needs_login:
            # Before the body is read: an anonymous upload is not spooled to disk only to be refused.
            refusal = error_response(
                401, "unauthenticated", "Log in first (session cookie or `Authorization: Bearer <token>`)"
            )
            await refusal(scope, receive, send)
            return
        if (
            principal is None
            and route is not None
            and route.form_needs_login
            and request.method not in SAFE_METHODS
        ):
            # An anonymous form post to a page that needs a login: to the login page before the body is read.
            root = str(scope.get("root_path", "")).rstrip("/")
            await RedirectResponse(f"{root}/login", status_code=303)(scope, receive, send)
            return
        if (
            resolved is not None
            and principal is not None
            and principal.via == "session"
            and request.method not in SAFE_METHODS
            and route is not None
            and route.api
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
    """Refuses request bodies over ``max_bytes`` with 413, whether or not Content-Length is sent. A request
    for which ``large_when(scope)`` holds (an authenticated feed upload: a department's export is often
    hundreds of MB) may send up to ``large_max_bytes``; routes set their own, tighter limits where they want
    one. Runs inside the authentication middleware, so ``large_when`` can ask who is calling."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        large_when: Callable[[Scope], bool] | None = None,
        large_max_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.default_max_bytes = max_bytes
        self.large_when = large_when
        self.large_max_bytes = large_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        large = self.large_when is not None and self.large_when(scope)
        max_bytes = self.large_max_bytes if large else self.default_max_bytes
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(send, max_bytes)
            return
        received = 0
        started = refused = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out: what the app says about the cut-off body is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    if started:
                        raise _TooLarge
                    # Answered here: a form parser turns any error while reading into its own 400.
                    await self._refuse(send, max_bytes)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                await self._refuse(send, max_bytes)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send: Send, max_bytes: int) -> None:
        response = error_response(413, "too_large", f"The request body is larger than {max_bytes} bytes")
        await response({"type": "http"}, _empty_receive, send)


class _TooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def feed_upload(prefixes: tuple[str, ...]) -> Callable[[Scope], bool]:
    """``large_when`` for ``BodySizeLimit``: a request to a route under one of ``prefixes`` (import centre
    routes) from a logged-in user, or a source's feed push (its route checks the push token before it reads
    the body). Anonymous callers get the general limit."""

    def allowed(scope: Scope) -> bool:
        route = matched_route(scope)
        if route is None or not route.path.startswith(prefixes):
            return False
        state = scope.get("state") or {}
        return state.get("principal") is not None or route.x_scope == SOURCE_PUSH_SCOPE

    return allowed
