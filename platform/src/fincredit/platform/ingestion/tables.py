"""Tables of provider submissions and of the two credit databases (R§3, R§7, R§8).

``credit_records`` is the shared record store: one row per version of a provider's record. The
current version has ``current = true``; a changed record gets a new version and the old one is kept
(``superseded_at``) for audit. Which subject database a record belongs to is ``subject_kind``
(legal persons / natural persons). ``valid_until`` applies the validity rule: after it the record
leaves public query (``fincredit.platform.ingestion.visible_records``) but stays stored.
``under_objection`` is set by the objections workflow (R§10) while a record is disputed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow
from fincredit.platform.core.db.tables import BigId


class Submission(Base):
    """One monthly submission of one catalog item by one provider: a file, or a nil report (R§7)."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_provider_item_month", "provider_org_id", "item_code", "month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider_org_id: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str] = mapped_column(String(64))
    catalog_version_id: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM the submission reports on
    kind: Mapped[str] = mapped_column(String(8))  # file | nil
    channel: Mapped[str] = mapped_column(String(8))  # api | drop | cli
    filename: Mapped[str | None] = mapped_column(String(255))
    file_format: Mapped[str | None] = mapped_column(String(8))  # csv | parquet | arrow
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    due_date: Mapped[dt.date]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))  # processed | nil
    rows_total: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_new: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_changed: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_unchanged: Mapped[int] = mapped_column(BigInteger, default=0)
    subjects_registered: Mapped[int] = mapped_column(BigInteger, default=0)
    # R§8: the platform processes within 5 working days of receipt, the provider verifies the
    # feedback within 5 working days of it.
    processing_due: Mapped[dt.date]
    processed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    verification_due: Mapped[dt.date | None]
    verified_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    verification_note: Mapped[str | None] = mapped_column(Text)
    deadlines_provisional: Mapped[bool] = mapped_column(Boolean, default=False)


class SubmissionFeedback(Base):
    """One rejected cell of a submission: the feedback report row (R§8) the provider downloads."""

    __tablename__ = "submission_feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    row: Mapped[int] = mapped_column(BigInteger)  # 0-based data row of the file
    provider_record_id: Mapped[str | None] = mapped_column(String(128))
    field: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))  # stable code, e.g. check_character
    detail: Mapped[str] = mapped_column(Text)


class CreditRecord(Base):
    """One version of one provider record about one subject."""

    __tablename__ = "credit_records"
    __table_args__ = (
        # Also the lookup of a provider record's versions (its first three columns).
        UniqueConstraint("provider_org_id", "item_code", "provider_record_id", "version"),
        Index("ix_credit_records_subject_item", "subject_id", "item_code", "current"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    subject_kind: Mapped[str] = mapped_column(String(8))  # legal | natural: which subject database
    item_code: Mapped[str] = mapped_column(String(64))
    provider_org_id: Mapped[str] = mapped_column(String(64))
    provider_record_id: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean)
    report_month: Mapped[str] = mapped_column(String(7))
    # The item's fields, cleaned and typed (dates as ISO strings); sensitive fields are not here.
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # AES-GCM of the JSON of the item's sensitive fields (R§17: never published), or None.
    sensitive_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_hash: Mapped[str] = mapped_column(String(64))
    event_date: Mapped[dt.date | None]
    valid_until: Mapped[dt.date | None]  # None: stays in public query while current
    negative: Mapped[bool] = mapped_column(Boolean, default=False)
    # Written only by the pipeline from the submission it is processing, so not foreign keys: on
    # PostgreSQL each foreign key check costs a row lock per loaded record (a third of the load rate).
    submission_id: Mapped[int] = mapped_column(BigId, index=True)
    catalog_version_id: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    under_objection: Mapped[bool] = mapped_column(Boolean, default=False)
