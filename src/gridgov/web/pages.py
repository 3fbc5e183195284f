"""Pages of the web shell itself: the home page (an overview of the areas) and the API documentation."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from gridgov.accounts.deps import require_page
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.areas import service as areas
from gridgov.areas.schemas import AreaNode
from gridgov.areas.scope import AreaScope
from gridgov.core.deps import DbSession
from gridgov.core.errors import NotFound
from gridgov.core.templating import render

log = logging.getLogger(__name__)

router = APIRouter(tags=["pages"])


def _area_tree_or_none(session: Session, scope: AreaScope) -> AreaNode | None:
    try:
        return areas.area_tree(session, scope=scope)
    except NotFound:
        return None
    except (OperationalError, ProgrammingError):
        # No tables yet (`gridgov db upgrade` not run): the page says what to run instead of a bare 500.
        log.warning("area tables are missing; home page shown without counts", exc_info=True)
        session.rollback()
        return None


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(
    request: Request,
    session: DbSession,
    principal: Annotated[Principal, require_page(Permission.areas_read)],
) -> Response:
    tree = _area_tree_or_none(session, principal.scope)
    streets = tree.children if tree else []
    overview = (
        {
            "streets": [
                {
                    "code": street.code,
                    "name": street.name,
                    "communities": len(street.children),
                    "grids": street.grid_count or 0,
                }
                for street in streets
            ],
            "street_count": len(streets),
            "community_count": sum(len(street.children) for street in streets),
            "grid_count": sum(street.grid_count or 0 for street in streets),
        }
        if streets
        else None
    )
    return render(request, "home.html", {"nav": "home", "overview": overview})


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs(request: Request) -> Response:
    """Swagger UI served from our own static files.

    FastAPI's built-in /docs loads Swagger UI from a CDN and starts it with an inline script: neither
    works on an air-gapped intranet under our Content-Security-Policy. This page takes over once the
    app is created with ``docs_url=None`` (a route registered earlier wins).
    """
    openapi_url = request.app.openapi_url or "/openapi.json"
    return render(
        request,
        "api_docs.html",
        {"nav": "docs", "openapi_url": f"{request.scope.get('root_path', '')}{openapi_url}"},
    )
