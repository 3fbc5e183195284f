"""Login and logout pages, and the administrators' accounts page (with its unlock action). Forms carry a
CSRF token: before login a double-submit cookie, after login the session's own token."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gridgov.accounts import service
from gridgov.accounts.api import pace_login
from gridgov.accounts.deps import require_page
from gridgov.accounts.middleware import SESSION_COOKIE, client_address
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.audit.service import record
from gridgov.core.deps import DbSession
from gridgov.core.i18n import pick_language, translate
from gridgov.core.ids import RowId
from gridgov.core.ratelimit import RateLimited
from gridgov.core.settings import get_settings
from gridgov.core.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
LOGIN_CSRF_COOKIE = "gridgov_login_csrf"


def cookie_secure(request: Request) -> bool:
    configured = get_settings().cookie_secure
    return request.url.scheme == "https" if configured is None else configured


def safe_next(target: str | None) -> str:
    """Only local paths: a login link must not bounce the user to another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login_page(
    request: Request, *, next_path: str, error: str | None = None, username: str = "", status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "accounts/login.html",
        {
            "nav": "login",
            "next": next_path,
            "error": error,
            "username": username,
            "login_csrf": token,
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        max_age=3600,
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_path=safe_next(next))


async def _login_gate(request: Request) -> RateLimited | None:
    """The token route's rule for the login form too: the client's rate limit, then the slow-down."""
    form = await request.form()
    username = form.get("username")
    return await pace_login(request, username if isinstance(username, str) else "")


@router.post("/login", response_class=HTMLResponse, openapi_extra={"x-scope": "public"})
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form(max_length=128)],
    refused: Annotated[RateLimited | None, Depends(_login_gate)],
    next: Annotated[str, Form(max_length=512)] = "/",
) -> Response:
    lang = pick_language(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_page(
            request,
            next_path=safe_next(next),
            username=username,
            error=translate("login.error.csrf", lang),
            status_code=403,
        )
    retry_after = refused.retry_after if refused is not None else None
    if retry_after is None:
        try:
            user = service.authenticate(session, username, password, client_address=client_address(request))
        except service.LockedOutFrom as exc:
            session.commit()  # keep the failure count even though we answer with an error
            retry_after = exc.retry_after
        except service.InvalidCredentials:
            session.commit()  # keep the failure count and its audit entry
            return _login_page(
                request,
                next_path=safe_next(next),
                username=username,
                error=translate("login.error.invalid", lang),
                status_code=401,
            )
    if retry_after is not None:
        page = _login_page(
            request,
            next_path=safe_next(next),
            username=username,
            error=translate("login.error.locked", lang),
            status_code=429,
        )
        page.headers["Retry-After"] = str(retry_after)
        return page
    issued = service.start_session(session, user, client_address(request))
    record(
        session, action="auth.login", object_type="user_account", object_id=str(user.id), actor=user.username
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        max_age=int(service.SESSION_LIFETIME.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", openapi_extra={"x-scope": "public"})
def logout(
    request: Request,
    session: DbSession,
    csrf_token: Annotated[str, Form(max_length=128)],
) -> Response:
    expected = getattr(request.state, "csrf_token", None)
    secret = request.cookies.get(SESSION_COOKIE)
    if secret and expected and hmac.compare_digest(expected, csrf_token):
        service.end_session(session, secret)
        record(session, action="auth.logout", object_type="web_session")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# ---------------------------------------------------------------------------------------------------------
# Accounts (administrators)


def _users_page(
    request: Request,
    session: DbSession,
    principal: Principal,
    *,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    users = service.list_users(session, principal)
    locks = service.locked_addresses(session, [u.username for u in users])
    lang = pick_language(request)
    rows = []
    for user in users:
        summary = service.user_summary(session, user)
        level = str(summary["scope"]["level"])
        rows.append(
            {
                **summary,
                "locked": locks.get(user.username, 0),
                "role_label": translate(f"role.{summary['role']}", lang),
                # The scope level "grids" (a set of grids) is said as 网格.
                "level_label": translate(f"level.{'grid' if level == 'grids' else level}", lang),
            }
        )
    return render(
        request, "accounts/users.html", {"nav": "users", "users": rows, "notice": notice}, status_code=status
    )


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    session: DbSession,
    principal: Annotated[Principal, require_page(Permission.users_manage)],
) -> Response:
    """Accounts in my scope, with how many addresses each is locked for; an unlock button where locked."""
    return _users_page(request, session, principal)


@router.post("/users/{user_id}/unlock", response_class=HTMLResponse)
def unlock_from_page(
    request: Request,
    session: DbSession,
    user_id: RowId,
    principal: Annotated[Principal, require_page(Permission.users_manage)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """The page's unlock action (the API's ``POST /api/users/{id}/unlock``); audited."""
    lang = pick_language(request)
    expected = getattr(request.state, "csrf_token", None)
    # A browser session must echo its CSRF token; a bearer token is no ambient credential and needs none.
    if principal.via == "session" and not (expected and hmac.compare_digest(expected, csrf_token)):
        return _users_page(
            request, session, principal, notice=translate("users.error.csrf", lang), status=403
        )
    user = service.scoped_user(session, principal, user_id)
    cleared = service.unlock(session, user)
    notice = translate("users.unlocked", lang, username=user.username, count=cleared)
    return _users_page(request, session, principal, notice=notice)
