"""Timer sweep cost and punctuality: O(due) with an index, due timers fire within a second."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from sqlalchemy import insert, select, text

from orchestrator.clock import SystemClock
from orchestrator.models import ProcessInstance
from tasks.scheduler import run_scheduler
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect
from tests.support.waiting import wait_for

BACKLOG = 10_000


def clone_waiting_instances(engine, template: ProcessInstance, count: int, due_in: timedelta) -> None:
    """Copy one real waiting instance many times (same state, own ids) far faster than starting each."""
    now = engine.now()
    rows = [dict(id=str(uuid.uuid4()), definition_id=template.definition_id, business_key=f"BULK-{i}",
                 status="running", version=1, state=template.state, next_timer_at=now + due_in,
                 started_by="bulk", started_at=now, variables={}) for i in range(count)]
    with engine.db.transaction() as session:
        for start in range(0, count, 1000):
            session.execute(insert(ProcessInstance), rows[start:start + 1000])


def query_plan(engine, query) -> str:
    compiled = query.compile(engine.db.engine, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if engine.db.engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.db.engine.connect() as connection:
        return " ".join(" ".join(str(c) for c in row) for row in connection.execute(text(prefix + str(compiled))))


def test_sweep_with_nothing_due_touches_no_instance_rows(make_engine, database):
    engine = make_engine(database)
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    template = engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 9000, "customer": "x"})
    clone_waiting_instances(engine, inspect.instance(engine, template.id), BACKLOG, timedelta(days=3))
    with engine.db.engine.begin() as connection:
        connection.execute(text("ANALYZE" if engine.db.engine.dialect.name == "sqlite" else "ANALYZE process_instance"))
    versions_before = _versions(engine)

    assert engine.timers.fire_due_timers() == []
    assert _versions(engine) == versions_before

    plan = query_plan(engine, engine.timers.due_instances_query(engine.now()))
    assert "ix_process_instance_due_timer" in plan, plan


def _versions(engine) -> dict[str, int]:
    with engine.db.transaction() as session:
        return dict(session.execute(select(ProcessInstance.id, ProcessInstance.version)).all())


def test_due_timers_fire_within_a_second(make_engine, database):
    """With 10,000 other instances waiting on timers days away, due timers still fire at most 1 s late."""
    engine = make_engine(database, clock=SystemClock(), timer_sweep_interval=1.0)
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    template = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="TEMPLATE",
                                     variables={"amount": 9000, "customer": "x"})
    clone_waiting_instances(engine, inspect.instance(engine, template.id), BACKLOG, timedelta(days=3))
    with engine.db.engine.begin() as connection:
        connection.execute(text("ANALYZE" if engine.db.engine.dialect.name == "sqlite" else "ANALYZE process_instance"))
    backlog_before = _versions(engine)
    assert len(backlog_before) == BACKLOG + 1

    started = [engine.instances.start_instance("refund_claim", actor=ADMIN, business_key=f"T-{i}",
                                     variables={"amount": 9000, "customer": "x"}) for i in range(10)]
    due = {row.id: inspect.instance(engine, row.id).next_timer_at for row in started}
    stop = threading.Event()
    sweeper = threading.Thread(target=run_scheduler, args=(engine, stop), daemon=True)
    sweeper.start()
    try:
        wait_for(lambda: all("remind_timer" in inspect.completed_elements(engine, i) for i in due), timeout=15,
                 what="reminders")
    finally:
        stop.set()
        sweeper.join(timeout=5)
    for instance_id, due_at in due.items():
        fired = next(e.at for e in inspect.history(engine, instance_id)
                     if e.type == "element_completed" and e.element_id == "remind_timer")
        lateness = (fired - due_at).total_seconds()
        assert -0.1 <= lateness <= 1.0, (instance_id, lateness)
    backlog_after = _versions(engine)
    untouched = [i for i, version in backlog_before.items() if i != template.id and backlog_after[i] != version]
    assert untouched == []  # none of the 10,000 not-yet-due instances was claimed or changed
