"""Every path of the refund-claim fixture, through the engine's commands, on SQLite and PostgreSQL.

The fixture has a DMN-routed gateway written in JUEL (`${amount > 5000}`), a user task with a
non-interrupting PT1S reminder and an interrupting PT1H escalation, an external service task with an
error boundary, and a message catch correlated by business key.
"""

from __future__ import annotations

import pytest

from orchestrator.actors import Actor
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.models import InstanceStatus, JobStatus
from tests.conftest import ADMIN
from tests.support import inspect

MANAGER = Actor("mia", groups=frozenset({"sales_manager"}), roles=frozenset({"staff"}))
CLERK = Actor("carl", groups=frozenset({"customer_service"}), roles=frozenset({"staff"}))


def start(engine, amount: int, key: str = "RMA-1"):
    return engine.instances.start_instance("refund_claim", actor=CLERK, business_key=key,
                                 variables={"amount": amount, "customer": "ACME"})


def test_small_amount_skips_approval_and_finishes_on_parcel_message(engine, ledger):
    row = start(engine, 700)
    assert inspect.open_tasks(engine, row.id) == []
    [job] = inspect.jobs(engine, row.id)
    assert (job.topic, job.status, job.element_id) == ("test.refund", JobStatus.PENDING, "refund")
    assert job.input["route"] == "auto"  # the DMN decided before the gateway
    assert inspect.run_pending_jobs(engine, row.id) == ["completed"]
    assert inspect.instance(engine, row.id).status == InstanceStatus.RUNNING

    with pytest.raises(NotFound):
        engine.messages.correlate_message("ParcelReceived", actor=ADMIN, business_key="RMA-other")
    result = engine.messages.correlate_message("ParcelReceived", actor=ADMIN, business_key="RMA-1",
                                      variables={"carrier": "DHL"})
    assert result.instance_id == row.id and not result.started
    final = inspect.instance(engine, row.id)
    assert final.status == InstanceStatus.COMPLETED
    assert final.variables["carrier"] == "DHL"
    assert inspect.completed_elements(engine, row.id) == [
        "start", "route", "gw_amount", "refund", "wait_parcel", "done_end"]
    assert len(ledger.effects("test.refund")) == 1


def test_large_amount_needs_approval_then_refund(engine, ledger):
    row = start(engine, 7000)
    [task] = inspect.open_tasks(engine, row.id)
    assert (task.element_id, task.candidate_groups, task.priority) == ("approve", ["sales_manager"], 70)
    assert task.due_at is not None
    assert [f["id"] for f in task.form] == ["approved", "note", "approvedAmount"]

    engine.tasks.complete_user_task(task.id, {"approved": "true", "approvedAmount": "6500"}, actor=MANAGER)
    state = inspect.instance(engine, row.id)
    assert state.variables["approved"] is True and state.variables["approvedAmount"] == 6500
    assert inspect.run_pending_jobs(engine, row.id) == ["completed"]
    engine.messages.correlate_message("ParcelReceived", actor=ADMIN, business_key="RMA-1")
    assert inspect.instance(engine, row.id).status == InstanceStatus.COMPLETED
    assert inspect.completed_elements(engine, row.id)[-4:] == ["gw_approved", "refund", "wait_parcel", "done_end"]


def test_rejection_ends_without_refund(engine, ledger):
    row = start(engine, 9000)
    [task] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(task.id, {"approved": False, "note": "no receipt"}, actor=MANAGER)
    assert inspect.instance(engine, row.id).status == InstanceStatus.COMPLETED
    assert inspect.completed_elements(engine, row.id)[-2:] == ["gw_approved", "rejected_end"]
    assert inspect.jobs(engine, row.id) == []


