"""Address routes: one address by code, type-ahead search and matching, within the caller's area scope;
and keeping the library by hand (``address.manage``): create, edit, retire, names, history.

Write routes declare ``x-scope``: ``area:body`` (the new address's area comes in the body) or
``address:write`` (an address by code in the path, changed by the body); tests/test_scope_walk.py probes
both with addresses outside the caller's scope.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gridgov.accounts.deps import require
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.address import service
from gridgov.address.schemas import (
    AddressCreate,
    AddressDetail,
    AddressEdit,
    AddressOut,
    AddressRetire,
    AliasCreate,
    HistoryOut,
)
from gridgov.core.deps import DbSession
from gridgov.core.ids import RowId

router = APIRouter(tags=["addresses"])
Reader = Annotated[Principal, require(Permission.areas_read)]
Manager = Annotated[Principal, require(Permission.address_manage)]
WRITE = {"x-scope": "address:write"}


def editor_of(principal: Principal) -> service.Editor:
    return service.Editor(name=principal.username, scope=principal.scope, user_id=principal.user_id)


@router.get(
    "/api/addresses/search",
    response_model=list[AddressOut],
    openapi_extra={"x-scope": "address:list"},
    summary="Type-ahead: standard addresses containing the text, within my scope",
)
def search_addresses(
    session: DbSession,
    principal: Reader,
    q: Annotated[str, Query(min_length=1, max_length=64, description="Part of an address")],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[AddressOut]:
    return [
        AddressOut.model_validate(a) for a in service.search(session, q, scope=principal.scope, limit=limit)
    ]


@router.post(
    "/api/addresses",
    response_model=AddressDetail,
    status_code=201,
    openapi_extra={"x-scope": "area:body"},
    summary="Create a standard address inside my scope (street and community follow the grid or lon/lat)",
)
def create_address(session: DbSession, principal: Manager, body: AddressCreate) -> AddressDetail:
    address = service.create_address(
        session, fields=body.fields(), editor=editor_of(principal), reason=body.reason
    )
    return AddressDetail.of(service.address_record(session, address.code, scope=principal.scope))


@router.get(
    "/api/addresses/{code}",
    response_model=AddressDetail,
    openapi_extra={"x-scope": "address:path"},
    summary="One standard address (retired ones too, with their status and replacement)",
)
def get_address(session: DbSession, principal: Reader, code: str) -> AddressDetail:
    return AddressDetail.of(service.address_record(session, code, scope=principal.scope))


@router.patch(
    "/api/addresses/{code}",
    response_model=AddressDetail,
    openapi_extra=WRITE,
    summary="Edit an address (with a reason); a new text keeps the old one as a former name",
)
def edit_address(session: DbSession, principal: Manager, code: str, body: AddressEdit) -> AddressDetail:
    service.edit_address(
        session,
        code,
        changes=body.changes(),
        reason=body.reason,
        editor=editor_of(principal),
        expected_revision=body.revision,
    )
    return AddressDetail.of(service.address_record(session, code, scope=principal.scope))


@router.post(
    "/api/addresses/{code}/retire",
    response_model=AddressDetail,
    openapi_extra=WRITE,
    summary="Retire an address from today (with a reason), optionally naming its replacement",
)
def retire_address(session: DbSession, principal: Manager, code: str, body: AddressRetire) -> AddressDetail:
    service.retire_address(
        session, code, reason=body.reason, replaced_by=body.replaced_by, editor=editor_of(principal)
    )
    return AddressDetail.of(service.address_record(session, code, scope=principal.scope))


@router.get(
    "/api/addresses/{code}/history",
    response_model=list[HistoryOut],
    openapi_extra={"x-scope": "address:path"},
    summary="Changes made to an address by hand, newest first",
)
def address_history(session: DbSession, principal: Reader, code: str) -> list[HistoryOut]:
    return [
        HistoryOut.model_validate(h) for h in service.address_history(session, code, scope=principal.scope)
    ]


@router.post(
    "/api/addresses/{code}/aliases",
    response_model=AddressDetail,
    status_code=201,
    openapi_extra=WRITE,
    summary="Give an address another name: a common name (俗称) or a former one",
)
def add_alias(session: DbSession, principal: Manager, code: str, body: AliasCreate) -> AddressDetail:
    service.add_alias(
        session, code, alias=body.alias, kind=body.kind, reason=body.reason, editor=editor_of(principal)
    )
    return AddressDetail.of(service.address_record(session, code, scope=principal.scope))


@router.delete(
    "/api/addresses/{code}/aliases/{alias_id}",
    response_model=AddressDetail,
    openapi_extra=WRITE,
    summary="Remove one of an address's names",
)
def remove_alias(session: DbSession, principal: Manager, code: str, alias_id: RowId) -> AddressDetail:
    service.remove_alias(session, code, alias_id, editor=editor_of(principal))
    return AddressDetail.of(service.address_record(session, code, scope=principal.scope))


class MatchRequest(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=10_000, description="Free-text addresses, up to 10,000")


class MatchResult(BaseModel):
    text: str
    std_code: str
    std_address: str
    level: str
    score: float
    decision: str = Field(description="accept, review (needs verification), reject or error")
    street_code: str
    community_code: str
    grid_code: str
    reason: str


@router.post(
    "/api/addresses/match",
    response_model=list[MatchResult],
    openapi_extra={"x-scope": "address:match"},
    summary="Match free-text addresses to the standard library (one or up to 10,000)",
)
def match_addresses(session: DbSession, principal: Reader, body: MatchRequest) -> list[MatchResult]:
    from gridgov.address.batch import match_for_api
    from gridgov.address.service import in_scope_area

    results = match_for_api(session, body.texts, covers=lambda area: in_scope_area(principal.scope, area))
    return [MatchResult.model_validate(r) for r in results]
