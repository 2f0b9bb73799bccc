"""The consent ledger's witnesses and self-check: each witness's last co-signed size, the cosignature
lines of each checkpoint (appended to it when published), and the results of the scheduled self-check.

Revision ID: 0012_ledger_witnesses
Revises: 0011_procrastinate
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base
from fincredit.platform.core.db.append_only import drop_append_only, make_append_only

revision = "0012_ledger_witnesses"
down_revision = "0011_procrastinate"
branch_labels = None
depends_on = None

UtcDateTime = fincredit.platform.core.db._base.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "ledger_witnesses",
        sa.Column("vkey", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("cosigned_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("attempted_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("vkey", name=op.f("pk_ledger_witnesses")),
    )
    op.create_table(
        "ledger_cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=200), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness", name=op.f("pk_ledger_cosignatures")),
    )
    # A cosignature is the witness's signed statement: kept as received, never changed.
    make_append_only(op, "ledger_cosignatures")
    op.create_table(
        "ledger_self_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("replayed", sa.BigInteger(), nullable=False),
        sa.Column("consents", sa.BigInteger(), nullable=False),
        sa.Column("accesses", sa.BigInteger(), nullable=False),
        sa.Column("violations", sa.BigInteger(), nullable=False),
        sa.Column("differences", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_self_checks")),
    )
    with op.batch_alter_table("ledger_self_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_self_checks_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_self_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_self_checks_at"))
    op.drop_table("ledger_self_checks")
    drop_append_only(op, "ledger_cosignatures")
    op.drop_table("ledger_cosignatures")
    op.drop_table("ledger_witnesses")
