"""market data (contracts, datasets, versions, lineage) and objections (R§10)

Revision ID: 0004_market_objections
Revises: 0003_catalog_ingestion (objections refer to credit_records)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base
from fincredit.platform.core.db.append_only import drop_append_only, make_append_only

revision = "0004_market_objections"
down_revision = "0003_catalog_ingestion"
branch_labels = None
depends_on = None

APPEND_ONLY = ("derivation_sources", "objection_events")


def upgrade() -> None:
    op.create_table(
        "derived_products",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("for_sale", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_derived_products")),
    )
    op.create_table(
        "derivation_sources",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("product_id", sa.String(length=40), nullable=False),
        sa.Column("source_kind", sa.String(length=24), nullable=False),
        sa.Column("source_ref", sa.String(length=100), nullable=False),
        sa.Column("source_version", sa.String(length=32), nullable=True),
        sa.Column("contract_id", sa.String(length=40), nullable=True),
        sa.Column("recorded_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["derived_products.id"],
            name=op.f("fk_derivation_sources_product_id_derived_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_derivation_sources")),
    )
    with op.batch_alter_table("derivation_sources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_derivation_sources_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_derivation_sources_source_ref"), ["source_ref"], unique=False)

    op.create_table(
        "market_contracts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("derived_products_allowed", sa.Boolean(), nullable=False),
        sa.Column("resale_allowed", sa.Boolean(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("annual_fee_cny", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("terminated_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["organisations.id"], name=op.f("fk_market_contracts_vendor_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_contracts")),
        sa.UniqueConstraint("reference", name=op.f("uq_market_contracts_reference")),
    )
    with op.batch_alter_table("market_contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_market_contracts_vendor_id"), ["vendor_id"], unique=False)

    op.create_table(
        "market_datasets",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("vendor_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["organisations.id"], name=op.f("fk_market_datasets_vendor_id_organisations")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_market_datasets")),
    )
    with op.batch_alter_table("market_datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_market_datasets_vendor_id"), ["vendor_id"], unique=False)

    op.create_table(
        "market_contract_datasets",
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("dataset_code", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["market_contracts.id"],
            name=op.f("fk_market_contract_datasets_contract_id_market_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["dataset_code"],
            ["market_datasets.code"],
            name=op.f("fk_market_contract_datasets_dataset_code_market_datasets"),
        ),
        sa.PrimaryKeyConstraint("contract_id", "dataset_code", name=op.f("pk_market_contract_datasets")),
    )
    op.create_table(
        "market_contract_purposes",
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["market_contracts.id"],
            name=op.f("fk_market_contract_purposes_contract_id_market_contracts"),
        ),
        sa.PrimaryKeyConstraint("contract_id", "purpose", name=op.f("pk_market_contract_purposes")),
    )
    op.create_table(
        "market_dataset_versions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("dataset_code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("manifest_path", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("upload_sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("matched_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("columns_json", sa.Text(), nullable=False),
        sa.Column("contract_id", sa.String(length=40), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["market_contracts.id"],
            name=op.f("fk_market_dataset_versions_contract_id_market_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["dataset_code"],
            ["market_datasets.code"],
            name=op.f("fk_market_dataset_versions_dataset_code_market_datasets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_dataset_versions")),
        sa.UniqueConstraint("dataset_code", "version", name=op.f("uq_market_dataset_versions_dataset_code")),
    )
    with op.batch_alter_table("market_dataset_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_market_dataset_versions_dataset_code"), ["dataset_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_market_dataset_versions_upload_sha256"), ["upload_sha256"], unique=False
        )

    op.create_table(
        "objections",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider_org_id", sa.String(length=64), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("provider_record_id", sa.String(length=128), nullable=False),
        sa.Column("filed_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("filed_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("platform_due", sa.Date(), nullable=False),
        sa.Column(
            "platform_checked_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("provider_due", sa.Date(), nullable=True),
        sa.Column("extension_days", sa.Integer(), nullable=False),
        sa.Column("resolved_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("corrected_record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("deadlines_provisional", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrected_record_id"],
            ["credit_records.id"],
            name=op.f("fk_objections_corrected_record_id_credit_records"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["credit_records.id"], name=op.f("fk_objections_record_id_credit_records")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_objections_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_objections_record_id"), ["record_id"], unique=False)
        batch_op.create_index("ix_objections_status_provider", ["status", "provider_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_objections_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "record_disclosures",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=True),
        sa.Column("disclosed_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"], ["credit_records.id"], name=op.f("fk_record_disclosures_record_id_credit_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_disclosures")),
    )
    with op.batch_alter_table("record_disclosures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_disclosures_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_record_disclosures_record_id"), ["record_id"], unique=False)

    op.create_table(
        "objection_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("objection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("actor_account_id", sa.String(length=64), nullable=True),
        sa.Column("actor_org_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("deadline_provisional", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["objection_id"], ["objections.id"], name=op.f("fk_objection_events_objection_id_objections")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objection_events")),
        sa.UniqueConstraint("objection_id", "seq", name=op.f("uq_objection_events_objection_id")),
    )
    with op.batch_alter_table("objection_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_objection_events_objection_id"), ["objection_id"], unique=False)

    op.create_table(
        "objection_outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("objection_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recipient_org_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("created_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["objection_events.id"], name=op.f("fk_objection_outbox_event_id_objection_events")
        ),
        sa.ForeignKeyConstraint(
            ["objection_id"], ["objections.id"], name=op.f("fk_objection_outbox_objection_id_objections")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objection_outbox")),
    )
    with op.batch_alter_table("objection_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_objection_outbox_delivered_at"), ["delivered_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_objection_outbox_objection_id"), ["objection_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_objection_outbox_recipient_org_id"), ["recipient_org_id"], unique=False
        )

    for table in APPEND_ONLY:
        make_append_only(op, table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(op, table)
    with op.batch_alter_table("objection_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_objection_outbox_recipient_org_id"))
        batch_op.drop_index(batch_op.f("ix_objection_outbox_objection_id"))
        batch_op.drop_index(batch_op.f("ix_objection_outbox_delivered_at"))

    op.drop_table("objection_outbox")
    with op.batch_alter_table("objection_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_objection_events_objection_id"))

    op.drop_table("objection_events")
    with op.batch_alter_table("record_disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_disclosures_record_id"))
        batch_op.drop_index(batch_op.f("ix_record_disclosures_org_id"))

    op.drop_table("record_disclosures")
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_objections_subject_id"))
        batch_op.drop_index("ix_objections_status_provider")
        batch_op.drop_index(batch_op.f("ix_objections_record_id"))

    op.drop_table("objections")
    with op.batch_alter_table("market_dataset_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_market_dataset_versions_upload_sha256"))
        batch_op.drop_index(batch_op.f("ix_market_dataset_versions_dataset_code"))

    op.drop_table("market_dataset_versions")
    op.drop_table("market_contract_purposes")
    op.drop_table("market_contract_datasets")
    with op.batch_alter_table("market_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_market_datasets_vendor_id"))

    op.drop_table("market_datasets")
    with op.batch_alter_table("market_contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_market_contracts_vendor_id"))

    op.drop_table("market_contracts")
    with op.batch_alter_table("derivation_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_derivation_sources_source_ref"))
        batch_op.drop_index(batch_op.f("ix_derivation_sources_product_id"))

    op.drop_table("derivation_sources")
    op.drop_table("derived_products")
