"""Tables of publication (R§17): blacklist entries, typical cases and joint reward/punishment results,
drafted by one account of a department and approved by another before they are public."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow


class Publication(Base):
    __tablename__ = "publications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # blacklist | typical_case | joint_reward_punishment
    period: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM the publication is due for
    title: Mapped[str] = mapped_column(String(200))
    # {"item": catalog item code or None, "fields": {name: value}, "text": "..."}
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # draft | submitted | published | rejected
    drafted_by: Mapped[str] = mapped_column(String(64))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    review_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
