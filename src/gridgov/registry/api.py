"""The registry API (issue 6): thin routes over ``registry.service``.

- ``GET /api/registry/search?q=&kind=address|entity`` and ``POST /api/registry/search`` (any kind; people
  only this way, so a name or ID number never sits in a URL or an access log);
- ``GET /api/registry/buildings/{code}``, ``…/dwellings/{code}``, ``…/people/{id}``, ``…/rentals/{id}``,
  ``…/entities/{id}``: one record, masked, each field with its lineage in words;
- ``POST /api/registry/people/{id}/reveal``: one unmasked value with a typed reason (audited);
- ``GET|POST /api/registry/people/{id}/care-tags``, ``POST /api/registry/care-tags/{id}/end``;
- ``GET /api/registry/stats?area=CODE``: maintained counts of the area and its children, open tasks.

Every route needs ``registry.read`` (care tags ``registry.care`` as well; reveal ``personal.reveal``) and
passes the caller's ``AreaScope`` to the service, which filters every query with it: a record outside the
scope answers 403, an unknown one 404, and searches list nothing outside it.

``x-scope`` (tests/test_scope_walk.py): the walk's object kinds (``address:path``, ``area:list`` …) expect
every role to be let in, which a permission-gated line cannot be; so these routes declare
``permission:registry.read`` (or the stricter permission they need), and
``tests/test_registry_api.py`` walks every registry route as every role with records inside and outside
each scope.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from gridgov.accounts.deps import require
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.core.deps import DbSession
from gridgov.core.errors import InvalidInput
from gridgov.core.i18n import pick_language
from gridgov.core.ids import RowId
from gridgov.registry import service
from gridgov.registry.schemas import (
    AreaStatsOut,
    BuildingOut,
    CareTagIn,
    CareTagOut,
    DwellingOut,
    EntityOut,
    PersonOut,
    RentalOut,
    RevealIn,
    RevealOut,
    SearchIn,
    SearchKind,
    SearchOut,
)

router = APIRouter(tags=["registry"])
Reader = Annotated[Principal, require(Permission.registry_read)]
Carer = Annotated[Principal, require(Permission.registry_care)]
Revealer = Annotated[Principal, require(Permission.personal_reveal)]
READ = {"x-scope": "permission:registry.read"}
CARE = {"x-scope": "permission:registry.care"}
REVEAL = {"x-scope": "permission:personal.reveal"}


@router.get(
    "/api/registry/search",
    summary="Search addresses or entities (name, credit code) in my scope; people: POST",
    openapi_extra=READ,
)
def search(
    session: DbSession,
    principal: Reader,
    q: Annotated[str, Query(min_length=1, max_length=service.QUERY_MAX)],
    kind: SearchKind = "address",
    offset: Annotated[int, Query(ge=0, le=service.SEARCH_OFFSET_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.SEARCH_LIMIT_MAX)] = 20,
) -> SearchOut:
    if kind == "person":
        raise InvalidInput(
            "Search people with POST /api/registry/search (a JSON body), so names and ID numbers stay out of "
            "URLs and server logs"
        )
    return service.search(session, q, scope=principal.scope, kind=kind, offset=offset, limit=limit)


@router.post(
    "/api/registry/search",
    summary="Search the registry in my scope by body: people (masked; by name or resident ID), or any kind",
    openapi_extra=READ,
)
def search_by_body(session: DbSession, principal: Reader, body: SearchIn) -> SearchOut:
    return service.search(
        session, body.q, scope=principal.scope, kind=body.kind, offset=body.offset, limit=body.limit
    )


@router.get(
    "/api/registry/buildings/{code}",
    summary="A building: its dwellings, residents (masked), rentals and entities",
    openapi_extra=READ,
)
def building(request: Request, session: DbSession, principal: Reader, code: str) -> BuildingOut:
    return service.get_building(session, code, scope=principal.scope, lang=pick_language(request))


@router.get(
    "/api/registry/dwellings/{code}",
    summary="A dwelling: its fields with lineage, residents (masked), rentals and entities",
    openapi_extra=READ,
)
def dwelling(request: Request, session: DbSession, principal: Reader, code: str) -> DwellingOut:
    return service.get_dwelling(session, code, scope=principal.scope, lang=pick_language(request))


@router.get(
    "/api/registry/people/{person_id}",
    summary="A person (masked), every field with its lineage, and the rentals naming them",
    openapi_extra=READ,
)
def person(request: Request, session: DbSession, principal: Reader, person_id: RowId) -> PersonOut:
    return service.get_person(session, person_id, scope=principal.scope, lang=pick_language(request))


@router.post(
    "/api/registry/people/{person_id}/reveal",
    summary="One unmasked value of a person (ID or phone), with a reason: audited",
    openapi_extra=REVEAL,
)
def reveal(session: DbSession, principal: Revealer, person_id: RowId, body: RevealIn) -> RevealOut:
    value = service.reveal_person(session, principal, person_id, body.field, body.reason)
    return RevealOut(field=body.field, value=value)


@router.get(
    "/api/registry/rentals/{rental_id}",
    summary="A rental: declared occupants vs people counted, tenants (masked), fields with lineage",
    openapi_extra=READ,
)
def rental(request: Request, session: DbSession, principal: Reader, rental_id: RowId) -> RentalOut:
    return service.get_rental(session, rental_id, scope=principal.scope, lang=pick_language(request))


@router.get(
    "/api/registry/entities/{entity_id}",
    summary="A legal entity, every field with its lineage",
    openapi_extra=READ,
)
def entity(request: Request, session: DbSession, principal: Reader, entity_id: RowId) -> EntityOut:
    return service.get_entity(session, entity_id, scope=principal.scope, lang=pick_language(request))


@router.get(
    "/api/registry/stats",
    summary="Area statistics from the maintained counts, with the child areas and open verification tasks",
    openapi_extra=READ,
)
def stats(
    session: DbSession,
    principal: Reader,
    area: Annotated[str | None, Query(pattern=r"^\d{12}(\d{3})?$")] = None,
) -> AreaStatsOut:
    return service.area_stats(session, scope=principal.scope, area=area)


@router.get(
    "/api/registry/people/{person_id}/care-tags",
    summary="A person's key-person care tags (registry.care only)",
    openapi_extra=CARE,
)
def care_tags(session: DbSession, principal: Carer, person_id: RowId) -> list[CareTagOut]:
    principal.require(Permission.registry_read)
    return service.care_tags(session, person_id, scope=principal.scope, care=True)


@router.post(
    "/api/registry/people/{person_id}/care-tags",
    summary="Tag a person as a key person to care for (registry.care; audited)",
    status_code=201,
    openapi_extra=CARE,
)
def add_care_tag(session: DbSession, principal: Carer, person_id: RowId, body: CareTagIn) -> CareTagOut:
    principal.require(Permission.registry_read)
    return service.add_care_tag(
        session, person_id, body, scope=principal.scope, care=True, actor=principal.username
    )


@router.post(
    "/api/registry/care-tags/{tag_id}/end",
    summary="End a key-person care tag (registry.care; audited)",
    openapi_extra=CARE,
)
def end_care_tag(session: DbSession, principal: Carer, tag_id: RowId) -> CareTagOut:
    principal.require(Permission.registry_read)
    return service.end_care_tag(session, tag_id, scope=principal.scope, care=True)
