"""Rows a command inserts with plain Core statements once its instance row is written.

Inbox rows and the case-search row refer to the instance, which a starting command inserts last (with its
history head); they are collected while the effects are derived and inserted right after the instance row,
one executemany per table, without the ORM's unit of work.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Insert, Table, insert

if TYPE_CHECKING:
    from orchestrator.engine import CommandContext

_PENDING = "loopline_pending_rows"


@cache
def _insert(table: Table) -> Insert:
    return insert(table)  # one statement object per table: its cache key is computed once


def insert_later(ctx: CommandContext, table: Table, rows: list[dict[str, Any]]) -> None:
    """Have `rows` inserted into `table` when the command writes its instance row (see `insert_pending`)."""
    if not rows:
        return
    held = ctx.session.info.get(_PENDING)
    if held is None or held[0] is not ctx:  # rows of an earlier command that failed in this session are dropped
        held = ctx.session.info[_PENDING] = (ctx, {})
    held[1].setdefault(table, []).extend(rows)


def insert_pending(ctx: CommandContext) -> None:
    """Insert the rows this command collected, in the order their tables were first given."""
    held = ctx.session.info.pop(_PENDING, None)
    if held is None or held[0] is not ctx:
        return
    connection = ctx.session.connection()
    for table, rows in held[1].items():
        connection.execute(_insert(table), rows)
