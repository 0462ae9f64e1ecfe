"""batch operations: cancel, retry or migrate a fixed list of cases, with progress

Revision ID: 9c4e2b7d1f60
Revises: 8a1f0c3d5b27
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from integrations.db import UTCDateTime

revision = '9c4e2b7d1f60'
down_revision = '8a1f0c3d5b27'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batch_operations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('instance_ids', sa.JSON(), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('failures', sa.JSON(), nullable=False),
    sa.Column('locked_until', UTCDateTime(), nullable=True),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('batch_operations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_operations_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('batch_operations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_operations_status'))
    op.drop_table('batch_operations')
