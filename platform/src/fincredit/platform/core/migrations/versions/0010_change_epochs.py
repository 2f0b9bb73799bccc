"""Change epochs: one counter per kind of per-process cache (the casbin policy first), bumped in the
transaction of every change, so every worker of every instance learns its cache is stale.

Revision ID: 0010_change_epochs
Revises: 0009_merge_capabilities
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_change_epochs"
down_revision = "0009_merge_capabilities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "change_epochs",
        sa.Column("topic", sa.String(32), primary_key=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"topic": "policy", "epoch": 0}])


def downgrade() -> None:
    op.drop_table("change_epochs")
