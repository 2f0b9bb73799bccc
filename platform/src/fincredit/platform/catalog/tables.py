"""Tables of the public credit information catalog (R§6, G§7).

The catalog is versioned as a whole: every operator edit writes a new ``catalog_versions`` row and a
full copy of its items, so a submission validates against exactly the version it was made under and
the catalog as it stood on any date can be shown again. The catalog is small (tens of items), so a
full copy per version costs nothing and keeps reads trivial.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from fincredit.platform.core.db import Base, UtcDateTime, utcnow


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class CatalogItem(Base):
    """One catalog item as it stands in one catalog version."""

    __tablename__ = "catalog_items"
    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalog_versions.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    provider_org_id: Mapped[str] = mapped_column(String(64), index=True)
    subject_kind: Mapped[str] = mapped_column(String(8))  # legal | natural
    # [{"name", "type" (Arrow type name), "title", "required", "enum", "sensitive"}]
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    disclosure: Mapped[str] = mapped_column(String(16))  # public | authorized
    sharing: Mapped[str] = mapped_column(String(16))  # unconditional | conditional
    validity_years: Mapped[int | None] = mapped_column(Integer)
    event_date_field: Mapped[str] = mapped_column(String(64))
    validity_from_field: Mapped[str | None] = mapped_column(String(64))
    negative: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    on_sharing_list: Mapped[bool] = mapped_column(Boolean, default=True)
    # R§3: the registration authority's items are the authoritative source of the subject registry;
    # their rows register subjects the platform does not know yet. Other items reject unknown subjects.
    registers_subjects: Mapped[bool] = mapped_column(Boolean, default=False)
