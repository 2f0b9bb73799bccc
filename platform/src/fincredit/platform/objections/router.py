"""Objections over HTTP: a borrower files and follows them, the operator checks, the provider answers
or extends, supervisors list them with their deadlines (R§10)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from fincredit.platform.core.db import utcnow
from fincredit.platform.core.deps import ServicesDep, require, set_audit_subject
from fincredit.platform.core.errors import Forbidden, NotFound
from fincredit.platform.core.schemas import RowId
from fincredit.platform.identity.principal import Principal
from fincredit.platform.ingestion import visible_records
from fincredit.platform.market import china_date
from fincredit.platform.objections import (
    Status,
    extend_provider_deadline,
    file_objection,
    get_objection,
    list_objections,
    objection_status,
    platform_check,
    provider_answer,
)
from fincredit.platform.objections.schemas import (
    ExtensionIn,
    MyRecordOut,
    ObjectionIn,
    ObjectionOut,
    PlatformCheckIn,
    ProviderAnswerIn,
    RecordObjectionOut,
)

router = APIRouter(prefix="/api/v1", tags=["objections"])
StatusQuery = Annotated[Status | None, Query(description="only objections in this status")]


def _subject_of(principal: Principal) -> int:
    if principal.subject_id is None:
        raise NotFound("this account is not linked to a credit subject")
    return principal.subject_id


@router.post("/me/objections", response_model=ObjectionOut, status_code=201)
def file_my_objection(
    body: ObjectionIn,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_objections", "write"))],
) -> ObjectionOut:
    """Object to one of my records: it is flagged "under objection" at once; the platform checks it
    within 3 working days."""
    subject_id = _subject_of(principal)
    set_audit_subject(request, subject_id)
    with services.tx() as session:
        return ObjectionOut.of(
            file_objection(
                session,
                subject_id=subject_id,
                record_id=body.record_id,
                reason=body.reason,
                filed_by=principal.account_id,
            )
        )


@router.get("/me/objections", response_model=list[ObjectionOut])
def my_objections(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_objections", "read"))],
    status: StatusQuery = None,
) -> list[ObjectionOut]:
    subject_id = _subject_of(principal)
    set_audit_subject(request, subject_id)
    with services.read() as session:
        found = list_objections(session, subject_id=subject_id, status=status.value if status else None)
        return [ObjectionOut.of(get_objection(session, o.id)) for o in found]


@router.get("/me/objections/records", response_model=list[MyRecordOut])
def my_records(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_objections", "read"))],
) -> list[MyRecordOut]:
    """My records as public query shows them (current versions in their validity period), each with
    its "under objection" flag and running deadline: what I may object to, and how it stands."""
    subject_id = _subject_of(principal)
    set_audit_subject(request, subject_id)
    with services.read() as session:
        records = visible_records(session, subject_id, china_date(utcnow()))
        disputed = objection_status(session, [r.id for r in records])
        out = []
        for r in records:
            st = disputed.get(r.id)
            out.append(
                MyRecordOut(
                    record_id=r.id,
                    item_code=r.item_code,
                    provider_org_id=r.provider_org_id,
                    version=r.version,
                    report_month=r.report_month,
                    event_date=r.event_date,
                    valid_until=r.valid_until,
                    data=dict(r.data or {}),
                    under_objection=st is not None or r.under_objection,
                    objection=RecordObjectionOut(
                        objection_id=st.objection_id,
                        status=st.status,
                        filed_at=st.filed_at,
                        deadline=st.deadline,
                    )
                    if st
                    else None,
                )
            )
        return out


@router.get("/me/objections/{objection_id}", response_model=ObjectionOut)
def my_objection(
    objection_id: RowId,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_objections", "read"))],
) -> ObjectionOut:
    """One of my objections with every step so far, each time-stamped with its deadline."""
    subject_id = _subject_of(principal)
    set_audit_subject(request, subject_id)
    with services.read() as session:
        o = get_objection(session, objection_id)
    if o.subject_id != subject_id:
        raise NotFound(f"no objection {objection_id} of this subject")
    return ObjectionOut.of(o)


@router.get("/objections", response_model=list[ObjectionOut])
def objections(
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("objections", "read"))],
    status: StatusQuery = None,
    overdue: Annotated[bool, Query(description="only open objections past their running deadline")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ObjectionOut]:
    """Every objection with its deadlines (operator, regulator, credit authority)."""
    with services.read() as session:
        found = list_objections(
            session, status=status.value if status else None, overdue_only=overdue, limit=limit
        )
        return [ObjectionOut.of(o) for o in found]


@router.get("/objections/{objection_id}", response_model=ObjectionOut)
def objection(
    objection_id: RowId,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("objections", "read"))],
) -> ObjectionOut:
    with services.read() as session:
        return ObjectionOut.of(get_objection(session, objection_id))


@router.post("/objections/{objection_id}/platform-check", response_model=ObjectionOut)
def check(
    objection_id: RowId,
    body: PlatformCheckIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("objections", "check"))],
) -> ObjectionOut:
    """The operator's check of the platform's own processing: right → to the provider (10 working
    days); wrong → corrected here with ``corrected_data``."""
    with services.tx() as session:
        return ObjectionOut.of(
            platform_check(
                session,
                objection_id,
                processing_correct=body.processing_correct,
                note=body.note,
                corrected_data=body.corrected_data,
                actor_account_id=principal.account_id,
                actor_org_id=principal.org_id,
                keyring=services.keyring,
            )
        )


def _provider_org(principal: Principal) -> str:
    if principal.org_id is None:
        raise Forbidden("only a provider's institution account answers objections")
    return principal.org_id


@router.get("/provider/objections", response_model=list[ObjectionOut])
def provider_objections(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("provider_objections", "read"))],
    status: StatusQuery = None,
) -> list[ObjectionOut]:
    """Objections to this provider's records (those awaiting its answer: ``status=provider_review``)."""
    with services.read() as session:
        found = list_objections(
            session, provider_org_id=_provider_org(principal), status=status.value if status else None
        )
        return [ObjectionOut.of(o) for o in found]


@router.post("/provider/objections/{objection_id}/answer", response_model=ObjectionOut)
def answer(
    objection_id: RowId,
    body: ProviderAnswerIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("provider_objections", "write"))],
) -> ObjectionOut:
    """The provider corrects the record (a new version) or confirms it; banks that received it are told."""
    with services.tx() as session:
        return ObjectionOut.of(
            provider_answer(
                session,
                objection_id,
                correct=body.correct,
                note=body.note,
                corrected_data=body.corrected_data,
                actor_account_id=principal.account_id,
                actor_org_id=_provider_org(principal),
                keyring=services.keyring,
            )
        )


@router.post("/provider/objections/{objection_id}/extension", response_model=ObjectionOut)
def extend(
    objection_id: RowId,
    body: ExtensionIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("provider_objections", "write"))],
) -> ObjectionOut:
    """Extend the answer deadline once, by at most 15 working days."""
    with services.tx() as session:
        return ObjectionOut.of(
            extend_provider_deadline(
                session,
                objection_id,
                days=body.days,
                reason=body.reason,
                actor_account_id=principal.account_id,
                actor_org_id=_provider_org(principal),
            )
        )
