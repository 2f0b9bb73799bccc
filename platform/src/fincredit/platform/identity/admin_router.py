"""Administration of organisations, real-name accounts, keys, roles and policies.

Creating accounts and changing permissions is the platform operator's alone (the ``*`` rule);
institutions may rotate their own keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from fincredit.platform.core.db import Account, Organisation
from fincredit.platform.core.deps import ServicesDep, require, set_audit_subject
from fincredit.platform.core.errors import InvalidInput
from fincredit.platform.identity import accounts as acc
from fincredit.platform.identity.principal import Principal
from fincredit.platform.identity.schemas import (
    AccountOut,
    BorrowerAccountIn,
    InstitutionAccountIn,
    KeyIn,
    KeyOut,
    MeOut,
    OrganisationIn,
    OrganisationOut,
    PolicyIn,
    RevokeIn,
    RoleIn,
)
from fincredit.platform.subjects import find_subject

router = APIRouter(prefix="/api/v1", tags=["administration"])


def _org_out(o: Organisation) -> OrganisationOut:
    return OrganisationOut(
        id=o.id, kind=o.kind, name=o.name, uscc=o.uscc, active=o.active, created_at=o.created_at
    )


def _account_out(a: Account) -> AccountOut:
    return AccountOut(
        id=a.id,
        org_id=a.org_id,
        kind=a.kind,
        username=a.username,
        real_name=a.real_name,
        stated_use=a.stated_use,
        active=a.active,
        created_at=a.created_at,
    )


def _key_out(k: object) -> KeyOut:
    return KeyOut.model_validate(k, from_attributes=True)


@router.get("/me", response_model=MeOut)
def me(services: ServicesDep, principal: Annotated[Principal, Depends(require("self", "read"))]) -> MeOut:
    roles = (
        ["borrower"]
        if principal.account_kind == "borrower"
        else services.authz.roles_of(principal.account_id, principal.domain)
    )
    return MeOut(
        account_id=principal.account_id,
        kind=principal.account_kind,
        org_id=principal.org_id,
        org_kind=principal.org_kind,
        domain=principal.domain,
        roles=roles,
    )


@router.post("/organisations", response_model=OrganisationOut, status_code=201)
def create_organisation(
    body: OrganisationIn,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("organisations", "write"))],
) -> OrganisationOut:
    with services.tx() as session:
        org = acc.create_organisation(session, org_id=body.id, kind=body.kind, name=body.name, uscc=body.uscc)
        return _org_out(org)


@router.get("/organisations", response_model=list[OrganisationOut])
def list_organisations(
    services: ServicesDep, _: Annotated[Principal, Depends(require("organisations", "read"))]
) -> list[OrganisationOut]:
    with services.read() as session:
        return [_org_out(o) for o in session.scalars(select(Organisation).order_by(Organisation.id))]


@router.get("/organisations/{org_id}", response_model=OrganisationOut)
def get_organisation(
    org_id: str, services: ServicesDep, _: Annotated[Principal, Depends(require("organisations", "read"))]
) -> OrganisationOut:
    with services.read() as session:
        return _org_out(acc.get_organisation(session, org_id))


@router.post("/organisations/{org_id}/accounts", response_model=AccountOut, status_code=201)
def create_institution_account(
    org_id: str,
    body: InstitutionAccountIn,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("accounts", "write"))],
) -> AccountOut:
    with services.tx() as session:
        account = acc.create_institution_account(
            session,
            services.authz,
            org_id=org_id,
            username=body.username,
            real_name=body.real_name,
            stated_use=body.stated_use,
        )
        if body.public_key_pem:
            acc.register_key(session, account.id, body.public_key_pem)
        return _account_out(account)


@router.get("/organisations/{org_id}/accounts", response_model=list[AccountOut])
def list_accounts(
    org_id: str, services: ServicesDep, _: Annotated[Principal, Depends(require("accounts", "read"))]
) -> list[AccountOut]:
    with services.read() as session:
        acc.get_organisation(session, org_id)
        rows = session.scalars(select(Account).where(Account.org_id == org_id).order_by(Account.username))
        return [_account_out(a) for a in rows]


@router.post("/borrower-accounts", response_model=AccountOut, status_code=201)
def create_borrower_account(
    body: BorrowerAccountIn,
    request: Request,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("accounts", "write"))],
) -> AccountOut:
    """Real-name registration of a borrower (verified at the counter or by the e-government ID service)."""
    with services.tx() as session:
        subject = find_subject(session, services.keyring, body.identifier)
        set_audit_subject(request, subject.id)
        account = acc.create_borrower_account(
            session,
            services.authz,
            username=body.username,
            real_name=body.real_name,
            password=body.password,
            subject_id=subject.id,
        )
        return _account_out(account)


@router.post("/accounts/{account_id}/keys", response_model=KeyOut, status_code=201)
def add_key(
    account_id: str,
    body: KeyIn,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("accounts", "write"))],
) -> KeyOut:
    with services.tx() as session:
        return _key_out(acc.register_key(session, account_id, body.public_key_pem))


@router.post("/accounts/{account_id}/keys/{kid}/revoke", response_model=KeyOut)
def revoke_key(
    account_id: str,
    kid: str,
    body: RevokeIn,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("accounts", "write"))],
) -> KeyOut:
    with services.tx() as session:
        return _key_out(acc.revoke_key(session, account_id, kid, body.reason))


@router.get("/accounts/{account_id}/keys", response_model=list[KeyOut])
def list_keys(
    account_id: str, services: ServicesDep, _: Annotated[Principal, Depends(require("accounts", "read"))]
) -> list[KeyOut]:
    with services.read() as session:
        acc.get_account(session, account_id)
        return [_key_out(k) for k in acc.list_keys(session, account_id)]


@router.post("/me/keys", response_model=KeyOut, status_code=201)
def rotate_in_own_key(
    body: KeyIn, services: ServicesDep, principal: Annotated[Principal, Depends(require("own_keys", "write"))]
) -> KeyOut:
    """Key rotation by the institution itself: register the new key, then revoke the old one."""
    with services.tx() as session:
        return _key_out(acc.register_key(session, principal.account_id, body.public_key_pem))


@router.post("/me/keys/{kid}/revoke", response_model=KeyOut)
def revoke_own_key(
    kid: str,
    body: RevokeIn,
    services: ServicesDep,
    principal: Annotated[Principal, Depends(require("own_keys", "write"))],
) -> KeyOut:
    with services.tx() as session:
        return _key_out(acc.revoke_key(session, principal.account_id, kid, body.reason))


@router.post("/accounts/{account_id}/roles", status_code=204)
def grant_role(
    account_id: str,
    body: RoleIn,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("policies", "write"))],
) -> None:
    with services.tx() as session:
        account = acc.get_account(session, account_id)
        domain = body.domain or account.org_id
        if domain is None:
            raise InvalidInput("borrower accounts have the borrower role only")
        services.authz.assign_role(session, account_id, body.role, domain)


@router.post("/accounts/{account_id}/roles/remove", status_code=204)
def remove_role(
    account_id: str,
    body: RoleIn,
    services: ServicesDep,
    _: Annotated[Principal, Depends(require("policies", "write"))],
) -> None:
    with services.tx() as session:
        account = acc.get_account(session, account_id)
        domain = body.domain or account.org_id
        if domain is None:
            raise InvalidInput("borrower accounts have the borrower role only")
        services.authz.remove_role(session, account_id, body.role, domain)


@router.get("/policies", response_model=list[list[str]])
def list_policies(
    services: ServicesDep, _: Annotated[Principal, Depends(require("policies", "read"))]
) -> list[list[str]]:
    return services.authz.policies()


@router.post("/policies", status_code=204)
def add_policy(
    body: PolicyIn, services: ServicesDep, _: Annotated[Principal, Depends(require("policies", "write"))]
) -> None:
    with services.tx() as session:
        services.authz.add_policy(session, body.role, body.domain, body.resource, body.action)


@router.post("/policies/remove", status_code=204)
def remove_policy(
    body: PolicyIn, services: ServicesDep, _: Annotated[Principal, Depends(require("policies", "write"))]
) -> None:
    with services.tx() as session:
        services.authz.remove_policy(session, body.role, body.domain, body.resource, body.action)
