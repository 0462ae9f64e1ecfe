"""timer start schedules

Revision ID: dbeb92f19ffb
Revises: c3f1a9d27e55
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa
import integrations.db  # noqa: F401
import orchestrator.db  # noqa: F401

revision = 'dbeb92f19ffb'
down_revision = 'c3f1a9d27e55'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('start_timer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('element_id', sa.String(length=200), nullable=False),
    sa.Column('next_due_at', integrations.db.UTCDateTime(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.JSON(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', integrations.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['definition_id'], ['process_definition.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('definition_id', 'element_id', name='uq_start_timer_definition_element')
    )
    with op.batch_alter_table('start_timer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_start_timer_definition_id'), ['definition_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_start_timer_next_due_at'), ['next_due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('start_timer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_start_timer_next_due_at'))
        batch_op.drop_index(batch_op.f('ix_start_timer_definition_id'))

    op.drop_table('start_timer')
