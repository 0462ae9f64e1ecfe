"""Message start and correlation keys, claim/assign, cancel/suspend/resume, retries, incidents, history."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from orchestrator.actors import Actor
from orchestrator.errors import Conflict, InvalidInput, NotFound, ProcessError
from orchestrator.models import InstanceStatus, JobStatus, ProcessInstance
from orchestrator.settings import RetryPolicy
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect

CLERK = Actor("carl", groups=frozenset({"customer_service"}), roles=frozenset({"staff"}))
PACKER = Actor("wendy", groups=frozenset({"warehouse"}), roles=frozenset({"staff"}))
FINANCE = Actor("fred", groups=frozenset({"finance"}), roles=frozenset({"staff"}))
MANAGER = Actor("mia", groups=frozenset({"sales_manager"}), roles=frozenset({"staff"}))


@pytest.fixture
def message_engine(make_engine, database):
    engine = make_engine(database)
    deploy_fixture(engine, "message_start.bpmn")
    return engine


def test_a_message_starts_an_instance_and_a_correlation_key_finds_it(message_engine):
    engine = message_engine
    started = engine.messages.correlate_message("ReturnFiled", actor=ADMIN, business_key="RMA-9",
                                       variables={"rmaNumber": "R-9", "sku": "SKU-1"})
    assert started.started
    row = inspect.instance(engine, started.instance_id)
    assert (row.business_key, row.variables["sku"]) == ("RMA-9", "SKU-1")

    with pytest.raises(NotFound):
        engine.messages.correlate_message("LabelPrinted", actor=ADMIN, correlation_keys={"rmaNumber": "R-1"})
    with pytest.raises(InvalidInput):
        engine.messages.correlate_message("LabelPrinted", actor=ADMIN, correlation_keys={"a": 1, "b": 2})
    delivered = engine.messages.correlate_message("LabelPrinted", actor=ADMIN, correlation_keys={"rmaNumber": "R-9"},
                                         variables={"trackingId": "T1"})
    assert (delivered.instance_id, delivered.started) == (started.instance_id, False)
    [task] = inspect.open_tasks(engine, started.instance_id)
    assert task.candidate_groups == ["customer_service", "warehouse"]
    assert inspect.instance(engine, started.instance_id).variables["trackingId"] == "T1"

    # the history keeps each message with its payload: the one that started the instance and the one it caught
    messages = [e for e in inspect.history(engine, started.instance_id) if e.type == "message_correlated"]
    assert [(e.actor, e.payload["message_name"]) for e in messages] == [("admin", "ReturnFiled"),
                                                                        ("admin", "LabelPrinted")]
    assert messages[0].payload["variables"] == {"rmaNumber": "R-9", "sku": "SKU-1"}
    assert messages[0].payload["started"] is True
    assert messages[1].payload["variables"] == {"trackingId": "T1"}
    assert messages[1].payload["correlation_keys"] == {"rmaNumber": "R-9"}
    after = [e for e in inspect.history(engine, started.instance_id) if e.seq > messages[1].seq]
    assert next(e.element_id for e in after if e.type == "element_completed") == "label"  # the catch event


def test_ambiguous_message_is_a_conflict(message_engine):
    engine = message_engine
    for key in ("A", "B"):
        engine.messages.correlate_message("ReturnFiled", actor=ADMIN, business_key=key, variables={"rmaNumber": "same"})
    with pytest.raises(Conflict):
        engine.messages.correlate_message("LabelPrinted", actor=ADMIN, correlation_keys={"rmaNumber": "same"})
    assert engine.messages.correlate_message("LabelPrinted", actor=ADMIN, business_key="A").started is False


def test_claim_assign_and_group_checks(message_engine):
    engine = message_engine
    started = engine.messages.correlate_message("ReturnFiled", actor=ADMIN, business_key="RMA-1", variables={"rmaNumber": "1"})
    engine.messages.correlate_message("LabelPrinted", actor=ADMIN, business_key="RMA-1")
    [task] = inspect.open_tasks(engine, started.instance_id)
    with pytest.raises(NotFound):  # another group's task is invisible to finance
        engine.tasks.claim_task(task.id, actor=FINANCE)
    assert engine.tasks.claim_task(task.id, actor=CLERK).task.assignee == "carl"
    with pytest.raises(Conflict):
        engine.tasks.claim_task(task.id, actor=PACKER)
    with pytest.raises(Conflict):
        engine.tasks.complete_user_task(task.id, {}, actor=PACKER)
    engine.tasks.unclaim_task(task.id, actor=CLERK)
    engine.tasks.assign_task(task.id, "wendy", actor=CLERK)
    engine.tasks.complete_user_task(task.id, {}, actor=PACKER)
    assert inspect.instance(engine, started.instance_id).status == InstanceStatus.COMPLETED
    types = [e.type for e in inspect.history(engine, started.instance_id)]
    for expected in ("task_claimed", "task_unclaimed", "task_assigned", "task_completed", "instance_completed"):
        assert expected in types
    assert engine.queries.verify_history(ADMIN, started.instance_id) is None


def test_same_idempotency_key_starts_one_instance(engine):
    first = engine.instances.start_instance("refund_claim", actor=ADMIN, idempotency_key="shop-order-77",
                                  variables={"amount": 10, "customer": "c"})
    again = engine.instances.start_instance("refund_claim", actor=ADMIN, idempotency_key="shop-order-77",
                                  variables={"amount": 10, "customer": "c"})
    assert again.id == first.id
    assert len(inspect.jobs(engine, first.id)) == 1
    with pytest.raises(InvalidInput) as caught:
        engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"bad name": 1})
    assert "variables.bad name" in caught.value.errors
    with pytest.raises(NotFound):
        engine.instances.start_instance("no_such_process", actor=ADMIN)


def test_cancel_suspend_resume(engine, clock):
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="X", variables={"amount": 9000, "customer": "c"})
    engine.instances.suspend_instance(row.id, actor=ADMIN)
    with pytest.raises(Conflict):
        engine.instances.suspend_instance(row.id, actor=ADMIN)
    [task] = inspect.open_tasks(engine, row.id)
    with pytest.raises(Conflict):
        engine.tasks.complete_user_task(task.id, {"approved": True}, actor=MANAGER)
    clock.advance(hours=2)
    assert engine.timers.fire_due_timers() == []  # suspended instances do not fire
    engine.instances.resume_instance(row.id, actor=ADMIN)
    engine.instances.cancel_instance(row.id, actor=ADMIN, reason="customer withdrew")
    final = inspect.instance(engine, row.id)
    assert (final.status, final.next_timer_at) == (InstanceStatus.CANCELLED, None)
    assert inspect.open_tasks(engine, row.id) == []
    with pytest.raises(Conflict):
        engine.instances.cancel_instance(row.id, actor=ADMIN)
    with pytest.raises(NotFound):
        engine.instances.cancel_instance("no-such-instance", actor=ADMIN)


def test_transient_failures_retry_with_backoff_then_incident_then_retry(make_engine, database, clock, ledger):
    engine = make_engine(database, topic_retry={"test.refund": RetryPolicy(max_attempts=3, backoff_base=10,
                                                                           backoff_max=60)})
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    ledger.script("test.refund", "transient", "transient", "transient")
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="T", variables={"amount": 10, "customer": "c"})
    assert inspect.run_pending_jobs(engine, row.id) == ["retry"]
    [job] = inspect.jobs(engine, row.id)
    first_delay = (job.next_attempt_at - clock.now()).total_seconds()
    assert 5 <= first_delay <= 10  # base 10 s, equal jitter
    assert engine.jobs.run_job(job.id, "w") == "skipped"  # not due yet
    clock.advance(seconds=11)
    assert inspect.run_pending_jobs(engine, row.id) == ["retry"]
    [job] = inspect.jobs(engine, row.id)
    assert 10 <= (job.next_attempt_at - clock.now()).total_seconds() <= 20
    clock.advance(seconds=21)
    assert inspect.run_pending_jobs(engine, row.id) == ["incident"]
    [incident] = engine.queries.open_incidents(ADMIN)
    assert "gave up after 3 attempts" in incident.message
    engine.jobs.retry_incident(incident.id, actor=ADMIN)
    with pytest.raises(Conflict):
        engine.jobs.retry_incident(incident.id, actor=ADMIN)
    assert inspect.run_pending_jobs(engine, row.id) == ["completed"]
    assert len(ledger.effects("test.refund")) == 1
    events = inspect.history(engine, row.id)
    types = [e.type for e in events]
    assert types.count("job_retry_scheduled") == 2 and "incident_opened" in types and "incident_retried" in types
    # the job-completed event carries what the connector returned, as merged into the process data
    [done] = [e for e in events if e.type == "job_completed"]
    [job] = inspect.jobs(engine, row.id)
    assert (done.element_id, done.payload["job_id"], done.payload["topic"]) == ("refund", job.id, "test.refund")
    assert done.payload["result"] == {"test_refund_done": True, "firstApplication": True} == job.result
    assert done.payload["attempt"] == 1  # counted again from the first attempt after the incident retry


def test_late_result_after_boundary_timer_is_dropped_and_recorded(engine, clock, ledger):
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    [job] = inspect.jobs(engine, row.id)
    claimed = engine.jobs.claim_job(job.id, "slow-worker")
    clock.advance(hours=2, seconds=1)
    assert engine.timers.fire_due_timers() == [row.id]  # the interrupting timer on the refund task fires
    assert inspect.jobs(engine, row.id)[0].status == JobStatus.CANCELLED
    assert inspect.instance(engine, row.id).status == InstanceStatus.COMPLETED
    assert engine.jobs.complete_job(job.id, token=claimed.token, result={"late": True}) == "dropped"
    events = inspect.history(engine, row.id)
    assert events[-1].type == "job_result_dropped"
    assert "refund_timeout_end" in inspect.completed_elements(engine, row.id)
    assert ledger.effects("test.refund") == []


def test_result_for_a_cancelled_instance_is_dropped(engine, ledger):
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    [job] = inspect.jobs(engine, row.id)
    claimed = engine.jobs.claim_job(job.id, "slow-worker")
    engine.instances.cancel_instance(row.id, actor=ADMIN)
    assert engine.jobs.complete_job(job.id, token=claimed.token, result={}) == "dropped"
    assert inspect.jobs(engine, row.id)[0].status == JobStatus.CANCELLED
    assert engine.queries.open_incidents(ADMIN) == []


def test_relay_reenqueues_lost_jobs_and_releases_dead_leases(engine, clock):
    woken: list[list[int]] = []
    engine.wake = woken.append
    row = engine.instances.start_instance("refund_claim", actor=ADMIN, variables={"amount": 10, "customer": "c"})
    [job] = inspect.jobs(engine, row.id)
    assert woken == [[job.id]]
    assert engine.relay.relay_jobs() == []  # enqueued just now
    clock.advance(seconds=engine.settings.relay_stale_after + 1)
    assert engine.relay.relay_jobs() == [job.id]  # the broker message was lost: send again
    claimed = engine.jobs.claim_job(job.id, "dying-worker")
    assert claimed is not None
    clock.advance(seconds=engine.settings.retry_policy("test.refund").timeout + engine.settings.job_lease_seconds + 1)
    assert engine.relay.relay_jobs() == [job.id]
    assert engine.jobs.complete_job(job.id, token=claimed.token, result={}) == "dropped"
    assert "job_lease_expired" in [e.type for e in inspect.history(engine, row.id)]


def test_a_model_that_cannot_continue_reports_the_element_and_stores_nothing(engine):
    with pytest.raises(ProcessError) as caught:
        engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="NOAMOUNT", variables={"customer": "c"})
    assert "route" in caught.value.message and "amount" in caught.value.message
    with engine.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 0
