"""Tables of national network reporting (G§12): the durable outbox of financing results for the
provincial node, and the built-in receiver's store (the stand-in node, deduplicating by key)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow
from fincredit.platform.core.db.tables import BigId


class NationalReport(Base):
    """One financing result waiting for (or delivered to) the provincial node; one per granted lead."""

    __tablename__ = "national_reports"
    __table_args__ = (Index("ix_national_reports_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    lead_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    payload_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    receipt_id: Mapped[str | None] = mapped_column(String(64))


class NationalNodeReceipt(Base):
    """What the built-in receiver accepted: one row per idempotency key however often it was sent."""

    __tablename__ = "national_node_receipts"

    idempotency_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    receipt_id: Mapped[str] = mapped_column(String(64))
    payload_json: Mapped[str] = mapped_column(Text)
    times_received: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
