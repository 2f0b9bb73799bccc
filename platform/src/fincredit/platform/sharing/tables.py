"""Tables of government sharing (R§12-15): agreements per department, the providers' approvals of
conditional items, and batch exchange jobs (a Parquet export downloadable once)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow
from fincredit.platform.core.db.tables import BigId


class SharingAgreement(Base):
    """What a department may receive: items, purpose, modes, validity, and (for batch exchange) the
    population. Active only once every conditional item's provider has approved."""

    __tablename__ = "sharing_agreements"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    department_org_id: Mapped[str] = mapped_column(String(64), index=True)
    items: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(200))
    modes: Mapped[list[str]] = mapped_column(JSON)  # verification | query | batch
    population: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"subject_kind": ..., "region_prefix": ...}
    valid_from: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    valid_until: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class SharingApproval(Base):
    """A provider approved sharing one of its conditional items under an agreement (R§13)."""

    __tablename__ = "sharing_approvals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("sharing_agreements.id"), index=True)
    item_code: Mapped[str] = mapped_column(String(64))
    provider_org_id: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")


class SharingJob(Base):
    """A batch exchange: the export file, its manifest and checksum; ``downloaded_at`` set once."""

    __tablename__ = "sharing_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("sharing_agreements.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # done | failed | downloaded
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    path: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    downloaded_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class SharingEvent(Base):
    """The domain audit of sharing: every verification, query, export and refusal (R§15)."""

    __tablename__ = "sharing_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    agreement_id: Mapped[str | None] = mapped_column(String(40), index=True)
    department_org_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    items: Mapped[list[str]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(16))  # answered | refused
    detail: Mapped[str] = mapped_column(Text, default="")
    payload_sha256: Mapped[str | None] = mapped_column(String(64))
