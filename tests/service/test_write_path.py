"""One unit of work: every command locks, (restores,) changes, writes version+1 and history, wakes after commit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.actors import Actor
from orchestrator.errors import Conflict
from orchestrator.models import Job, JobStatus
from orchestrator.settings import RetryPolicy
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect

ORCHESTRATOR = Path(__file__).resolve().parents[2] / "orchestrator"
# the unit of work (`EngineCore.command` and the writers it calls) and the history table's own module
WRITE_PATH = {"engine.py", "history.py"}
MANAGER = Actor("mia", groups=frozenset({"sales_manager"}), roles=frozenset({"staff"}))


def _writes_outside_the_write_path(path: Path) -> list[str]:
    """Places in one module that bump an instance version or append history by themselves."""
    found = []
    allowed = path.is_relative_to(ORCHESTRATOR) and path.relative_to(ORCHESTRATOR).as_posix() in WRITE_PATH

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            where = f"{path.name}:{getattr(child, 'lineno', '?')} in {function or 'module'}"
            if isinstance(child, ast.AugAssign | ast.Assign | ast.AnnAssign) and not allowed:
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                if any(isinstance(t, ast.Attribute) and t.attr == "version" for t in targets):
                    found.append(f"{where}: sets .version")
            if isinstance(child, ast.Call) and not allowed:
                name = child.func.attr if isinstance(child.func, ast.Attribute) else getattr(child.func, "id", "")
                if name == "append_events":
                    found.append(f"{where}: calls append_events")
                if name == "HistoryEvent":
                    found.append(f"{where}: builds a HistoryEvent row")
                if name in ("values", "update") and any(k.arg == "version" for k in child.keywords):
                    found.append(f"{where}: writes version= in an UPDATE")
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), None)
    return found


def test_only_the_write_path_bumps_versions_and_appends_history():
    """No module beside the unit of work in engine.py bumps an instance version or appends history."""
    offenders = [hit for path in sorted(ORCHESTRATOR.rglob("*.py")) for hit in _writes_outside_the_write_path(path)]
    assert offenders == []


def test_the_check_finds_a_hand_rolled_write(tmp_path):
    rogue = tmp_path / "engine.py"  # outside orchestrator/: the name alone allows nothing
    rogue.write_text(
        "def cancel(session, row, events):\n"
        "    row.version += 1\n"
        "    append_events(session, row.id, None, events)\n"
        "    session.execute(update(X).values(version=2))\n"
    )
    assert len(_writes_outside_the_write_path(rogue)) == 3


@pytest.fixture
def serializer_calls(engine, monkeypatch) -> dict[str, int]:
    """How often the engine deserialised and serialised workflow state."""
    calls = {"loads": 0, "dumps": 0}
    for name in calls:
        original = getattr(engine.serializer, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(engine.serializer, name, counted)
    return calls


def _version(engine, instance_id: str) -> int:
    return inspect.instance(engine, instance_id).version


def test_bookkeeping_commands_neither_restore_nor_store_the_workflow(engine, serializer_calls):
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="B", variables={"amount": 9000, "customer": "c"})
    [task] = inspect.open_tasks(engine, row.id)
    serializer_calls.update(loads=0, dumps=0)
    commands = [
        ("comment_added", lambda: engine.comments.add_comment(row.id, "called the customer", actor=ADMIN)),
        ("task_claimed", lambda: engine.tasks.claim_task(task.id, actor=MANAGER)),
        ("task_unclaimed", lambda: engine.tasks.unclaim_task(task.id, actor=MANAGER)),
        ("task_assigned", lambda: engine.tasks.assign_task(task.id, "mia", actor=ADMIN)),
        ("instance_suspended", lambda: engine.instances.suspend_instance(row.id, actor=ADMIN)),
        ("instance_resumed", lambda: engine.instances.resume_instance(row.id, actor=ADMIN)),
    ]
    for event, command in commands:
        before = _version(engine, row.id)
        command()
        assert _version(engine, row.id) == before + 1, event
        assert inspect.history(engine, row.id)[-1].type == event
    assert serializer_calls == {"loads": 0, "dumps": 0}
    assert engine.queries.verify_history(ADMIN, row.id) is None  # the chain runs on through the bookkeeping events

    engine.tasks.complete_user_task(task.id, {"approved": True}, actor=MANAGER)
    assert serializer_calls == {"loads": 1, "dumps": 1}  # a command that runs the workflow restores and stores it


def test_job_bookkeeping_neither_restores_nor_stores_the_workflow(make_engine, database, ledger, monkeypatch):
    engine = make_engine(database, topic_retry={"test.refund": RetryPolicy(max_attempts=2, backoff_base=0.001,
                                                                           backoff_max=0.001)})
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    ledger.script("test.refund", "transient", "transient")
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="J", variables={"amount": 10, "customer": "c"})
    loads = []
    original = engine.serializer.loads
    monkeypatch.setattr(engine.serializer, "loads", lambda *args: loads.append(1) or original(*args))
    before = _version(engine, row.id)
    [job] = inspect.jobs(engine, row.id)
    engine.clock.advance(seconds=1)
    assert engine.jobs.run_job(job.id, "w") == "retry"
    engine.clock.advance(seconds=1)
    assert engine.jobs.run_job(job.id, "w") == "incident"
    [incident] = engine.queries.open_incidents(ADMIN)
    engine.jobs.retry_incident(incident.id, actor=ADMIN)
    assert loads == []
    assert _version(engine, row.id) == before + 3  # retry scheduled, incident opened, incident retried
    assert engine.jobs.run_job(job.id, "w") == "completed"
    assert loads == [1]
    assert engine.queries.verify_history(ADMIN, row.id) is None


def test_a_command_that_records_nothing_writes_nothing(engine):
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="N", variables={"amount": 10, "customer": "c"})
    [job] = inspect.jobs(engine, row.id)
    before, events = _version(engine, row.id), len(inspect.history(engine, row.id))
    engine.jobs.open_incident(job.id, "not this worker's job", token="someone-else")  # not running: nothing to park
    assert (_version(engine, row.id), len(inspect.history(engine, row.id))) == (before, events)


def _committed_statuses(engine, job_ids: list[int]) -> list[str]:
    """What another connection sees of these jobs: only committed rows."""
    with engine.db.reading() as session:
        return list(session.scalars(select(Job.status).where(Job.id.in_(job_ids)).order_by(Job.id)))


def test_workers_are_woken_after_the_commit_of_a_command_and_of_a_timer_sweep(engine, clock):
    woken: list[tuple[list[int], list[str]]] = []
    engine.wake = lambda ids: woken.append((list(ids), _committed_statuses(engine, ids)))
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="W", variables={"amount": 9000, "customer": "c"})
    clock.advance(seconds=2)
    assert engine.timers.fire_due_timers() == [row.id]  # the sweep runs the command in its own transaction
    [reminder] = inspect.jobs(engine, row.id)
    assert woken == [([reminder.id], [JobStatus.PENDING])]
    [task] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(task.id, {"approved": True}, actor=MANAGER)
    refund = next(j for j in inspect.jobs(engine, row.id) if j.topic == "test.refund")
    assert woken[1:] == [([refund.id], [JobStatus.PENDING])]


def test_with_an_outer_session_workers_wake_only_when_it_commits(engine):
    woken: list[list[int]] = []
    engine.wake = lambda ids: woken.append(list(ids))
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="O", variables={"amount": 10, "customer": "c"})
    [job] = inspect.jobs(engine, row.id)
    woken.clear()
    with engine.db.transaction() as session:
        with engine.command(row.id, ADMIN, session=session, restore=False) as ctx:
            ctx.record("nudged")
            ctx.wake([job.id])
        assert woken == []  # the command is written, but the caller has not committed yet
    assert woken == [[job.id]]

    before = _version(engine, row.id)
    with pytest.raises(Conflict), engine.db.transaction() as session:
        with engine.command(row.id, ADMIN, session=session, restore=False) as ctx:
            ctx.record("nudged")
            ctx.wake([job.id])
        raise Conflict("the caller fails after the command")
    assert woken == [[job.id]]  # rolled back: nobody is woken, nothing is written
    assert _version(engine, row.id) == before
