"""history chain head on the instance row

Revision ID: c3f1a9d27e55
Revises: 4cf24a7f5e90
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import integrations.db  # noqa: F401
import orchestrator.db  # noqa: F401


revision = 'c3f1a9d27e55'
down_revision = '4cf24a7f5e90'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('history_head', sa.String(length=64), nullable=True))
    # existing instances continue their chain from their last event
    op.execute(
        "UPDATE process_instance SET history_head = ("
        "SELECT history_event.hash FROM history_event WHERE history_event.instance_id = process_instance.id "
        "ORDER BY history_event.seq DESC LIMIT 1)"
    )


def downgrade() -> None:
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_column('history_head')
