"""SQL statements per command, counted with an SQLAlchemy `before_cursor_execute` listener.

One statement = one cursor execution: an executemany (e.g. a bulk insert of history rows) counts once, SQLite's
explicit `BEGIN IMMEDIATE` counts, COMMIT (a driver call, not a statement) does not.
`state_writes` counts the statements (rows, for an executemany) that write `process_instance.state`.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine as SqlEngine

from bench.backends import QA
from orchestrator.clock import ManualClock
from orchestrator.models import InstanceStatus, JobStatus
from orchestrator.service import Engine

_INSTANCE_UPDATE = re.compile(r'^\s*UPDATE\s+"?process_instance"?\s+SET\s+(?P<assignments>.*?)\s+WHERE\s', re.I | re.S)
_INSTANCE_INSERT = re.compile(r'^\s*INSERT\s+INTO\s+"?process_instance"?\s*\((?P<columns>[^)]*)\)', re.I | re.S)
_STATE_ASSIGNMENT = re.compile(r'(?:^|[\s,"])state"?\s*=', re.I)


def writes_state(statement: str) -> bool:
    """Whether a statement writes the instance's state column."""
    update = _INSTANCE_UPDATE.match(statement)
    if update:
        return bool(_STATE_ASSIGNMENT.search(update["assignments"]))
    insert = _INSTANCE_INSERT.match(statement)
    return bool(insert) and "state" in {c.strip().strip('"').lower() for c in insert["columns"].split(",")}


@dataclass
class StatementCount:
    statements: int = 0
    state_writes: int = 0
    by_kind: Counter = field(default_factory=Counter)


class StatementCounter:
    """Count what one command sends to the database; nothing else may use the engine meanwhile."""

    def __init__(self, sql_engine: SqlEngine):
        self.sql_engine = sql_engine
        self.current: StatementCount | None = None
        event.listen(sql_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn, _cursor, statement, parameters, _context, executemany) -> None:
        if self.current is None:
            return
        self.current.statements += 1
        self.current.by_kind[statement.split(None, 1)[0].upper()] += 1
        if writes_state(statement):
            self.current.state_writes += len(parameters) if executemany else 1

    def measure(self, command: Callable[[], Any]) -> tuple[StatementCount, Any]:
        """Run `command`; return what it sent and what it returned."""
        self.current = StatementCount()
        try:
            result = command()
        finally:
            count, self.current = self.current, None
        return count, result

    def close(self) -> None:
        event.remove(self.sql_engine, "before_cursor_execute", self._on_execute)


def one_of_each_command(engine: Engine, clock: ManualClock, counter: StatementCounter,
                        business_key: str) -> dict[str, StatementCount]:
    """Take one bench_steps instance through every kind of command; what each command sent."""
    counts: dict[str, StatementCount] = {}
    counts["start_instance"], row = counter.measure(
        lambda: engine.instances.start_instance("bench_steps", actor=QA, business_key=business_key))
    [task] = engine.queries.open_human_tasks_for(QA, row.id)
    counts["complete_user_task"], _ = counter.measure(
        lambda: engine.tasks.complete_user_task(task.id, {"ok": True}, actor=QA))
    [job] = engine.queries.jobs_of(QA, row.id, status=JobStatus.PENDING)
    counts["claim_job"], claimed = counter.measure(lambda: engine.jobs.claim_job(job.id, "bench"))
    counts["complete_job"], _ = counter.measure(
        lambda: engine.jobs.complete_job(job.id, token=claimed.token, result={"booked": True}))
    counts["correlate_message"], _ = counter.measure(
        lambda: engine.messages.correlate_message("BenchParcel", actor=QA, business_key=business_key))
    clock.advance(hours=2)
    counts["fire_due_timers"], fired = counter.measure(engine.timers.fire_due_timers)
    if fired != [row.id] or engine.queries.instance_for(QA, row.id)[0].status != InstanceStatus.COMPLETED:
        raise RuntimeError(f"bench_steps instance {row.id} did not run to its end (timers fired: {fired})")
    return counts


def statements_per_command(engine: Engine, clock: ManualClock, rounds: int) -> dict[str, dict[str, Any]]:
    """Median statements and state writes per command over `rounds` instances (after one warm-up instance)."""
    counter = StatementCounter(engine.db.engine)
    try:
        one_of_each_command(engine, clock, counter, "BENCH-WARMUP")
        samples = [one_of_each_command(engine, clock, counter, f"BENCH-{n}") for n in range(rounds)]
    finally:
        counter.close()
    figures = {}
    for command in samples[0]:
        counts = [sample[command] for sample in samples]
        statements = [c.statements for c in counts]
        typical = min(counts, key=lambda c: abs(c.statements - statistics.median(statements)))
        figures[command] = {
            "statements": statistics.median(statements), "statements_min": min(statements),
            "statements_max": max(statements),
            "state_writes": statistics.median(c.state_writes for c in counts),
            "by_kind": dict(typical.by_kind),
        }
    return figures
