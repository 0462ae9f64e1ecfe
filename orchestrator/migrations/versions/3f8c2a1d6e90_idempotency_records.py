"""idempotency records: commands sent with an Idempotency-Key and their answers

Revision ID: 3f8c2a1d6e90
Revises: 7b2d4e6f8a10
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

from integrations.db import UTCDateTime

revision = '3f8c2a1d6e90'
down_revision = '7b2d4e6f8a10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'idempotency_record',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('caller', sa.String(length=200), nullable=False),
        sa.Column('route', sa.String(length=300), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('caller', 'route', 'key', name='uq_idempotency_record_caller_route_key'),
    )
    op.create_index('ix_idempotency_record_created_at', 'idempotency_record', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_idempotency_record_created_at', table_name='idempotency_record')
    op.drop_table('idempotency_record')
