"""Staff sign-in: the client certificates issued by the platform's staff CA (R§18: account plus digital
certificate) and the failed-sign-in counters of the lockout (per account and per address).

Revision ID: 0013_staff_certificates
Revises: 0012_ledger_witnesses
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base

revision = "0013_staff_certificates"
down_revision = "0012_ledger_witnesses"
branch_labels = None
depends_on = None

UtcDateTime = fincredit.platform.core.db._base.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "staff_certificates",
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("not_before", UtcDateTime(timezone=True), nullable=False),
        sa.Column("not_after", UtcDateTime(timezone=True), nullable=False),
        sa.Column("issued_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_staff_certificates_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("serial", name=op.f("pk_staff_certificates")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_staff_certificates_fingerprint")),
    )
    with op.batch_alter_table("staff_certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_certificates_account_id"), ["account_id"], unique=False)
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )


def downgrade() -> None:
    op.drop_table("login_throttles")
    with op.batch_alter_table("staff_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_certificates_account_id"))
    op.drop_table("staff_certificates")
