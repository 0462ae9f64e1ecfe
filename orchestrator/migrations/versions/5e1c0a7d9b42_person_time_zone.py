"""person time zone

Revision ID: 5e1c0a7d9b42
Revises: dbeb92f19ffb
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = '5e1c0a7d9b42'
down_revision = 'dbeb92f19ffb'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user') as batch_op:
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('user') as batch_op:
        batch_op.drop_column('time_zone')
