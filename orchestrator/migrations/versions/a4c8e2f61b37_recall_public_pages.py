"""recall public pages and the registrations made on them

Revision ID: a4c8e2f61b37
Revises: 1123f0efc993
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from integrations.db import UTCDateTime

revision = 'a4c8e2f61b37'
down_revision = '1123f0efc993'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recall_public_page',
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('instance_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('public_id'),
    sa.UniqueConstraint('instance_id')
    )
    op.create_table('recall_registration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('instance_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('product', sa.String(length=200), nullable=False),
    sa.Column('lot_or_serial', sa.String(length=100), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('remedy', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['public_id'], ['recall_public_page.public_id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('recall_registration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recall_registration_instance_id'), ['instance_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('recall_registration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recall_registration_instance_id'))
    op.drop_table('recall_registration')
    op.drop_table('recall_public_page')
