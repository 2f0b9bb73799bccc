"""free public-interest services (credit reports, push outbox, matchmaking) and government sharing

Revision ID: 0006_free_services
Revises: 0001 (subjects are in the foundation; nothing else is referenced)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base

revision = "0006_free_services"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "push_events",
    "match_leads",
    "sharing_jobs",
    "sharing_approvals",
    "push_subscriptions",
    "financing_needs",
    "credit_reports",
    "sharing_events",
    "sharing_agreements",
    "loan_products",
)


def upgrade() -> None:
    op.create_table(
        "loan_products",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("amount_min", sa.Float(), nullable=False),
        sa.Column("amount_max", sa.Float(), nullable=False),
        sa.Column("term_min", sa.Integer(), nullable=False),
        sa.Column("term_max", sa.Integer(), nullable=False),
        sa.Column("rate_min", sa.Float(), nullable=False),
        sa.Column("rate_max", sa.Float(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_products")),
    )
    with op.batch_alter_table("loan_products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_products_org_id"), ["org_id"], unique=False)

    op.create_table(
        "sharing_agreements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("department_org_id", sa.String(length=64), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("modes", sa.JSON(), nullable=False),
        sa.Column("population", sa.JSON(), nullable=False),
        sa.Column("valid_from", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_agreements")),
    )
    with op.batch_alter_table("sharing_agreements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sharing_agreements_department_org_id"), ["department_org_id"], unique=False
        )

    op.create_table(
        "sharing_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("agreement_id", sa.String(length=40), nullable=True),
        sa.Column("department_org_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_events")),
    )
    with op.batch_alter_table("sharing_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sharing_events_agreement_id"), ["agreement_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sharing_events_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sharing_events_department_org_id"), ["department_org_id"], unique=False
        )

    op.create_table(
        "credit_reports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("schema_version", sa.String(length=16), nullable=False),
        sa.Column("issued_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_credit_reports_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_reports")),
    )
    with op.batch_alter_table("credit_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_reports_content_sha256"), ["content_sha256"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_credit_reports_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_reports_pdf_sha256"), ["pdf_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_reports_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "financing_needs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("use_of_funds", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_financing_needs_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financing_needs")),
    )
    with op.batch_alter_table("financing_needs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_financing_needs_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("consent_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("items", sa.JSON(), nullable=True),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_push_subscriptions_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
    )
    with op.batch_alter_table("push_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_subscriptions_consent_id"), ["consent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_push_subscriptions_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_push_subscriptions_subject_status", ["subject_id", "status"], unique=False)

    op.create_table(
        "sharing_approvals",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("agreement_id", sa.String(length=40), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("provider_org_id", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=False),
        sa.Column("approved_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["sharing_agreements.id"],
            name=op.f("fk_sharing_approvals_agreement_id_sharing_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_approvals")),
    )
    with op.batch_alter_table("sharing_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sharing_approvals_agreement_id"), ["agreement_id"], unique=False)

    op.create_table(
        "sharing_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("agreement_id", sa.String(length=40), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=True),
        sa.Column("downloaded_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["sharing_agreements.id"],
            name=op.f("fk_sharing_jobs_agreement_id_sharing_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_jobs")),
    )
    with op.batch_alter_table("sharing_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sharing_jobs_agreement_id"), ["agreement_id"], unique=False)

    op.create_table(
        "match_leads",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("need_id", sa.String(length=40), nullable=False),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["need_id"], ["financing_needs.id"], name=op.f("fk_match_leads_need_id_financing_needs")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["loan_products.id"], name=op.f("fk_match_leads_product_id_loan_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_leads")),
    )
    with op.batch_alter_table("match_leads", schema=None) as batch_op:
        batch_op.create_index("ix_match_leads_need_product", ["need_id", "product_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_match_leads_org_id"), ["org_id"], unique=False)

    op.create_table(
        "push_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("subject_seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("delivered_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["push_subscriptions.id"],
            name=op.f("fk_push_events_subscription_id_push_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_events")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_push_events_idempotency_key")),
    )
    with op.batch_alter_table("push_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_push_events_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_push_events_status_next", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            "ix_push_events_subscription_seq", ["subscription_id", "subject_seq"], unique=False
        )


def downgrade() -> None:
    for name in TABLES:
        op.drop_table(name)
