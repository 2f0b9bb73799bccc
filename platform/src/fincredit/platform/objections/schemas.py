"""API models of objections (R§10)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from fincredit.platform.core.schemas import INT64_MAX, Strict
from fincredit.platform.objections import EventView, ObjectionView


class ObjectionIn(Strict):
    record_id: int = Field(ge=1, le=INT64_MAX)
    reason: str = Field(min_length=1, max_length=2000, description="what is wrong with the record")


class PlatformCheckIn(Strict):
    processing_correct: bool = Field(description="the platform's own cleaning/matching/loading was right")
    note: str = Field(min_length=1, max_length=2000)
    corrected_data: dict[str, Any] | None = Field(
        None, description="when the platform's processing was wrong"
    )


class ProviderAnswerIn(Strict):
    correct: bool = Field(description="true: the record was wrong and corrected_data replaces it")
    note: str = Field(min_length=1, max_length=2000)
    corrected_data: dict[str, Any] | None = None


class ExtensionIn(Strict):
    days: int = Field(ge=1, le=15, description="working days; once per objection")
    reason: str = Field(min_length=1, max_length=2000)


class EventOut(BaseModel):
    seq: int
    at: dt.datetime
    step: str
    status: str
    actor_account_id: str | None
    actor_org_id: str | None
    note: str
    deadline: dt.date | None
    deadline_provisional: bool

    @classmethod
    def of(cls, e: EventView) -> EventOut:
        return cls(
            seq=e.seq,
            at=e.at,
            step=e.step,
            status=e.status,
            actor_account_id=e.actor_account_id,
            actor_org_id=e.actor_org_id,
            note=e.note,
            deadline=e.deadline,
            deadline_provisional=e.deadline_provisional,
        )


class ObjectionOut(BaseModel):
    id: int
    record_id: int
    subject_id: int
    provider_org_id: str
    item_code: str
    provider_record_id: str
    reason: str
    status: str
    filed_at: dt.datetime
    platform_due: dt.date
    provider_due: dt.date | None
    extension_days: int
    current_deadline: dt.date | None
    overdue: bool
    resolved_at: dt.datetime | None
    outcome_note: str | None
    corrected_record_id: int | None
    deadlines_provisional: bool
    events: list[EventOut]

    @classmethod
    def of(cls, o: ObjectionView) -> ObjectionOut:
        return cls(
            id=o.id,
            record_id=o.record_id,
            subject_id=o.subject_id,
            provider_org_id=o.provider_org_id,
            item_code=o.item_code,
            provider_record_id=o.provider_record_id,
            reason=o.reason,
            status=o.status,
            filed_at=o.filed_at,
            platform_due=o.platform_due,
            provider_due=o.provider_due,
            extension_days=o.extension_days,
            current_deadline=o.current_deadline,
            overdue=o.overdue,
            resolved_at=o.resolved_at,
            outcome_note=o.outcome_note,
            corrected_record_id=o.corrected_record_id,
            deadlines_provisional=o.deadlines_provisional,
            events=[EventOut.of(e) for e in o.events],
        )


class RecordObjectionOut(BaseModel):
    objection_id: int
    status: str
    filed_at: dt.datetime
    deadline: dt.date | None


class MyRecordOut(BaseModel):
    """One of the subject's records as public query shows it, with its objection flag."""

    record_id: int
    item_code: str
    provider_org_id: str
    version: int
    report_month: str
    event_date: dt.date | None
    valid_until: dt.date | None
    data: dict[str, Any]
    under_objection: bool
    objection: RecordObjectionOut | None
