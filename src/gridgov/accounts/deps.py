"""FastAPI dependencies: who is calling, and may they. Routes declare what they need; nothing else checks.

The authentication middleware (``gridgov.accounts.middleware``) resolves the session cookie or bearer token
into a ``Principal`` on ``request.state.principal`` before any route runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal, Unauthenticated


def optional_principal(request: Request) -> Principal | None:
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal


# ``async``: no I/O here, so FastAPI calls them in the event loop instead of handing each to a thread.
async def current_principal(request: Request) -> Principal:
    principal = optional_principal(request)
    if principal is None:
        raise Unauthenticated("Log in first (session cookie or `Authorization: Bearer <token>`)")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Any:
    """``Depends(...)`` yielding the caller when they hold ``permission``; 401 / 403 otherwise."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        principal.require(permission)
        return principal

    dependency.__name__ = f"require_{permission.value.replace('.', '_')}"
    return Depends(dependency)


class LoginRequired(Exception):
    """A page needs a logged-in user: the app answers with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def require_page(permission: Permission) -> Any:
    """Like ``require`` for HTML pages: not logged in → redirect to /login?next=…; no permission → 403."""

    async def dependency(request: Request) -> Principal:
        principal = optional_principal(request)
        if principal is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(path)
        principal.require(permission)
        return principal

    dependency.__name__ = f"page_{permission.value.replace('.', '_')}"
    return Depends(dependency)
