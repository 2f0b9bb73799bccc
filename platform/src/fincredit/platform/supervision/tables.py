"""Tables of supervision (G§18-22, R§22): annual work and product plan filings, security inspections
with findings and remediation, and the expert pool."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow


class PlanFiling(Base):
    __tablename__ = "plan_filings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # work_plan | product_plan
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    filed_by: Mapped[str] = mapped_column(String(64))
    filed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class SecurityInspection(Base):
    __tablename__ = "security_inspections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    inspected_org_id: Mapped[str] = mapped_column(String(64), index=True)
    inspected_on: Mapped[dt.date]
    inspector: Mapped[str] = mapped_column(String(200))
    # [{"id", "severity", "text", "remediation", "remediated_on"}]
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    recorded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Expert(Base):
    __tablename__ = "experts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(100))
    affiliation: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
