"""SQL statements per command, counted with an SQLAlchemy event listener: a task completion stays within
eight statements and every command writes the instance state exactly once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text

from orchestrator.actors import Actor
from orchestrator.db import Database
from orchestrator.history import verify_chain
from orchestrator.migrate import upgrade
from orchestrator.models import InstanceStatus, ProcessInstance
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect

CLERK = Actor("carl", groups=frozenset({"customer_service"}), roles=frozenset({"staff"}))
MANAGER = Actor("mia", groups=frozenset({"sales_manager"}), roles=frozenset({"staff"}))
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
INSTANCE_WRITE = re.compile(r"^\s*(UPDATE process_instance SET|INSERT INTO process_instance)\s*(.*)", re.DOTALL)
STATE_COLUMN = re.compile(r"[\s(,]state[\s,=)]")
TASK_COMPLETION_BUDGET = 8


class Statements(list):
    """The statements one block of code sent to the database (transaction control left out)."""

    def instance_writes(self) -> list[str]:
        """Statements that write the instance row (INSERT or UPDATE of process_instance)."""
        return [statement for statement in self if INSTANCE_WRITE.match(statement)]

    def state_writes(self) -> list[str]:
        """Statements that write process_instance.state."""
        return [statement for statement in self.instance_writes()
                if STATE_COLUMN.search(" " + INSTANCE_WRITE.match(statement).group(2).split(" WHERE ")[0])]

    def written_once(self) -> bool:
        """The instance row is written by one statement, and it carries the state."""
        return len(self.instance_writes()) == 1 and len(self.state_writes()) == 1

    def describe(self) -> str:
        return "\n".join(f"  {' '.join(s.split())[:150]}" for s in self)


@contextmanager
def counting(engine, transaction_control: bool = False) -> Iterator[Statements]:
    statements = Statements()

    def before_cursor_execute(_conn, _cursor, statement, _parameters, _context, _executemany):
        if transaction_control or not TRANSACTION_CONTROL.match(statement):
            statements.append(statement)

    event.listen(engine.db.engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield statements
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", before_cursor_execute)


def report(backend: str, command: str, statements: Statements) -> None:
    print(f"\n{backend} {command}: {len(statements)} statements\n{statements.describe()}")


@pytest.fixture
def review_engine(make_engine, database):
    engine = make_engine(database)
    deploy_fixture(engine, "two_reviews.bpmn")
    return engine


def test_a_task_completion_is_eight_statements_at_most_and_writes_the_state_once(review_engine, backend):
    engine = review_engine
    with counting(engine) as started:
        row = engine.instances.start_instance("two_reviews", actor=ADMIN, business_key="CLAIM-1")
    report(backend, "start (user task next)", started)
    assert started.written_once(), started.describe()

    [check] = inspect.open_tasks(engine, row.id)
    with counting(engine) as completed:
        engine.tasks.complete_user_task(check.id, {"ok": True}, actor=CLERK)
    report(backend, "user-task completion (user task next)", completed)
    assert len(completed) <= TASK_COMPLETION_BUDGET, completed.describe()
    assert completed.written_once(), completed.describe()

    [approve] = inspect.open_tasks(engine, row.id)
    assert (approve.element_id, approve.candidate_groups) == ("approve", ["sales_manager"])
    with counting(engine) as finished:
        engine.tasks.complete_user_task(approve.id, {}, actor=MANAGER)
    report(backend, "user-task completion (end next)", finished)
    assert len(finished) <= TASK_COMPLETION_BUDGET, finished.describe()
    assert finished.written_once(), finished.describe()

    assert inspect.instance(engine, row.id).status == InstanceStatus.COMPLETED
    assert [e.type for e in inspect.history(engine, row.id)].count("task_completed") == 2
    with engine.db.transaction() as session:
        assert verify_chain(session, row.id) is None


def test_the_refund_claim_completion_start_job_and_message_write_the_state_once(make_engine, database, backend):
    engine = make_engine(database)
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    deploy_fixture(engine, "message_start.bpmn")

    with counting(engine) as started:
        row = engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 9000, "customer": "c"})
    report(backend, "start refund_claim (user task next)", started)
    assert started.written_once(), started.describe()

    [approve] = inspect.open_tasks(engine, row.id)
    with counting(engine) as completed:
        engine.tasks.complete_user_task(approve.id, {"approved": True, "approvedAmount": 9000}, actor=MANAGER)
    report(backend, "user-task completion refund_claim (service task next)", completed)
    assert completed.written_once(), completed.describe()

    [job] = inspect.jobs(engine, row.id)
    claimed = engine.jobs.claim_job(job.id, "worker-1")
    with counting(engine) as job_done:
        assert engine.jobs.complete_job(job.id, token=claimed.token, result={"refunded": True}) == "completed"
    report(backend, "job completion (message catch next)", job_done)
    assert job_done.written_once(), job_done.describe()

    with counting(engine) as by_message:
        started_by_message = engine.messages.correlate_message("ReturnFiled", actor=ADMIN, business_key="RMA-1",
                                                      variables={"rmaNumber": "R-1"})
    report(backend, "start by message", by_message)
    assert by_message.written_once(), by_message.describe()

    with counting(engine) as correlated:
        engine.messages.correlate_message("LabelPrinted", actor=ADMIN, correlation_keys={"rmaNumber": "R-1"})
    report(backend, "message correlation (user task next)", correlated)
    assert correlated.written_once(), correlated.describe()

    for instance_id in (row.id, started_by_message.instance_id):
        with engine.db.transaction() as session:
            assert verify_chain(session, instance_id) is None


def test_history_chain_head_is_on_the_instance_row_and_no_command_reads_history(review_engine):
    engine = review_engine
    with counting(engine) as statements:
        row = engine.instances.start_instance("two_reviews", actor=ADMIN, business_key="CLAIM-2")
        [check] = inspect.open_tasks(engine, row.id)
        with counting(engine) as commented:  # a command that leaves the workflow alone
            engine.comments.add_comment(row.id, "called the customer", actor=ADMIN)
        engine.tasks.complete_user_task(check.id, {"ok": False}, actor=CLERK)
    assert not [s for s in statements if "FROM history_event" in s], statements.describe()
    assert len(commented.instance_writes()) == 1 and not commented.state_writes(), commented.describe()
    events = inspect.history(engine, row.id)
    assert inspect.instance(engine, row.id).history_head == events[-1].hash
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


def test_a_closed_breaker_is_read_without_a_lock_and_only_a_change_writes_it(make_engine, database, clock):
    engine = make_engine(database)
    with counting(engine, transaction_control=True) as quiet:
        assert engine.breakers.allow("erp", clock.now()) == (True, None)
        assert engine.breakers.record_success("erp", clock.now()) == []
    assert not [s for s in quiet if re.search(r"FOR UPDATE|IMMEDIATE|^\s*(INSERT|UPDATE)", s)], quiet.describe()

    engine.breakers.record_failure("erp", clock.now(), "timeout")
    with counting(engine) as closing:
        assert engine.breakers.allow("erp", clock.now()) == (True, None)  # still closed: no lock either
        assert engine.breakers.record_success("erp", clock.now()) == []
    assert [s.split()[0] for s in closing if re.match(r"\s*(INSERT|UPDATE)", s)] == ["UPDATE"], closing.describe()
    [breaker] = engine.breakers.states()
    assert (breaker.state, breaker.consecutive_failures) == ("closed", 0)


def test_the_migration_starts_each_chain_head_at_the_instance_last_event(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "4cf24a7f5e90")  # the schema before the chain head moved onto the instance row
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO deployment (id, name, content_hash, deployed_by, deployed_at) "
                                    "VALUES (1, 'd', 'h', 'a', '2026-01-01 00:00:00')"))
            connection.execute(text(
                "INSERT INTO process_definition (id, deployment_id, key, version, content_hash, start_messages) "
                "VALUES (1, 1, 'p', 1, 'h', '[]')"))
            for instance_id in ("with-history", "without-history"):
                connection.execute(text(
                    "INSERT INTO process_instance (id, definition_id, status, version, state, started_by, started_at, "
                    "variables) VALUES (:id, 1, 'running', 1, '', 'a', '2026-01-01 00:00:00', '{}')"), {"id": instance_id})
            for seq, digest in ((1, "a" * 64), (2, "b" * 64)):
                connection.execute(text(
                    "INSERT INTO history_event (seq, instance_id, at, type, actor, payload, prev_hash, hash) "
                    "VALUES (:seq, 'with-history', '2026-01-01 00:00:00', 't', 'a', '{}', 'x', :hash)"),
                    {"seq": seq, "hash": digest})
        db.create_schema()
        with db.reading() as session:
            assert session.get(ProcessInstance, "with-history").history_head == "b" * 64
            assert session.get(ProcessInstance, "without-history").history_head is None
    finally:
        db.dispose()
