"""signal subscriptions: message_subscription.kind tells a message wait from a signal wait

Revision ID: d9f4b2c6a8e1
Revises: c7e3a1f9d2b4
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

revision = 'd9f4b2c6a8e1'
down_revision = 'c7e3a1f9d2b4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message_subscription') as table:
        table.add_column(sa.Column('kind', sa.String(length=10), nullable=False, server_default='message'))
    op.create_index('ix_message_subscription_kind_name', 'message_subscription', ['kind', 'message_name'])


def downgrade() -> None:
    op.drop_index('ix_message_subscription_kind_name', table_name='message_subscription')
    with op.batch_alter_table('message_subscription') as table:
        table.drop_column('kind')
