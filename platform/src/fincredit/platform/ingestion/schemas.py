"""API models of the catalog and of provider submissions."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from fincredit.platform.catalog import CatalogItemDef
from fincredit.platform.catalog.tables import CatalogVersion
from fincredit.platform.core.schemas import Strict
from fincredit.platform.ingestion.tables import Submission

ArrowType = Literal["string", "date32", "float64", "int32", "int64", "bool"]


class FieldIn(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    type: ArrowType
    title: str = Field(min_length=1, max_length=100)
    required: bool = True
    enum: list[str] | None = None
    sensitive: bool = False


class CatalogItemOut(BaseModel):
    code: str
    name: str
    provider_org_id: str
    subject_kind: str
    fields: list[dict[str, Any]]
    disclosure: str
    sharing: str
    validity_years: int | None
    event_date_field: str
    validity_from_field: str | None
    negative: bool
    sensitive: bool
    on_sharing_list: bool
    registers_subjects: bool
    catalog_version: int

    @classmethod
    def of(cls, item: CatalogItemDef) -> CatalogItemOut:
        return cls(**item.to_json(), catalog_version=item.version_number)


class CatalogVersionOut(BaseModel):
    number: int
    created_at: dt.datetime
    created_by: str | None
    note: str

    @classmethod
    def of(cls, v: CatalogVersion) -> CatalogVersionOut:
        return cls(number=v.number, created_at=v.created_at, created_by=v.created_by, note=v.note)


class CatalogOut(BaseModel):
    version: CatalogVersionOut
    items: list[CatalogItemOut]


class CatalogItemChange(Strict):
    """Attributes to change; anything left out stays as it is."""

    name: str | None = Field(None, min_length=1, max_length=200)
    provider_org_id: str | None = Field(None, max_length=64)
    fields: list[FieldIn] | None = None
    disclosure: Literal["public", "authorized"] | None = None
    sharing: Literal["unconditional", "conditional"] | None = None
    validity_years: int | None = Field(None, ge=1, le=100)
    clear_validity: bool = Field(False, description="set validity_years to none (valid while current)")
    event_date_field: str | None = None
    validity_from_field: str | None = None
    negative: bool | None = None
    sensitive: bool | None = None
    on_sharing_list: bool | None = None
    registers_subjects: bool | None = None
    note: str = Field("", max_length=500)

    def changes(self) -> dict[str, Any]:
        out = self.model_dump(exclude_none=True, exclude={"note", "clear_validity"})
        if self.fields is not None:
            out["fields"] = [f.model_dump() for f in self.fields]
        if self.clear_validity:
            out["validity_years"] = None
        return out


class CatalogItemIn(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    name: str = Field(min_length=1, max_length=200)
    provider_org_id: str = Field(max_length=64)
    subject_kind: Literal["legal", "natural"]
    fields: list[FieldIn] = Field(min_length=1)
    disclosure: Literal["public", "authorized"] = "authorized"
    sharing: Literal["unconditional", "conditional"] = "conditional"
    validity_years: int | None = Field(
        None, ge=1, le=100, description="default: 5 years for negative information, else none"
    )
    event_date_field: str
    validity_from_field: str | None = None
    negative: bool = False
    sensitive: bool = False
    on_sharing_list: bool = False
    registers_subjects: bool = False
    note: str = Field("", max_length=500)


class SharingListChange(Strict):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    note: str = Field("", max_length=500)


class NilReportIn(Strict):
    item_code: str = Field(max_length=64)
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")


class VerificationIn(Strict):
    note: str = Field("", max_length=2000, description="the provider's answer to the feedback")


class SubmissionOut(BaseModel):
    id: int
    provider_org_id: str
    item_code: str
    catalog_version_id: int
    month: str
    kind: str
    channel: str
    filename: str | None
    file_format: str | None
    sha256: str | None
    size_bytes: int | None
    received_at: dt.datetime
    due_date: dt.date
    late: bool
    status: str
    rows_total: int
    rows_rejected: int
    rows_new: int
    rows_changed: int
    rows_unchanged: int
    subjects_registered: int
    processing_due: dt.date
    processed_at: dt.datetime | None
    verification_due: dt.date | None
    verified_at: dt.datetime | None
    verification_note: str | None
    deadlines_provisional: bool
    duplicate: bool = False

    @classmethod
    def of(cls, s: Submission, *, duplicate: bool = False) -> SubmissionOut:
        data = {name: getattr(s, name) for name in cls.model_fields if name != "duplicate"}
        return cls(**data, duplicate=duplicate)


class FeedbackRow(BaseModel):
    row: int
    provider_record_id: str | None
    field: str
    reason: str
    detail: str


class MonthStatusOut(BaseModel):
    provider_org_id: str
    item_code: str
    month: str
    due_date: dt.date
    status: str
    submission_ids: list[int]
