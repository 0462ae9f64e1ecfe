"""quality events (complaints, repairs), the cases linked to a CAPA and what each recall-signal evaluation saw

Revision ID: 7d3e9b2c4f18
Revises: a4c8e2f61b37
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from integrations.db import UTCDateTime

revision = '7d3e9b2c4f18'
down_revision = 'a4c8e2f61b37'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quality_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('product_model', sa.String(length=100), nullable=False),
    sa.Column('lot_number', sa.String(length=100), nullable=True),
    sa.Column('fault_code', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('capa_instance_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'reference', name='uq_quality_event_kind_reference')
    )
    with op.batch_alter_table('quality_event', schema=None) as batch_op:
        batch_op.create_index('ix_quality_event_fault_lot', ['fault_code', 'lot_number'], unique=False)
        batch_op.create_index('ix_quality_event_fault_model', ['fault_code', 'product_model'], unique=False)
        batch_op.create_index(batch_op.f('ix_quality_event_occurred_at'), ['occurred_at'], unique=False)
    op.create_table('capa_case_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('capa_instance_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('lot_number', sa.String(length=100), nullable=False),
    sa.Column('fault_code', sa.String(length=100), nullable=False),
    sa.Column('joined', sa.Boolean(), nullable=False),
    sa.Column('linked_at', UTCDateTime(), nullable=False),
    sa.Column('linked_by', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('capa_instance_id', 'kind', 'reference', name='uq_capa_case_link_case')
    )
    with op.batch_alter_table('capa_case_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capa_case_link_capa_instance_id'), ['capa_instance_id'], unique=False)
    op.create_table('signal_evaluation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('scope_value', sa.String(length=100), nullable=False),
    sa.Column('fault_code', sa.String(length=100), nullable=False),
    sa.Column('evaluated_at', UTCDateTime(), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('cases', sa.JSON(), nullable=False),
    sa.Column('new_cases', sa.Integer(), nullable=False),
    sa.Column('recall_instance_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('signal_evaluation', schema=None) as batch_op:
        batch_op.create_index('ix_signal_evaluation_key', ['scope', 'scope_value', 'fault_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signal_evaluation', schema=None) as batch_op:
        batch_op.drop_index('ix_signal_evaluation_key')
    op.drop_table('signal_evaluation')
    with op.batch_alter_table('capa_case_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capa_case_link_capa_instance_id'))
    op.drop_table('capa_case_link')
    with op.batch_alter_table('quality_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quality_event_occurred_at'))
        batch_op.drop_index('ix_quality_event_fault_model')
        batch_op.drop_index('ix_quality_event_fault_lot')
    op.drop_table('quality_event')
