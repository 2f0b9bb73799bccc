"""Request and response bodies of the subject routes."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from fincredit.platform.core.schemas import Identifier, Strict


class SubjectIn(Strict):
    identifier: Identifier
    name: str = Field(min_length=1, max_length=200)
    industry: str | None = Field(None, max_length=8)
    established_on: dt.date | None = None
    registered_capital: float | None = Field(None, ge=0)


class SubjectOut(BaseModel):
    id: int
    kind: str
    identifier: str
    masked: bool
    name: str
    region: str


class IdentifierCheck(BaseModel):
    valid: bool
    kind: str | None = None
    canonical: str | None = None
    error: str | None = None
    position: int | None = None
