"""signed history heads and audit checkpoints

Revision ID: e5a7c3b19d04
Revises: 3f8c2a1d6e90
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa
import integrations.db  # noqa: F401
import orchestrator.db  # noqa: F401


revision = 'e5a7c3b19d04'
down_revision = '3f8c2a1d6e90'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('history_count', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('history_signature', sa.String(length=64), nullable=True))
    # existing chains keep their length; their heads stay unsigned until `loopline audit sign-heads`
    op.execute(
        "UPDATE process_instance SET history_count = ("
        "SELECT count(*) FROM history_event WHERE history_event.instance_id = process_instance.id)"
    )
    op.create_table('audit_checkpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', orchestrator.db.UTCDateTime(), nullable=False),
    sa.Column('entries', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('audit_checkpoint')
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_column('history_signature')
        batch_op.drop_column('history_count')
