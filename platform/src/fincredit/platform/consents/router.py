"""Consents over HTTP: banks request and hold them, borrowers decide on theirs (approving and revoking
are each one call), and a bank may ask whether an access would be allowed without disclosing anything."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import Select, select

from fincredit.consent import Allowed as Decided
from fincredit.platform.consents import (
    accesses_with_proofs,
    act_on_consent,
    check_access,
    consent_view,
    get_held_consent,
    get_own_consent,
    issue_receipt,
    request_consent,
)
from fincredit.platform.consents.schemas import (
    AccessesOut,
    CheckIn,
    CheckOut,
    ConsentOut,
    ConsentPage,
    ConsentRequestIn,
    ReceiptOut,
)
from fincredit.platform.consents.tables import Consent
from fincredit.platform.core.db import Subject
from fincredit.platform.core.deps import ServicesDep, require, set_audit_subject
from fincredit.platform.core.errors import NotFound
from fincredit.platform.core.schemas import INT64_MAX
from fincredit.platform.core.services import Services
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import find_subject

router = APIRouter(prefix="/api/v1", tags=["consents"])
StateFilter = Literal["PENDING", "ACTIVE", "REJECTED", "PAUSED", "REVOKED", "EXPIRED", "EXHAUSTED"]
Action = Literal["approve", "reject", "revoke", "pause", "resume"]


def _out(services: Services, row: Consent) -> ConsentOut:
    return ConsentOut.model_validate(consent_view(services, row))


def _page(services: Services, q: Select[Any], after: str | None, limit: int) -> ConsentPage:
    if after is not None:
        q = q.where(Consent.id > after)
    with services.read() as session:
        rows = list(session.scalars(q.order_by(Consent.id).limit(limit + 1)))
        items = [_out(services, r) for r in rows[:limit]]
    return ConsentPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


@router.post("/consents", response_model=ConsentOut, status_code=201)
def request_a_consent(
    body: ConsentRequestIn,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("consents", "request"))],
) -> ConsentOut:
    """Ask the subject for a consent (PENDING until the borrower approves or rejects it)."""
    with services.tx() as session:
        row = request_consent(
            session, services, principal=principal, identifier=body.identifier, terms=body.terms()
        )
        set_audit_subject(request, row.subject_id)
        return _out(services, row)


@router.get("/consents", response_model=ConsentPage)
def list_held_consents(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("consents", "read"))],
    state: StateFilter | None = None,
    after: Annotated[
        str | None, Query(description="cursor: id of the last consent of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ConsentPage:
    """The consents this organisation holds (or has requested), optionally by state."""
    q = select(Consent).where(Consent.grantee_org_id == principal.org_id)
    if state is not None:
        q = q.where(Consent.state == state)
    return _page(services, q, after, limit)


@router.get("/consents/{consent_id}", response_model=ConsentOut)
def get_held_consent_route(
    consent_id: str,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("consents", "read"))],
) -> ConsentOut:
    with services.read() as session:
        row = get_held_consent(session, principal, consent_id)
        set_audit_subject(request, row.subject_id)
        return _out(services, row)


@router.post("/consents/check", response_model=CheckOut)
def check_consent(
    body: CheckIn,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("consents", "check"))],
) -> CheckOut:
    """Would an access to these scopes of the subject, for this purpose and mode, be allowed now?

    Nothing is disclosed, no use is counted and nothing is ledgered: only actual accesses are."""
    with services.read() as session:
        subject = find_subject(session, services.keyring, body.identifier)
        set_audit_subject(request, subject.id)
        decision = check_access(
            session,
            services,
            principal=principal,
            subject=subject,
            scopes=body.scopes,
            purpose=body.purpose,
            mode=body.mode,
        )
    if isinstance(decision, Decided):
        return CheckOut(
            allowed=True,
            basis=decision.basis.value,
            consent_id=decision.consent_id,
            remaining_in_period=decision.remaining_in_period,
        )
    return CheckOut(
        allowed=False, consent_id=decision.consent_id, reason=decision.reason.value, message=decision.message
    )


def _my_subject(principal: Principal) -> int:
    if principal.subject_id is None:
        raise NotFound("this account is not linked to a credit subject")
    return principal.subject_id


@router.get("/me/consents", response_model=ConsentPage)
def list_my_consents(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_consents", "read"))],
    state: StateFilter | None = None,
    after: Annotated[
        str | None, Query(description="cursor: id of the last consent of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ConsentPage:
    """Every consent asked of me or given by me, with its state and how often it was used."""
    q = select(Consent).where(Consent.subject_id == _my_subject(principal))
    if state is not None:
        q = q.where(Consent.state == state)
    return _page(services, q, after, limit)


@router.get("/me/consents/{consent_id}", response_model=ConsentOut)
def get_my_consent(
    consent_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_consents", "read"))],
) -> ConsentOut:
    with services.read() as session:
        return _out(services, get_own_consent(session, principal, consent_id))


@router.post("/me/consents/{consent_id}/{action}", response_model=ConsentOut)
def act_on_my_consent(
    consent_id: str,
    action: Action,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_consents", "write"))],
) -> ConsentOut:
    """Approve, reject, pause, resume or revoke one of my consents. Revocation takes effect at once for
    every later access; what was disclosed before stays on the ledger as it was."""
    with services.tx() as session:
        row = act_on_consent(session, services, principal=principal, consent_id=consent_id, action=action)
        set_audit_subject(request, row.subject_id)
        return _out(services, row)


@router.get("/me/consents/{consent_id}/receipt", response_model=ReceiptOut)
def my_consent_receipt(
    consent_id: str,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_consents", "read"))],
) -> ReceiptOut:
    """The consent receipt (ISO/IEC TS 27560 record), signed with the platform key (EdDSA JWS)."""
    with services.tx() as session:
        row = get_own_consent(session, principal, consent_id)
        receipt, jws = issue_receipt(session, services, row)
        row.receipt = jws
    return ReceiptOut(receipt=receipt, jws=jws)


@router.get("/me/accesses", response_model=AccessesOut)
def my_accesses(
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_accesses", "read"))],
    after: Annotated[
        int | None,
        Query(ge=0, le=INT64_MAX, description="cursor: seq of the last entry of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AccessesOut:
    """Every ledger entry about me — who accessed what, when, why, under which consent, and refusals —
    each with an inclusion proof to the signed checkpoint returned alongside."""
    with services.read() as session:
        subject = session.get(Subject, _my_subject(principal))
        if subject is None:
            raise NotFound("this account is not linked to a credit subject")
    return AccessesOut.model_validate(accesses_with_proofs(services, subject, after=after, limit=limit))
