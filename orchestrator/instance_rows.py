"""The instance row: locked once per transaction, written once per command.

A command's statements are few because everything it needs is on this row: the state, the version, the
case's variables and the head of its history chain. It is read with the lock, and written last, in one
versioned UPDATE (or the INSERT of a new instance) that carries every column the command changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, bindparam, insert, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from orchestrator.changed_rows import keep_as_loaded, write_changed_rows
from orchestrator.effects import NewJob, insert_jobs
from orchestrator.errors import Conflict
from orchestrator.models import CaseSearch, HumanTask, Job, ProcessInstance
from orchestrator.pending_rows import insert_later, insert_pending

if TYPE_CHECKING:
    from orchestrator.engine import CommandContext

_LOCKED = "loopline_locked_instances"
_TABLE = ProcessInstance.__table__



def _lock_where(instance_id: ColumnElement[str]):
    return (select(ProcessInstance).where(ProcessInstance.id == instance_id).with_for_update()
            .execution_options(populate_existing=True))


# Built once: a statement's cache key is computed on every execution unless the statement object is reused.
_LOCK_BY_ID = _lock_where(bindparam("key"))
# the instance of a task or of a job, locked in the statement that finds it
_LOCK_BY_OWNER = {owner: _lock_where(select(owner.instance_id).where(owner.id == bindparam("key")).scalar_subquery())
                  for owner in (HumanTask, Job)}
# The columns to set are the parameters given (besides the two below), so one statement serves every command.
_VERSIONED_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("where_id"),
                                         _TABLE.c.version == bindparam("where_version"))
_INSERT_INSTANCE = insert(_TABLE)
_CASES = CaseSearch.__table__
_UPDATE_CASE_TEXT = update(_CASES).where(_CASES.c.instance_id == bindparam("where_id"))


def lock_instance(session: Session, key: str | int, *, of: type[HumanTask | Job] | None = None
                  ) -> ProcessInstance | None:
    """The instance row, read fresh and locked until the transaction ends (SELECT … FOR UPDATE on PostgreSQL;
    on SQLite the transaction already holds the write lock). `key` is the instance's id, or with `of`
    (HumanTask or Job) the id of the task or job whose instance is meant. A row this transaction already locked is returned
    without a statement."""
    transaction = session.get_transaction()
    held = session.info.get(_LOCKED)
    if held is None or held[0] is not transaction:
        held = session.info[_LOCKED] = (transaction, {})
    rows: dict[str, ProcessInstance] = held[1]
    if of is None and key in rows:
        return rows[key]
    row = session.scalars(_LOCK_BY_ID if of is None else _LOCK_BY_OWNER[of], {"key": key}).one_or_none()
    if row is not None:
        rows[row.id] = row
    return row


def write_rows(ctx: CommandContext, values: dict[str, Any], new_jobs: list[NewJob]) -> bool:
    """What must precede the command's history: new jobs (their ids go into it; a new instance's row is
    inserted first, as they refer to it) and the case-search text, if it changed. Returns whether the
    instance is new (its `values` are then set on the row already)."""
    row, session = ctx.instance, ctx.session
    is_new = row in session.new
    old_text = None if is_new else ctx.definition.search_text(row.business_key, row.variables or {})
    with session.no_autoflush:
        if is_new:
            for key, value in values.items():
                setattr(row, key, value)
            if new_jobs:
                _insert_instance(session, row)  # the chain head follows in a second, small UPDATE of the new row
        insert_jobs(ctx, new_jobs)
        _index_case(ctx, old_text, values["variables"])
    return is_new


def write_instance(ctx: CommandContext, values: dict[str, Any], old_version: int, is_new: bool) -> None:
    """Write the instance row once, after the history: `values` (state, version, variables), the chain head
    and every other column the command changed, in one UPDATE that checks the version (Conflict if another
    command saved the instance meanwhile); a new instance is inserted instead. Then the rows that refer to
    it (see pending_rows)."""
    row, session = ctx.instance, ctx.session
    if row in session.new:
        _insert_instance(session, row)
    else:
        state = inspect(row)
        # the attributes set since the row was loaded (committed_state holds their old values); a column whose
        # value was set back to what it was is written again, which is harmless
        changed = {key: state.dict[key] for key in state.committed_state if key in state.dict}
        if is_new:  # inserted early, for its jobs: only what changed since (the chain head)
            old_version = values["version"]
        else:
            changed.update(values)
        # a Core UPDATE on the session's connection: no ORM bookkeeping, and no flush (which would write the
        # changed columns a second time)
        result = session.connection().execute(_VERSIONED_UPDATE, {**changed, "where_id": row.id,
                                                                  "where_version": old_version})
        if result.rowcount != 1:
            raise Conflict(f"process instance '{row.id}' was changed by another command; retry")
        for key, value in changed.items():  # the row matches the database: nothing left to write
            set_committed_value(row, key, value)
    insert_pending(ctx)
    write_changed_rows(session)  # this row (now as stored) and the task or job rows the command changed


def _insert_instance(session: Session, row: ProcessInstance) -> None:
    """INSERT a new (pending) instance with a Core statement, then keep it in the session as a persistent row
    holding exactly what was inserted (as a flush would, without the unit of work)."""
    state = inspect(row)
    values = {column.key: state.dict.get(column.key) for column in _TABLE.columns}
    for key, value in values.items():
        if key not in state.dict:  # unset columns are NULL: say so, or the row would reload them
            set_committed_value(row, key, value)
    session.connection().execute(_INSERT_INSTANCE, values)
    keep_as_loaded(session, row)


def _index_case(ctx: CommandContext, old_text: str | None, variables: dict[str, Any]) -> None:
    """Keep the inbox's search text; written only when it changed (None: a new case)."""
    row, session = ctx.instance, ctx.session
    text = ctx.definition.search_text(row.business_key, variables)
    if text == old_text:
        return
    updated = 0
    if old_text is not None:
        updated = session.connection().execute(_UPDATE_CASE_TEXT, {"where_id": row.id, "text": text}).rowcount
    if not updated:
        insert_later(ctx, _CASES, [{"instance_id": row.id, "text": text}])
