"""API models of consents and the ledger. Unknown fields are refused (the Strict base)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from fincredit.consent import AccessMode, DataLifeUnit, FetchType, PeriodUnit, Purpose
from fincredit.platform.core.schemas import Identifier, Strict


class FrequencyIn(Strict):
    value: int = Field(ge=1, le=10_000)
    unit: PeriodUnit


class DataLifeIn(Strict):
    value: int = Field(ge=0, le=100_000, description="0 with unit INF: the grantee may keep the data")
    unit: DataLifeUnit


class DataRangeIn(Strict):
    start: dt.datetime
    end: dt.datetime


class ConsentRequestIn(Strict):
    identifier: Identifier
    purpose: Purpose
    purpose_text: str = Field("", max_length=1000)
    scopes: list[str] = Field(min_length=1, max_length=100, description="catalog categories, market:<id>")
    modes: list[AccessMode] = Field(min_length=1, max_length=5)
    valid_from: dt.datetime | None = Field(None, description="default: now")
    valid_until: dt.datetime
    fetch_type: FetchType
    frequency: FrequencyIn | None = None
    data_life: DataLifeIn
    data_range: DataRangeIn | None = None

    def terms(self) -> dict[str, Any]:
        return self.model_dump(exclude={"identifier"})


class FrequencyOut(BaseModel):
    value: int
    unit: str


class DataLifeOut(BaseModel):
    value: int
    unit: str


class ConsentOut(BaseModel):
    id: str
    subject: str = Field(description="masked identifier")
    subject_kind: str
    grantee: str
    requested_by_account: str
    purpose: str
    purpose_text: str
    scopes: list[str]
    modes: list[str]
    valid_from: dt.datetime
    valid_until: dt.datetime
    fetch_type: str
    frequency: FrequencyOut | None
    data_life: DataLifeOut
    sensitive: bool
    state: str
    state_changed_at: dt.datetime
    use_count: int
    last_used_at: dt.datetime | None
    created_at: dt.datetime
    approved_by_account: str | None
    approved_at: dt.datetime | None


class ConsentPage(BaseModel):
    items: list[ConsentOut]
    next_cursor: str | None


class CheckIn(Strict):
    identifier: Identifier
    scopes: list[str] = Field(min_length=1, max_length=100)
    purpose: Purpose
    mode: AccessMode


class CheckOut(BaseModel):
    allowed: bool
    basis: str | None = None
    consent_id: str | None = None
    remaining_in_period: int | None = None
    reason: str | None = None
    message: str | None = None


class ReceiptOut(BaseModel):
    receipt: dict[str, Any] = Field(description="ISO/IEC TS 27560 consent record")
    jws: str = Field(description="compact JWS (EdDSA, platform key) over the receipt's RFC 8785 JSON")


class LedgerEntryOut(BaseModel):
    seq: int
    type: str
    at: str
    actor: str
    grantee: str | None
    subject_index: str | None
    subject_masked: str | None
    scopes: list[str]
    purpose: str | None
    mode: str | None
    consent_id: str | None
    route: str | None
    payload_sha256: str | None
    basis: str | None
    reason: str | None
    message: str | None
    leaf_hash: str
    canonical: str = Field(description="the entry's canonical JSON: the bytes the Merkle leaf commits to")
    inclusion_proof: dict[str, Any] | None = None


class LedgerPage(BaseModel):
    items: list[LedgerEntryOut]
    next_cursor: int | None


class AccessesOut(BaseModel):
    checkpoint: str = Field(description="the signed checkpoint (C2SP note) every proof leads to")
    tree_size: int
    items: list[LedgerEntryOut]
    next_cursor: int | None


class PublicKeyOut(BaseModel):
    origin: str
    key_name: str
    key_id: str
    vkey: str = Field(description="signed-note verifier key: <name>+<hex key id>+<base64(0x01||key)>")
    public_key_pem: str
    witnesses: list[str] = Field(
        default_factory=list,
        description="cosignature verifier keys (<name>+<hex key id>+<base64(0x04||key)>) of the witnesses "
        "the platform submits its checkpoints to",
    )
    witness_quorum: int = Field(0, description="how many of those witnesses a reader should require")
