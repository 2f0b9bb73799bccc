"""market products, data product trading, thematic boards, publication, national reporting, supervision

Revision ID: 0008_market_products_boards
Revises: 0001 (board rows name loan products and financing needs by id, without foreign keys, so this
branch does not depend on the free services' branch)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base

revision = "0008_market_products_boards"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "board_reach",
    "data_product_purchases",
    "credit_score_results",
    "board_products",
    "security_inspections",
    "publications",
    "plan_filings",
    "national_reports",
    "national_node_receipts",
    "experts",
    "data_product_listings",
    "boards",
)


def upgrade() -> None:
    op.create_table(
        "boards",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("theme", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=12), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boards")),
    )
    op.create_index(op.f("ix_boards_org_id"), "boards", ["org_id"], unique=False)
    op.create_table(
        "data_product_listings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("seller_org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("derived_product_id", sa.String(length=40), nullable=False),
        sa.Column("meter_product", sa.String(length=64), nullable=False),
        sa.Column("price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("licence", sa.JSON(), nullable=False),
        sa.Column("delivery", sa.JSON(), nullable=False),
        sa.Column("file_name", sa.String(length=300), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_product_listings")),
        sa.UniqueConstraint("meter_product", name=op.f("uq_data_product_listings_meter_product")),
    )
    op.create_index(
        op.f("ix_data_product_listings_seller_org_id"),
        "data_product_listings",
        ["seller_org_id"],
        unique=False,
    )
    op.create_table(
        "experts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=False),
        sa.Column("affiliation", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("added_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experts")),
    )
    op.create_table(
        "national_node_receipts",
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("receipt_id", sa.String(length=64), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("times_received", sa.Integer(), nullable=False),
        sa.Column("received_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_national_node_receipts")),
    )
    op.create_table(
        "national_reports",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.BigInteger(), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("receipt_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_reports")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_national_reports_idempotency_key")),
        sa.UniqueConstraint("lead_id", name=op.f("uq_national_reports_lead_id")),
    )
    op.create_index(
        "ix_national_reports_status_next", "national_reports", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "plan_filings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("filed_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_filings")),
    )
    op.create_index(op.f("ix_plan_filings_org_id"), "plan_filings", ["org_id"], unique=False)
    op.create_table(
        "publications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("drafted_by", sa.String(length=64), nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("published_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publications")),
    )
    op.create_index(op.f("ix_publications_org_id"), "publications", ["org_id"], unique=False)
    op.create_index(op.f("ix_publications_period"), "publications", ["period"], unique=False)
    op.create_table(
        "security_inspections",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("inspected_org_id", sa.String(length=64), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("inspector", sa.String(length=200), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_inspections")),
    )
    op.create_index(
        op.f("ix_security_inspections_inspected_org_id"),
        "security_inspections",
        ["inspected_org_id"],
        unique=False,
    )
    op.create_table(
        "board_products",
        sa.Column("board_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("attached_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["board_id"], ["boards.id"], name=op.f("fk_board_products_board_id_boards")),
        sa.PrimaryKeyConstraint("board_id", "product_id", name=op.f("pk_board_products")),
    )
    op.create_table(
        "credit_score_results",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=4), nullable=False),
        sa.Column("pd", sa.Float(), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=True),
        sa.Column("usage_event_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_credit_score_results_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_score_results")),
    )
    op.create_index(op.f("ix_credit_score_results_org_id"), "credit_score_results", ["org_id"], unique=False)
    op.create_index(
        op.f("ix_credit_score_results_subject_id"), "credit_score_results", ["subject_id"], unique=False
    )
    op.create_table(
        "data_product_purchases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("listing_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("delivery", sa.String(length=8), nullable=False),
        sa.Column("api_key_sha256", sa.String(length=64), nullable=True),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("usage_event_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["data_product_listings.id"],
            name=op.f("fk_data_product_purchases_listing_id_data_product_listings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_product_purchases")),
        sa.UniqueConstraint("api_key_sha256", name=op.f("uq_data_product_purchases_api_key_sha256")),
    )
    op.create_index(
        op.f("ix_data_product_purchases_listing_id"), "data_product_purchases", ["listing_id"], unique=False
    )
    op.create_index(
        op.f("ix_data_product_purchases_org_id"), "data_product_purchases", ["org_id"], unique=False
    )
    op.create_table(
        "board_reach",
        sa.Column("board_id", sa.String(length=40), nullable=False),
        sa.Column("need_id", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reached_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["board_id"], ["boards.id"], name=op.f("fk_board_reach_board_id_boards")),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_board_reach_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("board_id", "need_id", name=op.f("pk_board_reach")),
    )
    op.create_index(op.f("ix_board_reach_subject_id"), "board_reach", ["subject_id"], unique=False)


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
