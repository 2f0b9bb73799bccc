"""Request and response bodies of the identity routes: tokens, organisations, accounts, keys, roles."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from fincredit.platform.core.schemas import Strict
from fincredit.platform.identity.kinds import OrgKind


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int


class LoginRequest(Strict):
    username: str = Field(max_length=100)
    password: str = Field(max_length=200)


class OrganisationIn(Strict):
    id: str = Field(description="short id, e.g. 'nb-bank'", max_length=63)
    kind: OrgKind
    name: str = Field(min_length=1, max_length=200)
    uscc: str | None = Field(None, description="the organisation's own unified social credit code")


class OrganisationOut(BaseModel):
    id: str
    kind: str
    name: str
    uscc: str | None
    active: bool
    created_at: dt.datetime


class InstitutionAccountIn(Strict):
    username: str = Field(max_length=100)
    real_name: str = Field(min_length=1, max_length=100)
    stated_use: str = Field(min_length=1, max_length=500)
    public_key_pem: str | None = Field(
        None, description="register this key at once (PEM, SubjectPublicKeyInfo)"
    )


class BorrowerAccountIn(Strict):
    username: str = Field(max_length=100)
    real_name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=10, max_length=200)
    identifier: str = Field(description="USCC of the enterprise, or the person's resident ID")


class AccountOut(BaseModel):
    id: str
    org_id: str | None
    kind: str
    username: str
    real_name: str
    stated_use: str
    active: bool
    created_at: dt.datetime


class KeyIn(Strict):
    public_key_pem: str = Field(max_length=10_000)


class KeyOut(BaseModel):
    kid: str
    algorithm: str
    fingerprint: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    revoked_reason: str | None


class RevokeIn(Strict):
    reason: str = Field("revoked", max_length=200)


class RoleIn(Strict):
    role: str = Field(max_length=64)
    domain: str | None = Field(None, description="organisation id; default: the account's own")


class PolicyIn(Strict):
    role: str = Field(max_length=64)
    resource: str = Field(max_length=64)
    action: str = Field(max_length=64)
    domain: str = Field("*", max_length=64)


class MeOut(BaseModel):
    account_id: str
    kind: str
    org_id: str | None
    org_kind: str | None
    domain: str
    roles: list[str]
