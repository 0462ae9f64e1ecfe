"""Time spent per element, counted by the commands into log-scale histograms (table `element_stat`).

A command that finishes elements adds one pass per element to the bucket of its duration, and one pass per
flow it took (``source>target``, bucket -1), in a single upsert. Medians and p90s are read back from the
buckets (`quantile`): within one bucket's width (about 19 %), at a cost independent of how many cases ran.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.task import TaskState
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from orchestrator.metric_models import ElementStat

if TYPE_CHECKING:
    from orchestrator.engine import CommandContext

BUCKETS_PER_DOUBLING = 4
FLOW_BUCKET = -1
SHARDS = 8  # concurrent commands on the same element mostly write different rows
_LIVE = TaskState.WAITING | TaskState.READY | TaskState.STARTED
SINCE_MARK = "loopline_since"


def bucket_of(seconds: float) -> int:
    """0 for under a second; then 4 buckets per doubling of the duration (bucket 1 starts at 1 s)."""
    if seconds < 1:
        return 0
    return 1 + int(math.floor(BUCKETS_PER_DOUBLING * math.log2(seconds)))


def bucket_seconds(bucket: int) -> float:
    """A representative duration of a bucket: the geometric middle of its bounds (0.5 s for bucket 0)."""
    if bucket <= 0:
        return 0.5 if bucket == 0 else 0.0
    low = 2 ** ((bucket - 1) / BUCKETS_PER_DOUBLING)
    return low * 2 ** (0.5 / BUCKETS_PER_DOUBLING)


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a {bucket: passes} histogram, as a duration in seconds; None if empty."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_seconds(bucket)
    return bucket_seconds(max(histogram))


def merged(rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    """{bucket: passes} summed over (bucket, passes) rows, e.g. of several shards or versions."""
    histogram: dict[int, int] = {}
    for bucket, passes in rows:
        histogram[bucket] = histogram.get(bucket, 0) + passes
    return histogram


@dataclass(frozen=True)
class Pass:
    """An element a command finished: when it began waiting (None: within this command) and its due date."""

    element_id: str
    source_id: str | None  # the element the token came from, for the flow between them
    since: datetime | None
    due_at: datetime | None


def stamp_live(tasks: Iterable[Any], now: datetime) -> None:
    """Note on each task that just began waiting (ready, waiting or started) when it did, in the engine's
    clock: SpiffWorkflow's own timestamps use the wall clock, which tests and re-execution do not set."""
    moment = now.timestamp()
    for task in tasks:
        if task.state & _LIVE and SINCE_MARK not in task.internal_data:
            task.internal_data[SINCE_MARK] = moment


def since_of(task) -> datetime | None:
    """When a task began waiting, if it waited across commands (see stamp_live)."""
    moment = task.internal_data.get(SINCE_MARK)
    return datetime.fromtimestamp(moment, tz=UTC) if moment is not None else None


def source_element(task) -> str | None:
    """The nearest earlier BPMN element of a task in the tree (skipping the engine's own helper tasks)."""
    parent = task.parent
    while parent is not None:
        element = getattr(parent.task_spec, "bpmn_id", None)
        if element:
            return element
        parent = parent.parent
    return None


def stat_rows(definition_id: int, passes: Iterable[Pass], now: datetime) -> list[dict[str, Any]]:
    """The upsert rows of one command: passes summed per (element, bucket) and per flow, all in one random
    shard, sorted so concurrent commands lock rows in the same order."""
    shard = random.randrange(SHARDS)
    sums: dict[tuple[str, int], list[float]] = {}
    for item in passes:
        seconds = max(0.0, (now - item.since).total_seconds()) if item.since else 0.0
        late = 1 if item.due_at is not None and item.due_at < now else 0
        total = sums.setdefault((item.element_id, bucket_of(seconds)), [0, 0, 0.0])
        total[0] += 1
        total[1] += late
        total[2] += seconds
        if item.source_id:
            flow = sums.setdefault((f"{item.source_id}>{item.element_id}"[:401], FLOW_BUCKET), [0, 0, 0.0])
            flow[0] += 1
    return [dict(definition_id=definition_id, element_id=element, bucket=bucket, shard=shard,
                 passes=int(count), overdue=int(late), seconds=seconds)
            for (element, bucket), (count, late, seconds) in sorted(sums.items())]


def upsert_statement(dialect: str):
    """INSERT … ON CONFLICT DO UPDATE adding the new counts to the row's (PostgreSQL and SQLite)."""
    return _UPSERTS[dialect]()


def _upsert(insert_function):
    def build():
        statement = insert_function(ElementStat.__table__)
        added = statement.excluded
        table = ElementStat.__table__
        return statement.on_conflict_do_update(
            index_elements=[table.c.definition_id, table.c.element_id, table.c.bucket, table.c.shard],
            set_={"passes": table.c.passes + added.passes, "overdue": table.c.overdue + added.overdue,
                  "seconds": table.c.seconds + added.seconds})
    return cache(build)


_UPSERTS = {"postgresql": _upsert(postgresql_insert), "sqlite": _upsert(sqlite_insert)}


def record_passes(ctx: CommandContext) -> None:
    """Add the command's finished elements and taken flows to the histograms, in one statement."""
    if not ctx.passes:
        return
    connection = ctx.session.connection()
    connection.execute(upsert_statement(connection.dialect.name),
                       stat_rows(ctx.instance.definition_id, ctx.passes, ctx.now))
