"""notification claims: who is sending a message and since when

Revision ID: 7b2d4e6f8a10
Revises: 5e1c0a7d9b42
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

from integrations.db import UTCDateTime

revision = '7b2d4e6f8a10'
down_revision = '5e1c0a7d9b42'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notification') as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', UTCDateTime(), nullable=True))
        batch_op.create_index('ix_notification_campaign_status', ['campaign_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notification') as batch_op:
        batch_op.drop_index('ix_notification_campaign_status')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claim_token')
