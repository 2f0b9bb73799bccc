"""Join the capability branches (consent ledger, catalog/market/objections, metering, free services,
federation, market products and boards) into one head, so that the next migration has a single
parent and `alembic current` names one revision.

Revision ID: 0009_merge_capabilities
Revises: 0002_consent_ledger, 0004_market_objections, 0005_metering, 0006_free_services,
    0007_federation, 0008_market_products_boards
"""

from __future__ import annotations

revision = "0009_merge_capabilities"
down_revision = (
    "0002_consent_ledger",
    "0004_market_objections",
    "0005_metering",
    "0006_free_services",
    "0007_federation",
    "0008_market_products_boards",
)
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
