"""Who is acting right now: a context variable the web middleware and the CLI set, and audit entries read.

A ``ContextVar`` rather than a parameter threaded through every service call: the write-auditing hook runs
inside SQLAlchemy's flush, far from the route that knows the caller. Each request (and each thread or task
it spawns through anyio / asyncio) sees its own value.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class ActorInfo:
    """The actor recorded on audit entries: a username, ``system``, ``cli:<os user>`` or ``anonymous``."""

    actor: str
    role: str | None = None
    client_address: str | None = None


SYSTEM = ActorInfo("system", None, None)
ANONYMOUS = "anonymous"

_current: ContextVar[ActorInfo] = ContextVar("gridgov_audit_actor", default=SYSTEM)


def current_actor() -> ActorInfo:
    """The actor of the current request or command; ``system`` when nobody has said otherwise."""
    return _current.get()


@contextmanager
def actor_context(info: ActorInfo) -> Iterator[ActorInfo]:
    """Act as ``info`` inside the block (restored afterwards, also on error)."""
    token = _current.set(info)
    try:
        yield info
    finally:
        _current.reset(token)


def set_actor(info: ActorInfo) -> None:
    """Set the actor for the rest of the current context (for a CLI callback that has no block to wrap).

    Prefer ``actor_context``; this exists because a Typer root callback returns before the command runs.
    """
    _current.set(info)


def cli_actor() -> ActorInfo:
    """``cli:<os user>`` — the operator account behind a command-line run."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers) and no LOGNAME/USER variable
        user = "unknown"
    return ActorInfo(f"cli:{user}", None, None)
