"""Area scopes: a district, a street, a community or a set of grids, as a type queries must take.

Area codes nest by prefix: district ``440305000000`` ⊃ street ``440305007000`` ⊃ community
``440305007003`` ⊃ grid ``440305007003012``, so "is this code inside my scope" is a prefix test on the
significant digits. The accounts package attaches a scope to every caller (``Principal.scope``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, false, or_

DISTRICT_CODE = "440305000000"


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


@dataclass(frozen=True)
class AreaScope:
    """A district, a street, a community or a set of grids; ``codes`` are the area codes granted."""

    level: ScopeLevel
    codes: frozenset[str]
    #: A department handler's unit code ("" when it has none): of the events in the area it reads only those
    #: dispatched or whistled to its unit and the public urban-management classes (``events.service
    #: .readable``). None for every other role. Set by the scoping helper (``accounts.scoping.Principal``).
    department: str | None = None

    @classmethod
    def of(cls, level: ScopeLevel | str, codes: Iterable[str], *, department: str | None = None) -> AreaScope:
        return cls(ScopeLevel(level), frozenset(codes), department)

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


WHOLE_DISTRICT = AreaScope.of(ScopeLevel.district, [DISTRICT_CODE])
