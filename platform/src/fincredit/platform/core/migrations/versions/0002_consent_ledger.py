"""consent ledger: consents, ledger entries, Merkle tree nodes, ledger head, signed checkpoints

Revision ID: 0002_consent_ledger
Revises: 0001
Create Date: 2026-11-22 02:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fincredit.platform.core.db._base
from fincredit.platform.core.db.append_only import drop_append_only, make_append_only


revision = '0002_consent_ledger'
down_revision = '0001'
branch_labels = None
depends_on = None

APPEND_ONLY = ('ledger_entries', 'ledger_nodes', 'ledger_checkpoints')


def upgrade() -> None:
    op.create_table('ledger_checkpoints',
    sa.Column('size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('at', fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_ledger_checkpoints'))
    )
    op.create_table('ledger_entries',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('entry', sa.LargeBinary(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('at', fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('grantee_org_id', sa.String(length=64), nullable=True),
    sa.Column('account_id', sa.String(length=128), nullable=True),
    sa.Column('subject_index', sa.String(length=64), nullable=True),
    sa.Column('purpose', sa.String(length=40), nullable=True),
    sa.Column('consent_id', sa.String(length=64), nullable=True),
    sa.Column('route', sa.String(length=200), nullable=True),
    sa.Column('payload_sha256', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_ledger_entries'))
    )
    op.create_index(op.f('ix_ledger_entries_at'), 'ledger_entries', ['at'], unique=False)
    op.create_index(op.f('ix_ledger_entries_consent_id'), 'ledger_entries', ['consent_id'], unique=False)
    op.create_index(op.f('ix_ledger_entries_grantee_org_id'), 'ledger_entries', ['grantee_org_id'], unique=False)
    op.create_index(op.f('ix_ledger_entries_purpose'), 'ledger_entries', ['purpose'], unique=False)
    op.create_index(op.f('ix_ledger_entries_subject_index'), 'ledger_entries', ['subject_index'], unique=False)
    op.create_index(op.f('ix_ledger_entries_type'), 'ledger_entries', ['type'], unique=False)
    head = op.create_table('ledger_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('checkpoint_size', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_head'))
    )
    op.create_table('ledger_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_ledger_nodes'))
    )
    op.create_table('consents',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('grantee_org_id', sa.String(length=64), nullable=False),
    sa.Column('requested_by_account', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('modes', sa.JSON(), nullable=False),
    sa.Column('valid_from', fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('fetch_type', sa.String(length=16), nullable=False),
    sa.Column('frequency_value', sa.Integer(), nullable=True),
    sa.Column('frequency_unit', sa.String(length=8), nullable=True),
    sa.Column('data_life_value', sa.Integer(), nullable=False),
    sa.Column('data_life_unit', sa.String(length=8), nullable=False),
    sa.Column('artefact_enc', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('state_changed_at', fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('use_count', sa.Integer(), nullable=False),
    sa.Column('last_used_at', fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('period_key', sa.Integer(), nullable=True),
    sa.Column('period_uses', sa.Integer(), nullable=False),
    sa.Column('receipt', sa.Text(), nullable=True),
    sa.Column('created_at', fincredit.platform.core.db._base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['grantee_org_id'], ['organisations.id'], name=op.f('fk_consents_grantee_org_id_organisations')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_consents_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    op.create_index('ix_consents_grantee_subject', 'consents', ['grantee_org_id', 'subject_id'], unique=False)
    op.create_index(op.f('ix_consents_state'), 'consents', ['state'], unique=False)
    op.create_index(op.f('ix_consents_subject_id'), 'consents', ['subject_id'], unique=False)
    op.create_index(op.f('ix_consents_valid_until'), 'consents', ['valid_until'], unique=False)

    # The one head row every writer locks; the ledger starts empty.
    op.bulk_insert(head, [{'id': 1, 'size': 0, 'checkpoint_size': None,
                           'updated_at': fincredit.platform.core.db._base.utcnow()}])
    for table in APPEND_ONLY:
        make_append_only(op, table)


def downgrade() -> None:
    for table in APPEND_ONLY:
        drop_append_only(op, table)
    op.drop_index(op.f('ix_consents_valid_until'), table_name='consents')
    op.drop_index(op.f('ix_consents_subject_id'), table_name='consents')
    op.drop_index(op.f('ix_consents_state'), table_name='consents')
    op.drop_index('ix_consents_grantee_subject', table_name='consents')
    op.drop_table('consents')
    op.drop_table('ledger_nodes')
    op.drop_table('ledger_head')
    op.drop_index(op.f('ix_ledger_entries_type'), table_name='ledger_entries')
    op.drop_index(op.f('ix_ledger_entries_subject_index'), table_name='ledger_entries')
    op.drop_index(op.f('ix_ledger_entries_purpose'), table_name='ledger_entries')
    op.drop_index(op.f('ix_ledger_entries_grantee_org_id'), table_name='ledger_entries')
    op.drop_index(op.f('ix_ledger_entries_consent_id'), table_name='ledger_entries')
    op.drop_index(op.f('ix_ledger_entries_at'), table_name='ledger_entries')
    op.drop_table('ledger_entries')
    op.drop_table('ledger_checkpoints')
