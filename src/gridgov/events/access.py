"""Who may follow an event by its ticket: the public rule and the reporter's access code.

An event of a *public* class (by default the urban-management classes: public space, like FixMyStreet) is
shown to whoever names its ticket, on the public ticket page and through Open311. Any other event (the
social-governance classes: disputes, public security, care …) is shown only to whoever also gives its
*access code*: a second secret printed on the receipt of the public report form and returned to the Open311
client that filed it, stored as a SHA-256 digest of ticket and code. Which classes are public is the
setting ``public_event_classes`` (domains, major-class codes or subtype codes).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from typing import Final

from sqlalchemy import ColumnElement, false, or_
from sqlalchemy.orm import Session

from gridgov.core.settings import get_settings
from gridgov.events.models import Event, EventCategory

#: Letters and digits that cannot be mistaken for one another when read off a receipt (no 0/O, 1/I/L).
ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH: Final = 8  # 31^8 ≈ 8.5 × 10^11


def normalise(code: str) -> str:
    """What a person typed, as stored: upper case, without spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _digest(ticket: str, code: str) -> str:
    return hashlib.sha256(f"{ticket}:{normalise(code)}".encode()).hexdigest()


def issue(session: Session, event: Event) -> str:
    """A new access code for the event's reporter (shown once, as ``XXXX-XXXX``); a code issued before for
    the same event stops working."""
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    event.access_code_hash = _digest(event.ticket, code)
    session.flush()
    return f"{code[:4]}-{code[4:]}"


def matches(event: Event, codes: Iterable[str]) -> bool:
    """Whether one of ``codes`` is the event's access code (an event without one matches none)."""
    if not event.access_code_hash:
        return False
    stored = event.access_code_hash
    return any(code and hmac.compare_digest(_digest(event.ticket, code), stored) for code in codes)


def public_classes() -> tuple[str, ...]:
    return tuple(c.strip() for c in get_settings().public_event_classes if c.strip())


def is_public(category: EventCategory, classes: Sequence[str] | None = None) -> bool:
    """Whether events of this category are shown by ticket alone."""
    chosen = public_classes() if classes is None else classes
    return category.domain in chosen or category.major_code in chosen or category.code in chosen


def public_clause(classes: Sequence[str] | None = None) -> ColumnElement[bool]:
    """`is_public` as a condition on `EventCategory` (for the public request list)."""
    chosen = list(public_classes() if classes is None else classes)
    if not chosen:
        return false()
    return or_(
        EventCategory.domain.in_(chosen), EventCategory.major_code.in_(chosen), EventCategory.code.in_(chosen)
    )


def may_follow(event: Event, category: EventCategory, codes: Iterable[str] = ()) -> bool:
    """Whether someone who names this event's ticket (and these access codes) may see it."""
    return is_public(category) or matches(event, codes)
