"""The fixture's paths end to end with jobs run by a real Celery worker.

SQLite runs with the broker of CELERY_BROKER_URL (or Celery's in-memory broker on a laptop without
Redis); PostgreSQL runs with Redis, as in production.
"""

from __future__ import annotations

import os

import pytest
from celery.contrib.testing.worker import start_worker

from orchestrator.actors import Actor
from orchestrator.models import InstanceStatus, JobStatus
from orchestrator.service import Engine
from tasks.celery_app import create_celery
from tasks.jobs import celery_waker, register_tasks
from tests.conftest import ADMIN, deploy_fixture, require_service
from tests.support import inspect
from tests.support.waiting import wait_for

MANAGER = Actor("mia", groups=frozenset({"sales_manager"}), roles=frozenset({"staff"}))


def broker_for(backend: str) -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if backend == "postgres":
        require_service("Redis", url.startswith("redis"), "set CELERY_BROKER_URL=redis://…")
    return url or "memory://"


@pytest.fixture
def worker_engine(make_engine, database, backend):
    engine: Engine = make_engine(database, broker_url=broker_for(backend))
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    app = create_celery(engine.settings)
    register_tasks(app, lambda: engine)
    engine.wake = celery_waker(app)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        yield engine


def waiting_for_parcel(engine, instance_id):
    return lambda: "refund" in inspect.completed_elements(engine, instance_id)


def start(engine, key: str, amount: int):
    return engine.instances.start_instance("refund_claim", actor=ADMIN, business_key=key,
                                 variables={"amount": amount, "customer": "ACME"})


def test_paths_run_to_the_end_with_a_real_worker(worker_engine, clock, ledger):
    engine = worker_engine
    # error boundary: the ERP rejects the refund
    ledger.script("test.refund", "business:E_REFUND_REJECTED")
    rejected = start(engine, "RMA-R", 50)
    wait_for(lambda: inspect.instance(engine, rejected.id).status == InstanceStatus.COMPLETED, what="rejection")
    assert inspect.completed_elements(engine, rejected.id)[-1] == "refund_rejected_end"

    # small amount: straight to the refund job, then the parcel message
    small = start(engine, "RMA-S", 120)
    wait_for(waiting_for_parcel(engine, small.id), what="small refund")
    engine.messages.correlate_message("ParcelReceived", actor=ADMIN, business_key="RMA-S")
    assert inspect.instance(engine, small.id).status == InstanceStatus.COMPLETED

    # big amount: reminder after 1 s (non-interrupting), then approval, refund, parcel
    big = start(engine, "RMA-B", 8000)
    clock.advance(seconds=2)
    assert engine.timers.fire_due_timers() == [big.id]
    wait_for(lambda: "reminded_end" in inspect.completed_elements(engine, big.id), what="reminder job")
    [task] = inspect.open_tasks(engine, big.id)
    engine.tasks.complete_user_task(task.id, {"approved": True}, actor=MANAGER)
    wait_for(waiting_for_parcel(engine, big.id), what="big refund")
    engine.messages.correlate_message("ParcelReceived", actor=ADMIN, business_key="RMA-B")
    assert inspect.instance(engine, big.id).status == InstanceStatus.COMPLETED
    assert len(ledger.effects("test.refund")) == 2

    # escalation: the interrupting timer cancels the approval
    late = start(engine, "RMA-L", 6000)
    clock.advance(hours=2)
    engine.timers.fire_due_timers()
    assert "escalated_end" in inspect.completed_elements(engine, late.id)
    wait_for(lambda: inspect.instance(engine, late.id).status == InstanceStatus.COMPLETED, what="late claim")


def test_approval_rejected_with_a_real_worker(worker_engine, clock, ledger):
    """The reminder job runs on the worker while the approval waits; a rejection ends the claim, no refund."""
    engine = worker_engine
    row = start(engine, "RMA-N", 9000)
    [task] = inspect.open_tasks(engine, row.id)
    clock.advance(seconds=2)
    assert engine.timers.fire_due_timers() == [row.id]
    wait_for(lambda: "reminded_end" in inspect.completed_elements(engine, row.id), what="reminder job")
    [reminder] = inspect.jobs(engine, row.id)
    assert (reminder.topic, reminder.status) == ("demo.echo", JobStatus.COMPLETED)

    engine.tasks.complete_user_task(task.id, {"approved": False, "note": "no receipt"}, actor=MANAGER)
    final = inspect.instance(engine, row.id)
    assert final.status == InstanceStatus.COMPLETED
    assert inspect.completed_elements(engine, row.id)[-2:] == ["gw_approved", "rejected_end"]
    assert [job.topic for job in inspect.jobs(engine, row.id)] == ["demo.echo"]  # no refund job was made
    assert ledger.calls("test.refund") == [] and ledger.effects("test.refund") == []


def test_refund_timed_out_while_the_worker_still_runs_it(worker_engine, clock, ledger):
    """The 2 h boundary timer interrupts the refund the worker is running; its late result is dropped."""
    engine = worker_engine
    ledger.script("test.refund", "sleep:3")  # the ERP answers slowly
    row = start(engine, "RMA-T", 300)
    wait_for(lambda: ledger.calls("test.refund"), what="the worker to call the ERP")
    [job] = inspect.jobs(engine, row.id)
    assert job.status == JobStatus.RUNNING

    clock.advance(hours=2, seconds=1)
    assert engine.timers.fire_due_timers() == [row.id]
    assert inspect.instance(engine, row.id).status == InstanceStatus.COMPLETED
    assert inspect.completed_elements(engine, row.id)[-2:] == ["refund_timeout", "refund_timeout_end"]
    assert inspect.jobs(engine, row.id)[0].status == JobStatus.CANCELLED

    dropped = wait_for(lambda: [e for e in inspect.history(engine, row.id) if e.type == "job_result_dropped"],
                       what="the late result")
    assert [(e.element_id, e.payload["job_id"]) for e in dropped] == [("refund", job.id)]
    assert inspect.jobs(engine, row.id)[0].status == JobStatus.CANCELLED  # the late answer changes nothing
    assert "wait_parcel" not in inspect.completed_elements(engine, row.id)
    assert len(ledger.calls("test.refund")) == 1  # called once, never retried
    # the ERP did refund after all: the dropped result in the history is what tells someone to reconcile
    assert len(ledger.effects("test.refund")) == 1
    assert dropped[0].payload["reason"] == "instance is completed"
