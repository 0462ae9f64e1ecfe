"""trace event side tables (units, graph items) and the receiving source

Revision ID: 1123f0efc993
Revises: e5a7c3b19d04
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '1123f0efc993'
down_revision = 'e5a7c3b19d04'
branch_labels = None
depends_on = None

BATCH = 2000
MOVES = "biz_step = 'shipping' OR biz_step = 'destroying' OR disposition = 'destroyed'"
EVENTS = sa.table(
    'trace_event', sa.column('id', sa.Integer()), sa.column('kind', sa.String()), sa.column('action', sa.String()),
    sa.column('biz_step', sa.String()), sa.column('disposition', sa.String()), sa.column('sku', sa.String()), sa.column('lot', sa.String()),
    sa.column('epcs', sa.JSON()), sa.column('parent', sa.String()), sa.column('inputs', sa.JSON()),
    sa.column('outputs', sa.JSON()))


def upgrade() -> None:
    with op.batch_alter_table('trace_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('source_name', sa.String(length=200), nullable=True))
    op.create_table('trace_event_unit',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('epc', sa.String(length=100), nullable=False),
    sa.Column('biz_step', sa.String(length=40), nullable=True),
    sa.Column('disposition', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['trace_event.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('event_id', 'epc')
    )
    op.create_table('trace_event_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('lot', sa.String(length=100), nullable=False),
    sa.Column('epc', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=18, scale=3), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['trace_event.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    backfill(op.get_bind())
    # indexes after the back-fill: one build instead of a million updates
    with op.batch_alter_table('trace_event_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trace_event_unit_epc'), ['epc'], unique=False)
        batch_op.create_index('ix_trace_event_unit_moves', ['epc', 'biz_step', 'event_id'], unique=False,
                              postgresql_where=sa.text(MOVES), sqlite_where=sa.text(MOVES))
    with op.batch_alter_table('trace_event_item', schema=None) as batch_op:
        batch_op.create_index('ix_trace_event_item_event', ['event_id', 'role', 'sku', 'lot', 'epc'], unique=False)
        batch_op.create_index('ix_trace_event_item_node', ['epc', 'lot', 'sku', 'role', 'event_id'], unique=False)


def backfill(connection) -> None:
    """Derive the side-table rows of the events already recorded (the rule models.index_rows follows today)."""
    units_table = sa.table('trace_event_unit', sa.column('event_id'), sa.column('epc'), sa.column('biz_step'),
                           sa.column('disposition'))
    items_table = sa.table('trace_event_item', sa.column('event_id'), sa.column('role'), sa.column('sku'),
                           sa.column('lot'), sa.column('epc'), sa.column('quantity'))
    last = 0
    while True:
        events = connection.execute(sa.select(EVENTS).where(EVENTS.c.id > last).order_by(EVENTS.c.id)
                                    .limit(BATCH)).all()
        if not events:
            return
        units, items = [], []
        for event in events:
            epcs, rows = _rows(event)
            units += [{"event_id": event.id, "epc": epc, "biz_step": event.biz_step,
                       "disposition": event.disposition} for epc in epcs]
            items += [{"event_id": event.id, **row} for row in rows]
        if units:
            connection.execute(units_table.insert(), units)
        if items:
            connection.execute(items_table.insert(), items)
        last = events[-1].id


def _rows(event) -> tuple[list[str], list[dict]]:
    epcs = list(dict.fromkeys(str(epc) for epc in event.epcs or []))

    def lot(role, entry):
        return {"role": role, "sku": str(entry.get("sku") or ""), "lot": str(entry.get("lot") or ""), "epc": "",
                "quantity": entry.get("quantity")}

    def unit(role, epc):
        return {"role": role, "sku": "", "lot": "", "epc": epc, "quantity": None}

    if event.kind == "transformation":
        return epcs, ([lot("input", e) for e in event.inputs or []] + [unit("input", e) for e in epcs]
                      + [lot("output", e) for e in event.outputs or []])
    if event.kind == "object" and event.biz_step == "commissioning" and (event.sku or event.lot) and epcs:
        return epcs, [lot("input", {"sku": event.sku, "lot": event.lot})] + [unit("output", e) for e in epcs]
    if event.kind == "aggregation" and event.action == "ADD" and event.parent:
        return epcs, [unit("child", e) for e in epcs] + [unit("parent", event.parent)]
    return epcs, []


def downgrade() -> None:
    with op.batch_alter_table('trace_event_item', schema=None) as batch_op:
        batch_op.drop_index('ix_trace_event_item_node')
        batch_op.drop_index('ix_trace_event_item_event')
    op.drop_table('trace_event_item')
    with op.batch_alter_table('trace_event_unit', schema=None) as batch_op:
        batch_op.drop_index('ix_trace_event_unit_moves')
        batch_op.drop_index(batch_op.f('ix_trace_event_unit_epc'))
    op.drop_table('trace_event_unit')
    with op.batch_alter_table('trace_event', schema=None) as batch_op:
        batch_op.drop_column('source_name')
        batch_op.drop_column('source')
