"""The subject registry over HTTP. Identifiers come back masked unless the caller may see them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from fincredit.consent.identifiers import IdentifierError, validate
from fincredit.platform.core.db import Subject
from fincredit.platform.core.deps import ServicesDep, allowed, require, set_audit_subject
from fincredit.platform.core.errors import NotFound
from fincredit.platform.identity.principal import Principal
from fincredit.platform.subjects import (
    SubjectView,
    find_subject,
    may_see_full_identifier,
    register_subject,
    view_subject,
)
from fincredit.platform.subjects.schemas import IdentifierCheck, SubjectIn, SubjectOut

router = APIRouter(prefix="/api/v1", tags=["subjects"])


def _out(v: SubjectView) -> SubjectOut:
    return SubjectOut(
        id=v.id, kind=v.kind.value, identifier=v.code, masked=v.masked, name=v.name, region=v.region
    )


@router.get("/identifiers/check", response_model=IdentifierCheck)
def check_identifier(
    value: Annotated[str, Query(max_length=40)],
    _: Annotated[Principal, Depends(require("self", "read"))],
    kind: Annotated[str | None, Query(pattern="^(legal|natural)$")] = None,
) -> IdentifierCheck:
    """Say whether an identifier is valid and, if not, which character is wrong."""
    try:
        k, code = validate(value, kind)
    except IdentifierError as exc:
        return IdentifierCheck(valid=False, kind=exc.kind.value, error=str(exc), position=exc.position)
    return IdentifierCheck(valid=True, kind=k.value, canonical=code)


@router.post("/subjects", response_model=SubjectOut, status_code=201)
def create_subject(
    body: SubjectIn,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("subjects", "write"))],
) -> SubjectOut:
    with services.tx() as session:
        subject = register_subject(
            session,
            services.keyring,
            body.identifier,
            body.name,
            industry=body.industry,
            established_on=body.established_on,
            registered_capital=body.registered_capital,
        )
        set_audit_subject(request, subject.id)
        reveal = allowed(services, principal, "subjects", "reveal")
        return _out(view_subject(session, services.keyring, subject, reveal=reveal))


@router.get("/subjects/{identifier}", response_model=SubjectOut)
def get_subject(
    identifier: str,
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("subjects", "read"))],
) -> SubjectOut:
    with services.read() as session:
        subject = find_subject(session, services.keyring, identifier)
        set_audit_subject(request, subject.id)
        reveal = may_see_full_identifier(
            principal, subject, can_reveal=allowed(services, principal, "subjects", "reveal")
        )
        return _out(view_subject(session, services.keyring, subject, reveal=reveal))


@router.get("/me/subject", response_model=SubjectOut)
def my_subject(
    request: Request,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_subject", "read"))],
) -> SubjectOut:
    """A borrower's own subject record, with the full identifier (they are entitled to it)."""
    with services.read() as session:
        subject = session.get(Subject, principal.subject_id) if principal.subject_id else None
        if subject is None:
            raise NotFound("this account is not linked to a credit subject")
        set_audit_subject(request, subject.id)
        return _out(view_subject(session, services.keyring, subject, reveal=True))
