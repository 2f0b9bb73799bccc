"""Tables of the objection workflow (R§10): objections with their running deadlines, the append-only
trail of every step, the outbox of notifications to banks that received a disputed record, and the
disclosures that say which banks those are."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow
from fincredit.platform.core.db.tables import BigId


class Objection(Base):
    """A subject's objection to one credit record version; ``status`` is where it stands now."""

    __tablename__ = "objections"
    __table_args__ = (Index("ix_objections_status_provider", "status", "provider_org_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"), index=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    provider_org_id: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str] = mapped_column(String(64))
    provider_record_id: Mapped[str] = mapped_column(String(128))
    filed_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    # platform_review → provider_review → corrected | confirmed (or platform_review → corrected)
    status: Mapped[str] = mapped_column(String(24))
    filed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    platform_due: Mapped[dt.date]
    platform_checked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    provider_due: Mapped[dt.date | None]
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    outcome_note: Mapped[str | None] = mapped_column(Text)
    corrected_record_id: Mapped[int | None] = mapped_column(ForeignKey("credit_records.id"))
    deadlines_provisional: Mapped[bool] = mapped_column(Boolean, default=False)


class ObjectionEvent(Base):
    """One step of an objection, time-stamped, with the deadline then running. Append-only."""

    __tablename__ = "objection_events"
    __table_args__ = (UniqueConstraint("objection_id", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    objection_id: Mapped[int] = mapped_column(ForeignKey("objections.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    step: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))  # the objection's status after this step
    actor_account_id: Mapped[str | None] = mapped_column(String(64))
    actor_org_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[dt.date | None]
    deadline_provisional: Mapped[bool] = mapped_column(Boolean, default=False)


class ObjectionOutbox(Base):
    """A notification waiting for the information push (``fincredit.platform.free``) to deliver to a
    bank."""

    __tablename__ = "objection_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    objection_id: Mapped[int] = mapped_column(ForeignKey("objections.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("objection_events.id"))
    recipient_org_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)


class RecordDisclosure(Base):
    """A credit record was shown to an organisation (the query side calls ``note_disclosure``), so that
    an objection's outcome reaches every bank that received the record."""

    __tablename__ = "record_disclosures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("credit_records.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(String(40))
    disclosed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