def test_bad_form_values_are_rejected_field_by_field_and_change_nothing(engine):
    row = start(engine, 9000)
    [task] = inspect.open_tasks(engine, row.id)
    before = inspect.instance(engine, row.id).version
    with pytest.raises(InvalidInput) as caught:
        engine.tasks.complete_user_task(task.id, {"approvedAmount": "lots", "note": "x" * 201, "bogus": 1}, actor=MANAGER)
    assert set(caught.value.errors) == {"approved", "approvedAmount", "note", "bogus"}
    assert caught.value.errors["approved"] == "is required"
    assert inspect.instance(engine, row.id).version == before
    assert [t.id for t in inspect.open_tasks(engine, row.id)] == [task.id]


def test_completing_twice_is_a_conflict(engine):
    row = start(engine, 9000)
    [task] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(task.id, {"approved": False}, actor=MANAGER)
    with pytest.raises(Conflict):
        engine.tasks.complete_user_task(task.id, {"approved": True}, actor=MANAGER)


def test_reminder_timer_is_non_interrupting(engine, clock, ledger):
    row = start(engine, 9000)
    [task] = inspect.open_tasks(engine, row.id)
    due = inspect.instance(engine, row.id).next_timer_at
    assert due == clock.now().replace(microsecond=due.microsecond) or due > clock.now()
    assert engine.timers.fire_due_timers() == []  # nothing due yet
    clock.advance(seconds=2)
    assert engine.timers.fire_due_timers() == [row.id]
    [reminder] = inspect.jobs(engine, row.id)
    assert (reminder.topic, reminder.input) == ("demo.echo", {"customer": "ACME", "kind": "reminder"})
    assert inspect.run_pending_jobs(engine, row.id) == ["completed"]
    assert [t.id for t in inspect.open_tasks(engine, row.id)] == [task.id]  # still waiting for approval
    assert "reminded_end" in inspect.completed_elements(engine, row.id)


def test_escalation_timer_interrupts_the_approval(engine, clock):
    row = start(engine, 9000)
    [task] = inspect.open_tasks(engine, row.id)
    clock.advance(hours=1, seconds=1)
    assert engine.timers.fire_due_timers() == [row.id]
    assert inspect.open_tasks(engine, row.id) == []
    assert "escalated_end" in inspect.completed_elements(engine, row.id)
    with pytest.raises(Conflict):
        engine.tasks.complete_user_task(task.id, {"approved": True}, actor=MANAGER)


def test_business_error_is_caught_by_the_error_boundary(engine, ledger):
    ledger.script("test.refund", "business:E_REFUND_REJECTED")
    row = start(engine, 300)
    assert inspect.run_pending_jobs(engine, row.id) == ["failed"]
    final = inspect.instance(engine, row.id)
    assert final.status == InstanceStatus.COMPLETED
    assert inspect.completed_elements(engine, row.id)[-2:] == ["refund_error", "refund_rejected_end"]
    [job] = inspect.jobs(engine, row.id)
    assert job.status == JobStatus.FAILED and job.last_error.startswith("E_REFUND_REJECTED")


def test_uncaught_business_error_opens_an_incident(engine, ledger):
    ledger.script("test.refund", "business:E_UNKNOWN")
    row = start(engine, 300)
    assert inspect.run_pending_jobs(engine, row.id) == ["incident"]
    [job] = inspect.jobs(engine, row.id)
    assert job.status == JobStatus.INCIDENT
    assert inspect.instance(engine, row.id).status == InstanceStatus.RUNNING


def test_every_scenario_survives_save_and_restore(engine, ledger):
    """Each command restores the workflow from the database: a full path is a chain of restores."""
    row = start(engine, 9000)
    history = inspect.history(engine, row.id)
    assert history[0].type == "instance_started"
    assert all(event.hash for event in history)
    versions = [inspect.instance(engine, row.id).version]
    [task] = inspect.open_tasks(engine, row.id)
    engine.tasks.complete_user_task(task.id, {"approved": True}, actor=MANAGER)
    versions.append(inspect.instance(engine, row.id).version)
    inspect.run_pending_jobs(engine, row.id)
    versions.append(inspect.instance(engine, row.id).version)
    assert versions == sorted(set(versions))
