"""Tables of the free public-interest services (G§11): credit reports with their verification
digests, push subscriptions and their durable webhook outbox, and financing matchmaking (needs,
products, leads with outcomes). Nothing here is ever metered."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow
from fincredit.platform.core.db.tables import BigId


class CreditReport(Base):
    """One issued credit report (R§9). The digests let anyone holding the document confirm it is
    genuine (``/api/v1/free/reports/verify``); the report body itself is not kept."""

    __tablename__ = "credit_reports"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    schema_version: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    record_count: Mapped[int] = mapped_column(Integer)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)


class PushSubscription(Base):
    """A bank watches one subject under its post-loan-monitoring consent; ``status`` ends with it."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (Index("ix_push_subscriptions_subject_status", "subject_id", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    consent_id: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    items: Mapped[list[str] | None] = mapped_column(JSON)  # catalog item codes; None: every item
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))  # active | ended
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(32))


class PushEvent(Base):
    """One event for one subscription: the durable outbox row the webhook worker delivers and the
    polling feed reads (``id`` is the feed cursor). ``subject_seq`` orders a subscription's events:
    event n+1 is never sent before event n is acknowledged."""

    __tablename__ = "push_events"
    __table_args__ = (
        Index("ix_push_events_status_next", "status", "next_attempt_at"),
        Index("ix_push_events_subscription_seq", "subscription_id", "subject_seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("push_subscriptions.id"))
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    subject_seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    payload_json: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # pending | delivered | dropped (the consent ended before delivery) | polled (no webhook)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(300))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)


class FinancingNeed(Base):
    """An enterprise's published financing need (amount in yuan, term in months)."""

    __tablename__ = "financing_needs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[float] = mapped_column(Float)
    term_months: Mapped[int] = mapped_column(Integer)
    use_of_funds: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # open | closed
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class LoanProduct(Base):
    """A bank's loan product with JSON eligibility rules over catalog fields (``free.rules``)."""

    __tablename__ = "loan_products"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    amount_min: Mapped[float] = mapped_column(Float)
    amount_max: Mapped[float] = mapped_column(Float)
    term_min: Mapped[int] = mapped_column(Integer)
    term_max: Mapped[int] = mapped_column(Integer)
    rate_min: Mapped[float] = mapped_column(Float)
    rate_max: Mapped[float] = mapped_column(Float)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class MatchLead(Base):
    """A need matched to a product: the bank's lead, the enterprise's match, and its outcome."""

    __tablename__ = "match_leads"
    __table_args__ = (Index("ix_match_leads_need_product", "need_id", "product_id", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("financing_needs.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("loan_products.id"))
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    score: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(16))  # contacted | approved | granted | declined
    outcome_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger)
