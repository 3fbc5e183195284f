"""The identity review queue (身份存疑): doubtful merges the pipeline did not make on its own, for a person
to decide — merge the two records or keep them apart. An API and a page; the rules live in
``ingest.service`` (``identity_reviews``, ``decide_identity_review``)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from gridgov.accounts.deps import require, require_page
from gridgov.accounts.permissions import Permission
from gridgov.accounts.scoping import Principal
from gridgov.core.deps import DbSession
from gridgov.core.errors import Forbidden, NotFound
from gridgov.core.i18n import pick_language, translate
from gridgov.core.identifiers import mask_name
from gridgov.core.ids import RowId
from gridgov.core.templating import render
from gridgov.ingest import service

router = APIRouter(tags=["ingest"])
pages = APIRouter(tags=["pages"], include_in_schema=False)
Manager = Annotated[Principal, require(Permission.ingest_manage)]
PageManager = Annotated[Principal, require_page(Permission.ingest_manage)]
MANAGE = {"x-scope": "permission:ingest.manage"}


class ReviewSide(BaseModel):
    id: int
    name: str = Field(description="Masked (张*三)")
    birth_year: int | None
    doc_type: str = Field(description="resident_id, or none: known without a document number")
    address: str | None
    grid_code: str | None
    record_url: str


class ReviewOut(BaseModel):
    id: int
    score: float
    reasons: dict[str, str] = Field(description="field → same | same_building | different")
    status: str
    batch_id: int | None
    row_number: int | None
    record: ReviewSide = Field(description="The record made from the row (it folds away on merge)")
    candidate: ReviewSide = Field(description="The person it may be (kept on merge)")


class Decision(BaseModel):
    merge: bool = Field(description="true: the same person (fold the record into the candidate)")


def _side(person: dict[str, Any]) -> ReviewSide:
    born = person.get("birth_date")
    return ReviewSide(
        id=int(person["id"]),
        name=mask_name(str(person["name"])),
        birth_year=born.year if born is not None else None,
        doc_type=str(person.get("doc_type") or "resident_id"),
        address=person.get("address_text"),
        grid_code=person.get("grid_code"),
        record_url=f"/registry/people/{person['id']}",
    )


def _out(item: dict[str, Any]) -> ReviewOut:
    review = item["review"]
    return ReviewOut(
        id=review.id,
        score=review.score,
        reasons=dict(review.reasons or {}),
        status=review.status,
        batch_id=review.batch_id,
        row_number=review.row_number,
        record=_side(item["record"]),
        candidate=_side(item["candidate"]),
    )


@router.get(
    "/api/ingest/reviews",
    response_model=list[ReviewOut],
    summary="Doubtful identity merges waiting for a decision (within your scope)",
    openapi_extra=MANAGE,
)
def list_reviews(session: DbSession, principal: Manager, status: str = "open") -> list[ReviewOut]:
    return [_out(item) for item in service.identity_reviews(session, principal.scope, status=status[:16])]


def _decide(session: Any, principal: Principal, review_id: int, merge: bool) -> dict[str, Any]:
    """Decide a review the caller can see (both records inside their scope)."""
    item = service.identity_review(session, principal.scope, review_id)
    if item["review"].status != "open":
        raise NotFound(f"No open identity review {review_id} within your scope")
    service.decide_identity_review(session, review_id, merge=merge, decided_by=principal.username)
    return item


@router.post(
    "/api/ingest/reviews/{review_id}/decision",
    response_model=ReviewOut,
    summary="Merge the two records (the same person) or keep them apart",
    openapi_extra=MANAGE,
)
def decide_review(review_id: RowId, body: Decision, session: DbSession, principal: Manager) -> ReviewOut:
    item = _decide(session, principal, review_id, body.merge)
    return _out(item).model_copy(update={"status": item["review"].status})


@pages.get("/ingest/reviews")
def reviews_page(
    request: Request, session: DbSession, principal: PageManager, done: str | None = None
) -> Response:
    lang = pick_language(request)
    items = [_out(item) for item in service.identity_reviews(session, principal.scope)]
    notices = {
        "merged": translate("review.done.merged", lang),
        "kept_apart": translate("review.done.kept_apart", lang),
    }
    labels = {
        "name": translate("review.field.name", lang),
        "birth_date": translate("review.field.birth_date", lang),
        "dwelling": translate("review.field.dwelling", lang),
        "phone": translate("review.field.phone", lang),
        "sex": translate("review.field.sex", lang),
        "same": translate("review.verdict.same", lang),
        "same_building": translate("review.verdict.same_building", lang),
        "different": translate("review.verdict.different", lang),
    }
    return render(
        request,
        "review/identity.html",
        {"nav": "ingest", "reviews": items, "notice": notices.get(done or ""), "labels": labels},
    )


@pages.post("/ingest/reviews/{review_id}")
def decide_page(
    request: Request,
    review_id: RowId,
    session: DbSession,
    principal: PageManager,
    decision: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    expected = getattr(request.state, "csrf_token", None)
    if principal.via == "session" and (not expected or not hmac.compare_digest(expected, csrf_token)):
        raise Forbidden(translate("review.csrf", pick_language(request)))
    item = _decide(session, principal, review_id, decision == "merge")
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/ingest/reviews?done={item['review'].status}", status_code=303)
