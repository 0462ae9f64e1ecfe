"""modeler drafts, one person's unfinished edit of a model file

Revision ID: 8a1f0c3d5b27
Revises: 7d3e9b2c4f18
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from integrations.db import UTCDateTime

revision = '8a1f0c3d5b27'
down_revision = '7d3e9b2c4f18'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_drafts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('process_key', sa.String(length=200), nullable=True),
    sa.Column('file_name', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('based_on', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['based_on'], ['process_definition.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_drafts', schema=None) as batch_op:
        batch_op.create_index('ix_model_drafts_owner_process_key', ['owner', 'process_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('model_drafts', schema=None) as batch_op:
        batch_op.drop_index('ix_model_drafts_owner_process_key')
    op.drop_table('model_drafts')
