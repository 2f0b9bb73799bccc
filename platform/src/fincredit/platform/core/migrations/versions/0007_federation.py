"""federation: joint-modelling jobs and the platform's halves of joint models

Revision ID: 0007_federation
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base

revision = "0007_federation"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "joint_jobs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("catalog_items", sa.JSON(), nullable=False),
        sa.Column("market_datasets", sa.JSON(), nullable=False),
        sa.Column("platform_features", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("platform_size", sa.Integer(), nullable=True),
        sa.Column("aligned", sa.Integer(), nullable=True),
        sa.Column("consent_count", sa.Integer(), nullable=True),
        sa.Column("consent_digest", sa.String(64), nullable=True),
        sa.Column("fill_values", sa.JSON(), nullable=False),
        sa.Column("evaluation", sa.JSON(), nullable=False),
        sa.Column("mlflow_run_id", sa.String(64), nullable=True),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_joint_jobs_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_joint_jobs")),
    )
    op.create_index("ix_joint_jobs_org_state", "joint_jobs", ["org_id", "state"])
    op.create_table(
        "joint_models",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("platform_part", sa.JSON(), nullable=False),
        sa.Column("bank_deposit", sa.JSON(), nullable=True),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["id"], ["joint_jobs.id"], name=op.f("fk_joint_models_id_joint_jobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_joint_models")),
    )
    op.create_index(op.f("ix_joint_models_org_id"), "joint_models", ["org_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_joint_models_org_id"), table_name="joint_models")
    op.drop_table("joint_models")
    op.drop_index("ix_joint_jobs_org_state", table_name="joint_jobs")
    op.drop_table("joint_jobs")
