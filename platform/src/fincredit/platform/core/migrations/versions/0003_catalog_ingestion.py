"""catalog (versioned), submissions, feedback, credit records (the two subject databases)

Revision ID: 0003_catalog_ingestion
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base

revision = "0003_catalog_ingestion"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_versions")),
        sa.UniqueConstraint("number", name=op.f("uq_catalog_versions_number")),
    )
    op.create_table(
        "catalog_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("provider_org_id", sa.String(length=64), nullable=False),
        sa.Column("subject_kind", sa.String(length=8), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("disclosure", sa.String(length=16), nullable=False),
        sa.Column("sharing", sa.String(length=16), nullable=False),
        sa.Column("validity_years", sa.Integer(), nullable=True),
        sa.Column("event_date_field", sa.String(length=64), nullable=False),
        sa.Column("validity_from_field", sa.String(length=64), nullable=True),
        sa.Column("negative", sa.Boolean(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.Column("on_sharing_list", sa.Boolean(), nullable=False),
        sa.Column("registers_subjects", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["catalog_versions.id"], name=op.f("fk_catalog_items_version_id_catalog_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_items")),
        sa.UniqueConstraint("version_id", "code", name=op.f("uq_catalog_items_version_id")),
    )
    op.create_index(op.f("ix_catalog_items_code"), "catalog_items", ["code"], unique=False)
    op.create_index(
        op.f("ix_catalog_items_provider_org_id"), "catalog_items", ["provider_org_id"], unique=False
    )
    op.create_index(op.f("ix_catalog_items_version_id"), "catalog_items", ["version_id"], unique=False)
    op.create_table(
        "submissions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("provider_org_id", sa.String(length=64), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("catalog_version_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("file_format", sa.String(length=8), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("submitted_by", sa.String(length=64), nullable=True),
        sa.Column("received_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=False),
        sa.Column("rows_rejected", sa.BigInteger(), nullable=False),
        sa.Column("rows_new", sa.BigInteger(), nullable=False),
        sa.Column("rows_changed", sa.BigInteger(), nullable=False),
        sa.Column("rows_unchanged", sa.BigInteger(), nullable=False),
        sa.Column("subjects_registered", sa.BigInteger(), nullable=False),
        sa.Column("processing_due", sa.Date(), nullable=False),
        sa.Column("processed_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("verification_due", sa.Date(), nullable=True),
        sa.Column("verified_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("verification_note", sa.Text(), nullable=True),
        sa.Column("deadlines_provisional", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["catalog_version_id"],
            ["catalog_versions.id"],
            name=op.f("fk_submissions_catalog_version_id_catalog_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
    )
    op.create_index(
        "ix_submissions_provider_item_month",
        "submissions",
        ["provider_org_id", "item_code", "month"],
        unique=False,
    )
    op.create_index(op.f("ix_submissions_sha256"), "submissions", ["sha256"], unique=False)
    op.create_table(
        "credit_records",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subject_kind", sa.String(length=8), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("provider_org_id", sa.String(length=64), nullable=False),
        sa.Column("provider_record_id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("report_month", sa.String(length=7), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("sensitive_enc", sa.LargeBinary(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("negative", sa.Boolean(), nullable=False),
        sa.Column("submission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("catalog_version_id", sa.Integer(), nullable=False),
        sa.Column("loaded_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("under_objection", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_credit_records_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_records")),
        sa.UniqueConstraint(
            "provider_org_id",
            "item_code",
            "provider_record_id",
            "version",
            name=op.f("uq_credit_records_provider_org_id"),
        ),
    )
    op.create_index(
        "ix_credit_records_subject_item",
        "credit_records",
        ["subject_id", "item_code", "current"],
        unique=False,
    )
    op.create_index(
        op.f("ix_credit_records_submission_id"), "credit_records", ["submission_id"], unique=False
    )
    op.create_table(
        "submission_feedback",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("submission_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("row", sa.BigInteger(), nullable=False),
        sa.Column("provider_record_id", sa.String(length=128), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_submission_feedback_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_feedback")),
    )
    op.create_index(
        op.f("ix_submission_feedback_submission_id"), "submission_feedback", ["submission_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_submission_feedback_submission_id"), table_name="submission_feedback")
    op.drop_table("submission_feedback")
    op.drop_index(op.f("ix_credit_records_submission_id"), table_name="credit_records")
    op.drop_index("ix_credit_records_subject_item", table_name="credit_records")
    op.drop_table("credit_records")
    op.drop_index(op.f("ix_submissions_sha256"), table_name="submissions")
    op.drop_index("ix_submissions_provider_item_month", table_name="submissions")
    op.drop_table("submissions")
    op.drop_index(op.f("ix_catalog_items_version_id"), table_name="catalog_items")
    op.drop_index(op.f("ix_catalog_items_provider_org_id"), table_name="catalog_items")
    op.drop_index(op.f("ix_catalog_items_code"), table_name="catalog_items")
    op.drop_table("catalog_items")
    op.drop_table("catalog_versions")
