"""Tables of the thematic boards (G§13): a district or sector team's board with its target population
(rules over catalog fields), the loan products banks attach, and the financing needs it fed into
matchmaking (the base of its statistics)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow


class Board(Base):
    __tablename__ = "boards"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    theme: Mapped[str] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(12))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # draft | published | closed
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class BoardProduct(Base):
    """A bank's loan product attached to a board."""

    __tablename__ = "board_products"

    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"), primary_key=True)
    # No foreign key: loan products live on the free services' migration branch.
    product_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(64))
    attached_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class BoardReach(Base):
    """A financing need of an enterprise in the board's population, fed into matchmaking by the board."""

    __tablename__ = "board_reach"

    board_id: Mapped[str] = mapped_column(ForeignKey("boards.id"), primary_key=True)
    need_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    reached_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
