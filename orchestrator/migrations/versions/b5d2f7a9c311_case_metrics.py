"""management figures: case_metric, element_stat (heatmap histograms), sales_volume

Revision ID: b5d2f7a9c311
Revises: 9c4e2b7d1f60
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from integrations.db import UTCDateTime

revision = 'b5d2f7a9c311'
down_revision = '9c4e2b7d1f60'
branch_labels = None
depends_on = None

DIMENSIONS = ("sku", "lot", "reason", "region", "channel", "outcome", "grade", "disposition", "fault_code",
              "supplier", "severity")
AMOUNTS = ("quantity", "value", "recovered_value", "refund_amount", "cost_logistics", "cost_parts", "cost_labour")


def upgrade() -> None:
    op.create_table(
        'case_metric',
        sa.Column('instance_id', sa.String(length=36), sa.ForeignKey('process_instance.id'), nullable=False),
        sa.Column('process_key', sa.String(length=200), nullable=False),
        sa.Column('business_key', sa.String(length=200), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('ended_at', UTCDateTime(), nullable=True),
        sa.Column('stage', sa.String(length=50), nullable=True),
        *[sa.Column(name, sa.String(length=200), nullable=True) for name in DIMENSIONS],
        *[sa.Column(name, sa.Float(), nullable=True) for name in AMOUNTS],
        sa.Column('received_at', UTCDateTime(), nullable=True),
        sa.Column('resolved_at', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('instance_id'),
    )
    op.create_index('ix_case_metric_process_started', 'case_metric', ['process_key', 'started_at'])
    op.create_index('ix_case_metric_process_status', 'case_metric', ['process_key', 'status'])
    op.create_table(
        'element_stat',
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('element_id', sa.String(length=401), nullable=False),
        sa.Column('bucket', sa.SmallInteger(), nullable=False),
        sa.Column('shard', sa.SmallInteger(), nullable=False),
        sa.Column('passes', sa.Integer(), nullable=False),
        sa.Column('overdue', sa.Integer(), nullable=False),
        sa.Column('seconds', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('definition_id', 'element_id', 'bucket', 'shard'),
    )
    op.create_table(
        'sales_volume',
        sa.Column('sku', sa.String(length=200), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('region', sa.String(length=200), nullable=False),
        sa.Column('units', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('sku', 'month', 'region'),
    )


def downgrade() -> None:
    op.drop_table('sales_volume')
    op.drop_table('element_stat')
    op.drop_index('ix_case_metric_process_status', table_name='case_metric')
    op.drop_index('ix_case_metric_process_started', table_name='case_metric')
    op.drop_table('case_metric')
