"""Address routes: one address by code, and type-ahead search, both within the caller's area scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gridgov.accounts.deps import require
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.address import service
from gridgov.address.schemas import AddressOut
from gridgov.web.deps import DbSession

router = APIRouter(tags=["addresses"])
Reader = Annotated[Principal, require(Permission.areas_read)]


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


@router.get(
    "/api/addresses/{code}",
    response_model=AddressOut,
    openapi_extra={"x-scope": "address:path"},
    summary="One standard address",
)
def get_address(session: DbSession, principal: Reader, code: str) -> AddressOut:
    return AddressOut.model_validate(service.get_address(session, code, scope=principal.scope))


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
