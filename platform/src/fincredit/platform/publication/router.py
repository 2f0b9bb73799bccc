"""Publication (R§17): departments draft, submit and (with another account) approve blacklist entries,
typical cases and joint reward/punishment results; the public reads what was published; supervisors
see who is late."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from fincredit.platform.core.deps import ServicesDep, public, require
from fincredit.platform.core.schemas import Strict
from fincredit.platform.identity.principal import Principal
from fincredit.platform.publication import draft, late_report, public_view, published, review, submit

router = APIRouter(tags=["publication"])


class DraftIn(Strict):
    kind: Literal["blacklist", "typical_case", "joint_reward_punishment"]
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    title: str = Field(min_length=1, max_length=200)
    content: dict[str, Any]


class ReviewIn(Strict):
    approve: bool
    note: str | None = Field(default=None, max_length=2000)


def _view(row: Any) -> dict[str, Any]:
    return {
        **public_view(row),
        "status": row.status,
        "drafted_by": row.drafted_by,
        "reviewed_by": row.reviewed_by,
        "review_note": row.review_note,
    }


@router.post("/api/v1/publications", status_code=201)
def new_draft(
    body: DraftIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("publications", "draft"))],
) -> dict[str, Any]:
    """Draft a publication; refused (422) when it carries secret or private fields."""
    with services.tx() as session:
        return _view(draft(session, principal, body.model_dump()))


@router.post("/api/v1/publications/{publication_id}/submit")
def submit_for_review(
    publication_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("publications", "draft"))],
) -> dict[str, Any]:
    with services.tx() as session:
        return _view(submit(session, principal, publication_id))


@router.post("/api/v1/publications/{publication_id}/review")
def review_publication(
    publication_id: str,
    body: ReviewIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("publications", "review"))],
) -> dict[str, Any]:
    """Approve (publish) or reject; the account that drafted it cannot (403)."""
    with services.tx() as session:
        return _view(review(session, principal, publication_id, approve=body.approve, note=body.note))


@router.get("/api/v1/publications/late/{period}")
def lateness(
    period: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("publications", "read_all"))],
) -> dict[str, Any]:
    with services.read() as session:
        return late_report(session, period)


@router.get("/public/publications", dependencies=[Depends(public)])
def public_publications(
    services: ServicesDep,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    period: Annotated[str | None, Query(max_length=7)] = None,
) -> list[dict[str, Any]]:
    with services.read() as session:
        return [public_view(r) for r in published(session, kind=kind, period=period)]
