"""Joint-modelling job sessions: where the platform's half of a running job stands between frames (refs
of its saved states in the federation store, the last frame answered), so any instance continues it.

Revision ID: 0014_joint_job_sessions
Revises: 0013_staff_certificates
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base

revision = "0014_joint_job_sessions"
down_revision = "0013_staff_certificates"
branch_labels = None
depends_on = None

UtcDateTime = fincredit.platform.core.db._base.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "joint_job_sessions",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("psi_state", sa.String(length=64), nullable=True),
        sa.Column("training_state", sa.String(length=64), nullable=True),
        sa.Column("live_state", sa.String(length=64), nullable=True),
        sa.Column("last_request", sa.String(length=64), nullable=True),
        sa.Column("last_reply", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["joint_jobs.id"], name=op.f("fk_joint_job_sessions_job_id_joint_jobs")
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_joint_job_sessions")),
    )


def downgrade() -> None:
    op.drop_table("joint_job_sessions")
