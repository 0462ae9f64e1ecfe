"""spreadsheet imports: spreadsheet_import (an upload, its errors and progress) and spreadsheet_import_row

Revision ID: c7e3a1f9d2b4
Revises: b5d2f7a9c311
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

from integrations.db import UTCDateTime

revision = 'c7e3a1f9d2b4'
down_revision = 'b5d2f7a9c311'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'spreadsheet_import',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('total_rows', sa.Integer(), nullable=False),
        sa.Column('valid_rows', sa.Integer(), nullable=False),
        sa.Column('error_count', sa.Integer(), nullable=False),
        sa.Column('errors', sa.JSON(), nullable=False),
        sa.Column('columns', sa.JSON(), nullable=False),
        sa.Column('requested_by', sa.String(length=200), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=True),
        sa.Column('finished_at', UTCDateTime(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('failed', sa.Integer(), nullable=False),
        sa.Column('failures', sa.JSON(), nullable=False),
        sa.Column('locked_until', UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_spreadsheet_import_status', 'spreadsheet_import', ['status'])
    op.create_table(
        'spreadsheet_import_row',
        sa.Column('import_id', sa.Integer(), sa.ForeignKey('spreadsheet_import.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('row_number', sa.Integer(), nullable=False),
        sa.Column('values', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('import_id', 'row_number'),
    )


def downgrade() -> None:
    op.drop_table('spreadsheet_import_row')
    op.drop_index('ix_spreadsheet_import_status', table_name='spreadsheet_import')
    op.drop_table('spreadsheet_import')
