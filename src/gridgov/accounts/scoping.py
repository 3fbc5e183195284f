"""The one scoping helper: who the caller is and which area codes they may see, carried in types.

Every read of area-scoped data goes through ``Principal.scope`` (an ``AreaScope``): service functions take
the scope as an argument and filter with it, so a query cannot forget it (the idea of Polar's
``AccessibleOrganizationID``). ``tests/test_scope_walk.py`` walks every API route to hold routes to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from gridgov.accounts.permissions import Permission, Role
from gridgov.areas.scope import AreaScope, ScopeLevel, significant_prefix
from gridgov.core.errors import Forbidden, Unauthenticated

__all__ = ["AreaScope", "Forbidden", "Principal", "ScopeLevel", "Unauthenticated", "significant_prefix"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: an account (through a web session or an API token) with its role and scope."""

    user_id: int
    username: str
    role: Role
    scope: AreaScope
    org_unit: str | None = None
    via: str = "session"  # session | token
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    token_permissions: frozenset[Permission] | None = None  # a token may carry fewer than its owner
    org_unit_code: str | None = None  # the unit's code (``org_unit`` is its name)
    display_name: str | None = None

    def __post_init__(self) -> None:
        # A department handler reads events as its unit: what is dispatched or whistled to it, plus the
        # public urban-management classes in its area (not, say, a labour dispute another unit handles).
        if self.role is Role.department_handler and self.scope.department is None:
            object.__setattr__(self, "scope", replace(self.scope, department=self.org_unit_code or ""))

    def can(self, permission: Permission) -> bool:
        if self.token_permissions is not None and permission not in self.token_permissions:
            return False
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(f"Your role may not do this (needs permission '{permission.value}')")

    def require_area(self, code: str | None) -> None:
        """Refuse an object outside the caller's area scope (404-like, but said plainly as 403)."""
        if not self.scope.covers(code):
            raise Forbidden("That object lies outside your area scope")
