"""Request-scoped dependencies shared by every router."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from gridgov.core.db import transaction


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the route returns, rolled back when it raises."""
    with transaction(request.app.state.session_factory) as session:
        yield session


# scope="function": commit before the response leaves, so a client that follows a redirect (login →
# home) or sends the next request at once always sees what this one wrote.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
