"""Rows a command changed through the ORM, written with one Core UPDATE each instead of the commit's flush.

A command changes a task or job row or two besides its instance; the unit of work that would write them at
commit costs several times the UPDATE itself (and walks the already written instance row again). Here each
changed row is updated by its primary key and then kept in the session as if freshly loaded, so the commit's
flush finds nothing to do. Rows this cannot handle (new or deleted ones, a composite key, a relationship
change) are left to the ORM as before.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, Update, bindparam, inspect, update
from sqlalchemy.orm import InstanceState, Session, make_transient, make_transient_to_detached


@cache
def _update_by_key(table: Table) -> Update:
    """One statement per table; the columns it sets are the parameters given, so it serves every change."""
    [key] = table.primary_key.columns
    return update(table).where(key == bindparam("where_key"))


def keep_as_loaded(session: Session, row: object) -> None:
    """Make `row` (transient, pending or persistent) a clean persistent row holding the values it has now, as
    though just read from the database: no attribute history, nothing for a flush to write."""
    make_transient(row)  # leaves the session and forgets its identity and history, keeping the values
    make_transient_to_detached(row)
    session.add(row)


def write_changed_rows(session: Session) -> None:
    """UPDATE every persistent row whose columns changed since it was loaded, then mark it clean."""
    connection = None
    for row in list(session.dirty):
        state: InstanceState = inspect(row)
        values = _changed_columns(state)
        if values is None:
            continue
        if values:
            connection = connection or session.connection()
            table = state.mapper.local_table
            [key] = state.mapper.primary_key_from_instance(row)
            connection.execute(_update_by_key(table), {**values, "where_key": key})
        keep_as_loaded(session, row)


def _changed_columns(state: InstanceState) -> dict[str, Any] | None:
    """{column key: new value} of a plain persistent row's changed columns; None when the ORM must write it."""
    mapper = state.mapper
    if state.deleted or not state.persistent or len(mapper.primary_key) != 1 or mapper.local_table is not \
            mapper.persist_selectable or state.expired_attributes:
        return None
    columns, keys = mapper.column_attrs, {mapper.get_property_by_column(c).key for c in mapper.primary_key}
    values = {}
    for key in state.committed_state:
        if key not in columns or key in keys:  # a relationship, a collection or the identity changed
            return None
        if key in state.dict:
            [column] = columns[key].columns
            values[column.key] = state.dict[key]
    return values
