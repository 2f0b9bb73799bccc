"""Sharing with government departments (R§12-15): agreements (the operator), provider approvals of
conditional items, and the three modes for departments — verification, query, batch exchange.
Every answer and refusal is in ``sharing_events``; API operations are also in the audit trail."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, FiniteFloat
from sqlalchemy import select

from fincredit.platform.core.deps import ServicesDep, require, set_audit_subject
from fincredit.platform.core.schemas import EndTime, Identifier, Int64, StartTime, Strict
from fincredit.platform.free import limiter
from fincredit.platform.identity.principal import Principal
from fincredit.platform.sharing import (
    agreement_view,
    approve,
    create_agreement,
    get_agreement,
    get_job,
    query,
    run_batch,
    take_download,
    verify,
)
from fincredit.platform.sharing.tables import SharingAgreement

router = APIRouter(prefix="/api/v1/gov-sharing", tags=["government sharing (R§12-15)"])


def _use(principal: Annotated[Principal, Depends(require("gov_sharing", "use"))]) -> Principal:
    limiter.hit(principal.org_id or principal.account_id, "sharing")
    return principal


class AgreementIn(Strict):
    department_org_id: str = Field(max_length=64)
    items: list[str] = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=200)
    modes: list[Literal["verification", "query", "batch"]] = Field(min_length=1)
    population: dict[str, str] | None = None
    valid_from: StartTime
    valid_until: EndTime


class ApprovalIn(Strict):
    item: str = Field(max_length=64)
    note: str = Field(default="", max_length=500)


class VerifyIn(Strict):
    agreement_id: str = Field(max_length=40)
    purpose: str = Field(max_length=200)
    identifier: Identifier
    item: str = Field(max_length=64)
    field: str | None = Field(default=None, max_length=64)
    value: str | FiniteFloat | Int64 | bool | None = None


class QueryIn(Strict):
    agreement_id: str = Field(max_length=40)
    purpose: str = Field(max_length=200)
    identifier: Identifier
    items: list[str] | None = None


class JobIn(Strict):
    agreement_id: str = Field(max_length=40)
    purpose: str = Field(max_length=200)


@router.post("/agreements", status_code=201)
def create_agreement_route(
    body: AgreementIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("gov_sharing", "manage"))],
) -> dict[str, Any]:
    with services.tx() as session:
        row = create_agreement(session, principal, body.model_dump())
        return agreement_view(session, row)


@router.get("/agreements")
def list_agreements(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("gov_sharing", "read"))],
) -> list[dict[str, Any]]:
    """The operator and regulators see every agreement; a department or provider sees those that name it
    or its items."""
    with services.read() as session:
        rows = list(session.scalars(select(SharingAgreement).order_by(SharingAgreement.created_at)))
        views = [agreement_view(session, r) for r in rows]
    if principal.is_operator or principal.org_kind in ("regulator", "credit_authority"):
        return views
    return [
        v
        for v in views
        if v["department_org_id"] == principal.org_id
        or any(p["provider"] == principal.org_id for p in v["pending_approvals"])
    ]


@router.post("/agreements/{agreement_id}/approvals", status_code=201)
def approve_route(
    agreement_id: str,
    body: ApprovalIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("gov_sharing", "approve"))],
) -> dict[str, Any]:
    """The provider of a conditional item approves sharing it under the agreement (R§13)."""
    with services.tx() as session:
        approve(session, principal, agreement_id, body.item, body.note)
        return agreement_view(session, get_agreement(session, agreement_id))


@router.post("/verify")
def verify_route(
    body: VerifyIn, request: Request, services: ServicesDep, principal: Annotated[Principal, Depends(_use)]
) -> dict[str, Any]:
    """Verification mode: yes or no, nothing else."""
    with services.tx() as session:
        out = verify(
            session,
            services,
            principal,
            agreement_id=body.agreement_id,
            purpose=body.purpose,
            identifier=body.identifier,
            item=body.item,
            field=body.field,
            value=body.value,
        )
    set_audit_subject(request, "gov-verify")
    return out


@router.post("/query")
def query_route(
    body: QueryIn, services: ServicesDep, principal: Annotated[Principal, Depends(_use)]
) -> dict[str, Any]:
    """Query mode: the subject's records of the agreed items."""
    with services.tx() as session:
        return query(
            session,
            services,
            principal,
            agreement_id=body.agreement_id,
            purpose=body.purpose,
            identifier=body.identifier,
            items=body.items,
        )


def _job_view(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "agreement_id": job.agreement_id,
        "status": job.status,
        "rows": job.rows,
        "sha256": job.sha256,
        "manifest": job.manifest,
        "created_at": job.created_at,
        "downloaded_at": job.downloaded_at,
    }


@router.post("/jobs", status_code=201)
def batch_route(
    body: JobIn, services: ServicesDep, principal: Annotated[Principal, Depends(_use)]
) -> dict[str, Any]:
    """Batch exchange: a Parquet export of the agreed items for the agreed population."""
    with services.tx() as session:
        return _job_view(
            run_batch(session, services, principal, agreement_id=body.agreement_id, purpose=body.purpose)
        )


@router.get("/jobs/{job_id}")
def job_route(
    job_id: str, services: ServicesDep, principal: Annotated[Principal, Depends(_use)]
) -> dict[str, Any]:
    with services.read() as session:
        return _job_view(get_job(session, principal, job_id))


@router.get("/jobs/{job_id}/download", response_class=Response)
def download_route(
    job_id: str, services: ServicesDep, principal: Annotated[Principal, Depends(_use)]
) -> Response:
    """The export file, once (410 afterwards); compare its SHA-256 with the manifest."""
    with services.tx() as session:
        data, job = take_download(session, principal, job_id)
        sha = job.sha256 or ""
    return Response(
        data,
        media_type="application/vnd.apache.parquet",
        headers={"X-Content-SHA256": sha, "Content-Disposition": f'attachment; filename="{job_id}.parquet"'},
    )
