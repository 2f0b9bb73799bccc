"""Tables of joint modelling and encrypted scoring (G§13, metered market services): a bank's jobs
with their state and lineage, and the platform's halves of the joint models they produced.

Identifiers never appear here: a job records how many subjects were aligned and a digest of the
consents that allowed it, the ledger holds one entry per subject."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow


class JointJob(Base):
    """One joint-modelling job of one bank: created -> aligning -> aligned -> training -> trained ->
    completed, or failed (with the reason) from any state before completed."""

    __tablename__ = "joint_jobs"
    __table_args__ = (Index("ix_joint_jobs_org_state", "org_id", "state"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    account_id: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(200))
    algorithm: Mapped[str] = mapped_column(String(16))
    catalog_items: Mapped[list[str]] = mapped_column(JSON)
    market_datasets: Mapped[list[str]] = mapped_column(JSON)
    platform_features: Mapped[list[str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(Text, default="")
    platform_size: Mapped[int | None] = mapped_column(Integer)
    aligned: Mapped[int | None] = mapped_column(Integer)
    consent_count: Mapped[int | None] = mapped_column(Integer)
    consent_digest: Mapped[str | None] = mapped_column(String(64))
    # Per platform feature, the value that stands in for a missing one (median over the aligned rows);
    # scoring fills the same way, so training and scoring see one model.
    fill_values: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class JointModel(Base):
    """The platform's half of a completed job's model (the id the bank scores with is the job id), and
    for logistic models the bank's deposited weights when it chose to deposit them."""

    __tablename__ = "joint_models"

    id: Mapped[str] = mapped_column(ForeignKey("joint_jobs.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    platform_part: Mapped[dict[str, Any]] = mapped_column(JSON)
    bank_deposit: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class JointJobSession(Base):
    """Where the platform's half of a running job stands between two frames, so that any service
    instance takes the next frame: refs of the saved states (PSI, training, the service's own inputs of
    the job) in the federation store directory, and the last frame answered with its reply, so a frame
    retried after a lost answer gets the same answer instead of running twice. ``version`` counts the
    steps; a step's result is recorded only over the version it started from."""

    __tablename__ = "joint_job_sessions"

    job_id: Mapped[str] = mapped_column(ForeignKey("joint_jobs.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    psi_state: Mapped[str | None] = mapped_column(String(64))
    training_state: Mapped[str | None] = mapped_column(String(64))
    live_state: Mapped[str | None] = mapped_column(String(64))
    last_request: Mapped[str | None] = mapped_column(String(64))
    last_reply: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
