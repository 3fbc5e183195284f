"""The one scoping helper: what area codes a caller may see, carried in a type.

Every read of area-scoped data goes through ``Principal.scope`` (an ``AreaScope``): a query takes the
scope and cannot forget it (the idea of Polar's ``AccessibleOrganizationID``). Area codes nest by
prefix: district ``440305000000`` ⊃ street ``440305007000`` ⊃ community ``440305007003`` ⊃ grid
``440305007003012``, so "is this code inside my scope" is a prefix test on the significant digits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, false, or_

from gridgov.accounts.permissions import Permission, Role
from gridgov.core.errors import GridgovError


class ScopeLevel(StrEnum):
    district = "district"
    street = "street"
    community = "community"
    grids = "grids"


def significant_prefix(code: str) -> str:
    """The digits that identify an area: 440305 (district), 440305007 (street), 440305007003 (community)."""
    if len(code) == 15:
        return code
    if code.endswith("000000"):
        return code[:6]
    if code.endswith("000"):
        return code[:9]
    return code


class Forbidden(GridgovError):
    code = "forbidden"
    http_status = 403


class Unauthenticated(GridgovError):
    code = "unauthenticated"
    http_status = 401


@dataclass(frozen=True)
class AreaScope:
    """A district, a street, a community or a set of grids; ``codes`` are the area codes granted."""

    level: ScopeLevel
    codes: frozenset[str]

    @classmethod
    def of(cls, level: ScopeLevel | str, codes: Iterable[str]) -> AreaScope:
        return cls(ScopeLevel(level), frozenset(codes))

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(sorted(significant_prefix(c) for c in self.codes))

    def covers(self, code: str | None) -> bool:
        """True when the area ``code`` lies inside the scope (an area above the scope is not covered)."""
        if not code:
            return False
        return any(code.startswith(p) for p in self.prefixes)

    def overlaps(self, code: str) -> bool:
        """True when ``code`` is inside the scope or contains part of it (e.g. my street's district)."""
        prefix = significant_prefix(code)
        return self.covers(code) or any(p.startswith(prefix) for p in self.prefixes)

    def clause(self, column: Any) -> ColumnElement[bool]:
        """A WHERE clause keeping rows whose area-code ``column`` lies inside the scope."""
        if not self.codes:
            return false()
        return or_(*[column.like(f"{p}%") for p in self.prefixes])

    def describe(self) -> dict[str, object]:
        return {"level": self.level.value, "codes": sorted(self.codes)}


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
