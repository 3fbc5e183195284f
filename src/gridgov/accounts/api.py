"""Account routes: token login, who am I, my tokens, accounts in my scope, reveal, export. Thin."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from gridgov.accounts import service
from gridgov.accounts.deps import CurrentPrincipal, require
from gridgov.accounts.middleware import client_address
from gridgov.accounts.permissions import Permission, Role
from gridgov.accounts.scoping import Principal
from gridgov.core import jsonbody
from gridgov.core.db import transaction
from gridgov.core.deps import DbSession
from gridgov.core.exports import SafeCsvWriter
from gridgov.core.ids import RowId
from gridgov.core.ratelimit import RateLimited, limiter_of, too_many

router = APIRouter(tags=["accounts"])
# How each route is scoped, for the route-walking test (tests/test_scope_walk.py).
PUBLIC = {"x-scope": "public"}
SELF = {"x-scope": "self"}
USER_LIST = {"x-scope": "user:list"}
USER_PATH = {"x-scope": "user:path"}
AREA_BODY = {"x-scope": "area:body"}


class TokenRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)
    name: str = Field(default="api", max_length=64, description="What the token is for")
    expires_days: int = Field(default=30, ge=1, le=service.TOKEN_MAX_DAYS)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    permissions: list[str]


class NewTokenRequest(BaseModel):
    name: str = Field(max_length=64)
    permissions: list[str] | None = Field(default=None, description="Subset of yours; default all")
    expires_days: int = Field(default=90, ge=1, le=service.TOKEN_MAX_DAYS)


class TokenInfo(BaseModel):
    id: int
    name: str
    prefix: str
    permissions: list[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked: bool


class Me(BaseModel):
    id: int
    username: str
    role: str
    org_unit: str | None
    scope: dict[str, Any]
    permissions: list[str]
    via: str
    csrf_token: str | None = Field(
        default=None, description="Echo as X-CSRF-Token on unsafe calls (sessions)"
    )


class RevealRequest(BaseModel):
    field: str = Field(pattern="^phone$")
    reason: str = Field(min_length=1, max_length=500)


class NewUserRequest(BaseModel):
    username: str
    password: str
    role: Role
    scope_level: str
    scope_codes: list[str]
    display_name: str = ""
    org_unit_code: str | None = None
    phone: str | None = None


async def _token_request(request: Request) -> TokenRequest:
    """JSON body, or an OAuth2-style form (``username``, ``password``) as many clients send.

    Parsed by hand (two content types), so malformed bodies are turned into the uniform 422 here.
    """
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            return TokenRequest.model_validate(jsonbody.loads(await request.body()))
        form = await request.form()
        return TokenRequest.model_validate({k: v for k, v in form.items() if isinstance(v, str)})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from exc
    except ValueError as exc:  # undecodable JSON or form
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "The body is not valid JSON or form data", "type": "value_error"}]
        ) from exc


_sleep = asyncio.sleep  # replaced in tests, which check the wait without spending it


async def pace_login(request: Request, username: str) -> RateLimited | None:
    """Before a login attempt (token route and login page alike): count it against the client's rate limit
    (the refusal is returned, for a 429 with Retry-After), then wait as long as `service.login_delay` says
    for this name and address. The wait is spent in the event loop, holding no thread."""
    address = client_address(request)
    try:
        limiter_of(request).hit("login", address or "unknown")
    except RateLimited as exc:
        return exc
    factory = request.app.state.session_factory

    def delay() -> float:
        with transaction(factory) as session:
            return service.login_delay(session, username, address)

    seconds = await run_in_threadpool(delay)
    if seconds > 0:
        await _sleep(seconds)
    return None


async def _token_login_gate(
    request: Request, body: Annotated[TokenRequest, Depends(_token_request)]
) -> RateLimited | None:
    return await pace_login(request, body.username)


@router.post(
    "/api/auth/token",
    openapi_extra=PUBLIC,
    response_model=TokenResponse,
    responses={429: {"description": "Too many attempts from this address (Retry-After says when to retry)"}},
    summary="Username and password → bearer token",
)
def login_for_token(
    request: Request,
    session: DbSession,
    body: Annotated[TokenRequest, Depends(_token_request)],
    refused: Annotated[RateLimited | None, Depends(_token_login_gate)],
) -> TokenResponse | Response:
    if refused is not None:
        return too_many(refused)
    try:
        user = service.authenticate(
            session, body.username, body.password, client_address=client_address(request)
        )
    except service.LockedOutFrom as exc:
        session.commit()
        refusal = RateLimited(exc.message, retry_after=exc.retry_after)
        refusal.code = exc.code  # "locked_out"
        return too_many(refusal)
    except service.InvalidCredentials:
        session.commit()  # keep the failure count (and its audit entry) although we answer with an error
        raise
    issued = service.issue_token(session, user, name=body.name, expires_days=body.expires_days)
    from gridgov.audit.service import record

    record(session, action="auth.token_login", object_type="user_account", object_id=str(user.id), actor=None)
    return TokenResponse(
        access_token=issued.token,
        expires_at=issued.row.expires_at,
        permissions=issued.row.permissions.split(","),
    )


@router.get(
    "/api/me",
    openapi_extra=SELF,
    response_model=Me,
    summary="Who I am: role, org unit, area scope, permissions",
)
def me(request: Request, principal: CurrentPrincipal) -> Me:
    effective = sorted(p.value for p in principal.permissions if principal.can(p))
    return Me(
        id=principal.user_id,
        username=principal.username,
        role=principal.role.value,
        org_unit=principal.org_unit,
        scope=principal.scope.describe(),
        permissions=effective,
        via=principal.via,
        csrf_token=getattr(request.state, "csrf_token", None),
    )


def _token_info(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        permissions=row.permissions.split(","),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked_at is not None,
    )


@router.get(
    "/api/me/tokens",
    openapi_extra=SELF,
    response_model=list[TokenInfo],
    summary="My API tokens (never the secrets)",
)
def my_tokens(
    session: DbSession, principal: Annotated[Principal, require(Permission.tokens_own)]
) -> list[TokenInfo]:
    return [_token_info(t) for t in service.list_tokens(session, principal.user_id)]


@router.post(
    "/api/me/tokens",
    openapi_extra=SELF,
    response_model=TokenResponse,
    status_code=201,
    summary="Create an API token (shown once)",
)
def create_my_token(
    session: DbSession, body: NewTokenRequest, principal: Annotated[Principal, require(Permission.tokens_own)]
) -> TokenResponse:
    user = service.get_user(session, principal.user_id)
    issued = service.issue_token(
        session,
        user,
        name=body.name,
        permissions=body.permissions,
        expires_days=body.expires_days,
        issued_by=principal,
    )
    return TokenResponse(
        access_token=issued.token,
        expires_at=issued.row.expires_at,
        permissions=issued.row.permissions.split(","),
    )


@router.delete(
    "/api/me/tokens/{token_id}", openapi_extra=SELF, response_model=TokenInfo, summary="Revoke a token"
)
def revoke_my_token(
    session: DbSession, token_id: RowId, principal: Annotated[Principal, require(Permission.tokens_own)]
) -> TokenInfo:
    return _token_info(service.revoke_token(session, principal, token_id))


@router.get("/api/users", openapi_extra=USER_LIST, summary="Accounts inside my scope (phone numbers masked)")
def list_users(
    session: DbSession, principal: Annotated[Principal, require(Permission.users_read)]
) -> list[dict[str, Any]]:
    return [service.user_summary(session, u) for u in service.list_users(session, principal)]


@router.get(
    "/api/users/export.csv",
    openapi_extra=USER_LIST,
    summary="Accounts in my scope as CSV: masked unless I may reveal (audited)",
)
def export_users(
    session: DbSession,
    principal: Annotated[Principal, require(Permission.data_export)],
    reason: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    header, rows = service.export_users(session, principal, reason)
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)  # a name or unit written as =… stays text in a spreadsheet
    writer.writerow(header)
    writer.writerows(rows)
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="users.csv"'},
    )


@router.get("/api/users/{user_id}", openapi_extra=USER_PATH, summary="One account inside my scope")
def get_user(
    session: DbSession, user_id: RowId, principal: Annotated[Principal, require(Permission.users_read)]
) -> dict[str, Any]:
    return service.user_summary(session, service.scoped_user(session, principal, user_id))


@router.post(
    "/api/users", openapi_extra=AREA_BODY, status_code=201, summary="Create an account (administrators)"
)
def create_user(
    session: DbSession,
    body: NewUserRequest,
    principal: Annotated[Principal, require(Permission.users_manage)],
) -> dict[str, Any]:
    user = service.create_user(
        session,
        service.NewUser(
            username=body.username,
            password=body.password,
            role=body.role,
            scope=service.parse_scope(body.scope_level, body.scope_codes),
            display_name=body.display_name,
            org_unit_code=body.org_unit_code,
            phone=body.phone,
        ),
        created_by=principal,
    )
    return service.user_summary(session, user)


@router.post(
    "/api/users/{user_id}/disable", openapi_extra=USER_PATH, summary="Disable an account (its sessions end)"
)
def disable_user(
    session: DbSession, user_id: RowId, principal: Annotated[Principal, require(Permission.users_manage)]
) -> dict[str, Any]:
    user = service.scoped_user(session, principal, user_id)
    return service.user_summary(session, service.set_active(session, user, False))


class UnlockRequest(BaseModel):
    reason: str = Field(default="", max_length=500)


@router.post(
    "/api/users/{user_id}/unlock",
    openapi_extra=USER_PATH,
    summary="Clear an account's failed logins and lock-outs, from every address (audited)",
)
def unlock_user(
    session: DbSession,
    user_id: RowId,
    principal: Annotated[Principal, require(Permission.users_manage)],
    body: UnlockRequest | None = None,
) -> dict[str, Any]:
    user = service.scoped_user(session, principal, user_id)
    cleared = service.unlock(session, user, reason=body.reason if body else "")
    return {**service.user_summary(session, user), "cleared_addresses": cleared}


@router.post(
    "/api/users/{user_id}/reveal",
    openapi_extra=USER_PATH,
    summary="Unmask a personal field, with a reason (audited)",
)
def reveal(
    session: DbSession,
    user_id: RowId,
    body: RevealRequest,
    principal: Annotated[Principal, require(Permission.personal_reveal)],
) -> dict[str, Any]:
    return {
        "id": user_id,
        "field": body.field,
        "value": service.reveal_phone(session, principal, user_id, body.reason),
    }
