"""The registry pages (issue 6): server-rendered views over ``registry.service``.

- ``/registry``: one search box with three tabs (address / person / entity), results inside the caller's
  scope, people masked, paged; people are searched by POST, so a name or ID number never sits in a URL;
- ``/registry/buildings/{code}``, ``/registry/dwellings/{code}``: a building or dwelling with its dwellings,
  residents (masked), rentals (declared occupants vs people counted) and entities;
- ``/registry/people/{id}``, ``/registry/rentals/{id}``, ``/registry/entities/{id}``: one record, every field
  with where its value came from ("出租屋登记 第2批 第15行", "网格员核查 任务 #7"); on a person, the reveal
  form (``personal.reveal``, typed reason, audited) and, for holders of ``registry.care`` only, the care tags;
- ``/registry/stats``: area statistics, district → street → community → grid, a table and bars.

Every page needs ``registry.read``; the service applies the caller's scope. ``static/js/registry.js`` posts
the reveal and care-tag forms to the API with the session's CSRF header.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from gridgov.accounts.deps import require_page
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.core.deps import DbSession
from gridgov.core.errors import Forbidden, InvalidInput
from gridgov.core.i18n import pick_language
from gridgov.core.ids import RowId
from gridgov.core.templating import render
from gridgov.registry import service
from gridgov.registry.schemas import SearchKind, SearchOut

router = APIRouter(tags=["pages"], include_in_schema=False)
Reader = Annotated[Principal, require_page(Permission.registry_read)]
PAGE_SIZE = 20


def _config(request: Request, **extra: Any) -> dict[str, Any]:
    root = request.scope.get("root_path", "")
    return {"csrfToken": getattr(request.state, "csrf_token", None), "api": f"{root}/api/registry", **extra}


def _places(session: DbSession, *records: Any) -> dict[str, str]:
    """Names of the streets, communities and grids the records lie in."""
    codes: set[str] = set()
    for item in records:
        for name in ("street_code", "community_code", "grid_code"):
            value = getattr(item, name, None)
            if value:
                codes.add(value)
    return service.area_names(session, codes)


def _search_page(
    request: Request, session: DbSession, principal: Principal, q: str, kind: SearchKind, offset: int
) -> Response:
    found: SearchOut | None = None
    error: str | None = None
    if q.strip():
        try:
            found = service.search(
                session, q, scope=principal.scope, kind=kind, offset=offset, limit=PAGE_SIZE
            )
        except InvalidInput as exc:
            error = exc.message
    return render(
        request,
        "registry/search.html",
        {
            "nav": "registry",
            # An ID or phone number searched for is not written back into the page (and a person's search
            # never reaches a URL: it is posted).
            "q": "" if found is not None and found.mode in ("id_number", "phone") else q,
            "kind": kind,
            "found": found,
            "error": error,
            "places": _places(session, *(found.results if found else [])),
        },
    )


@router.get("/registry")
def search_page(
    request: Request,
    session: DbSession,
    principal: Reader,
    q: Annotated[str, Query(max_length=200)] = "",
    kind: SearchKind = "address",
    offset: Annotated[int, Query(ge=0, le=service.SEARCH_OFFSET_MAX)] = 0,
) -> Response:
    """Addresses and entities by GET (shareable links); people are searched by POST (the form below)."""
    return _search_page(request, session, principal, "" if kind == "person" else q, kind, offset)


@router.post("/registry")
def search_people_page(
    request: Request,
    session: DbSession,
    principal: Reader,
    q: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[SearchKind, Form()] = "person",
    offset: Annotated[int, Form(ge=0, le=service.SEARCH_OFFSET_MAX)] = 0,
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """The person search: the name or ID number travels in the body, never in the URL."""
    if principal.via == "session":
        expected = getattr(request.state, "csrf_token", None) or ""
        if not (expected and hmac.compare_digest(expected, csrf_token)):
            raise Forbidden("The form has expired: reload the page and search again")
    return _search_page(request, session, principal, q, kind, offset)


@router.get("/registry/buildings/{code}")
def building_page(request: Request, session: DbSession, principal: Reader, code: str) -> Response:
    building = service.get_building(session, code, scope=principal.scope, lang=pick_language(request))
    return render(
        request,
        "registry/building.html",
        {"nav": "registry", "building": building, "places": _places(session, building)},
    )


@router.get("/registry/dwellings/{code}")
def dwelling_page(request: Request, session: DbSession, principal: Reader, code: str) -> Response:
    dwelling = service.get_dwelling(session, code, scope=principal.scope, lang=pick_language(request))
    return render(
        request,
        "registry/dwelling.html",
        {"nav": "registry", "dwelling": dwelling, "places": _places(session, dwelling)},
    )


@router.get("/registry/people/{person_id}")
def person_page(request: Request, session: DbSession, principal: Reader, person_id: RowId) -> Response:
    person = service.get_person(session, person_id, scope=principal.scope, lang=pick_language(request))
    care = principal.can(Permission.registry_care)
    tags = service.care_tags(session, person_id, scope=principal.scope, care=True) if care else None
    return render(
        request,
        "registry/person.html",
        {
            "nav": "registry",
            "person": person,
            "care_tags": tags,
            "can_care": care,
            "can_reveal": principal.can(Permission.personal_reveal),
            "care_categories": service.CARE_CATEGORIES,
            "places": _places(session, person),
            "registry_config": _config(request, person=person.id),
        },
    )


@router.get("/registry/rentals/{rental_id}")
def rental_page(request: Request, session: DbSession, principal: Reader, rental_id: RowId) -> Response:
    rental = service.get_rental(session, rental_id, scope=principal.scope, lang=pick_language(request))
    return render(
        request,
        "registry/rental.html",
        {"nav": "registry", "rental": rental, "places": _places(session, rental)},
    )


@router.get("/registry/entities/{entity_id}")
def entity_page(request: Request, session: DbSession, principal: Reader, entity_id: RowId) -> Response:
    entity = service.get_entity(session, entity_id, scope=principal.scope, lang=pick_language(request))
    return render(
        request,
        "registry/entity.html",
        {"nav": "registry", "entity": entity, "places": _places(session, entity)},
    )


@router.get("/registry/stats")
def stats_page(
    request: Request,
    session: DbSession,
    principal: Reader,
    area: Annotated[str | None, Query(pattern=r"^\d{12}(\d{3})?$")] = None,
    chart: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Figures of an area and its children; ``chart`` picks the metric the bars compare."""
    stats = service.area_stats(session, scope=principal.scope, area=area)
    rows = ([stats.area] if stats.area else []) + stats.children
    peak = {
        metric: max([r.metrics.get(metric, 0) for r in stats.children] or [0]) for metric in stats.metrics
    }
    peak["tasks_open"] = max([r.tasks_open for r in stats.children] or [0])
    choices = [*stats.metrics, "tasks_open"]
    chart_metric = chart if chart in choices else choices[0]
    return render(
        request,
        "registry/stats.html",
        {
            "nav": "registry",
            "stats": stats,
            "rows": rows,
            "peak": peak,
            "chart_metric": chart_metric,
        },
    )
