"""metering: meters, usage events (append-only), price books, entitlements, credit limits

Revision ID: 0005_metering
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base
from fincredit.platform.core.db.append_only import drop_append_only, make_append_only

revision = "0005_metering"
down_revision = "0001"
branch_labels = None
depends_on = None

Money = sa.Numeric(18, 4)


def upgrade() -> None:
    op.create_table(
        "meters",
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("aggregation", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("unique_property", sa.String(64), nullable=True),
        sa.Column("group_by", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("product", name=op.f("pk_meters")),
        sa.UniqueConstraint("event_type", name=op.f("uq_meters_event_type")),
    )
    op.create_table(
        "price_books",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_price_books")),
    )
    op.create_table(
        "prices",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("model", sa.String(16), nullable=False),
        sa.Column("unit_price", Money, nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("free_units", Money, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.ForeignKeyConstraint(["product"], ["meters.product"], name=op.f("fk_prices_product_meters")),
        sa.ForeignKeyConstraint(
            ["version"], ["price_books.version"], name=op.f("fk_prices_version_price_books")
        ),
        sa.PrimaryKeyConstraint("version", "product", name=op.f("pk_prices")),
    )
    op.create_table(
        "usage_events",
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("time", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("quantity", Money, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("recorded_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_usage_events_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(["product"], ["meters.product"], name=op.f("fk_usage_events_product_meters")),
        sa.PrimaryKeyConstraint("source", "id", name=op.f("pk_usage_events")),
    )
    op.create_index("ix_usage_events_org_product_time", "usage_events", ["org_id", "product", "time"])
    op.create_table(
        "entitlements",
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("monthly_quota", Money, nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_entitlements_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(["product"], ["meters.product"], name=op.f("fk_entitlements_product_meters")),
        sa.PrimaryKeyConstraint("org_id", "product", name=op.f("pk_entitlements")),
    )
    op.create_table(
        "credit_limits",
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("monthly_limit", Money, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_credit_limits_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_credit_limits")),
    )
    # Billing evidence: events are never edited; a correction is a new (negative-quantity) event.
    make_append_only(op, "usage_events")


def downgrade() -> None:
    drop_append_only(op, "usage_events")
    op.drop_table("credit_limits")
    op.drop_table("entitlements")
    op.drop_index("ix_usage_events_org_product_time", table_name="usage_events")
    op.drop_table("usage_events")
    op.drop_table("prices")
    op.drop_table("price_books")
    op.drop_table("meters")
