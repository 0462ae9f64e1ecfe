"""Moving a case's token: a return waiting in inspection goes back to the parcel receipt and finishes from there;
a waiting user task, a service task's job and a timer are skipped; every refusal changes nothing."""

from __future__ import annotations

import pytest

from orchestrator.definitions import ModelFile
from orchestrator.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestrator.models import InstanceStatus, JobStatus
from orchestrator.token_moves import TokenMove
from tests.conftest import ADMIN
from tests.processes.driver import CONNECTORS, deploy_models
from tests.processes.test_returns import RECEIPT, grade_return, receive_parcel, start
from tests.support import inspect
from tests.web.test_case_operations import OWNER, STAFF, TELL_CUSTOMER_BPMN, as_actor

TWO_STEPS_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="two_defs" targetNamespace="http://loopline.dev/test">
  <bpmn:process id="two_steps" name="Two steps" isExecutable="true">
    <bpmn:startEvent id="opened"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="check" name="Check the claim" camunda:candidateGroups="customer_service">
      <bpmn:incoming>s1</bpmn:incoming><bpmn:outgoing>s2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:intermediateCatchEvent id="cool_off" name="Cool off">
      <bpmn:incoming>s2</bpmn:incoming><bpmn:outgoing>s3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>P3D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="approve" name="Approve the claim" camunda:candidateGroups="customer_service">
      <bpmn:incoming>s3</bpmn:incoming><bpmn:outgoing>s4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="done"><bpmn:incoming>s4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="s1" sourceRef="opened" targetRef="check" />
    <bpmn:sequenceFlow id="s2" sourceRef="check" targetRef="cool_off" />
    <bpmn:sequenceFlow id="s3" sourceRef="cool_off" targetRef="approve" />
    <bpmn:sequenceFlow id="s4" sourceRef="approve" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>
"""
OWNER_ACTOR = as_actor(OWNER)


@pytest.fixture
def models(make_engine, sqlite_database):
    engine = make_engine(sqlite_database, connector_modules=CONNECTORS)
    deploy_models(engine)
    engine.deployments.deploy([ModelFile("two_steps.bpmn", TWO_STEPS_BPMN)], actor=ADMIN)
    return engine


def events(engine, instance_id, type_):
    return [e for e in inspect.history(engine, instance_id) if e.type == type_]


def returns_in_inspection(engine):
    run = start(engine)
    run.complete("review_return", {"reviewDecision": "accept"}) if "review_return" in run.open_task_ids() else None
    run.complete("issue_return_label", {"carrier": "dhl", "trackingNumber": "JD0140000001"})
    run.run_jobs("send_rma_confirmation")
    receive_parcel(run)
    assert run.open_task_ids() == ["inspect_return"]
    return run


def test_a_return_in_inspection_goes_back_to_the_parcel_receipt_and_finishes_from_there(models, ledger):
    run = returns_in_inspection(models)
    inspection = run.task("inspect_return")
    timer_before = run.row.next_timer_at
    models.case_repair.move_token(run.id, TokenMove("inspect_return", "receive_parcel",
                                                    "Wrong parcel scanned: receive it again"), actor=OWNER_ACTOR)
    assert run.open_task_ids() == ["receive_parcel"]  # inspect_return is gone from the inbox
    assert run.variables["rmaState"] == "received"  # the case keeps its current variables
    [moved] = events(models, run.id, "token_moved")
    assert moved.actor == OWNER_ACTOR.name and moved.payload == {
        "from": "inspect_return", "to": "receive_parcel", "kind": "back",
        "comment": "Wrong parcel scanned: receive it again"}
    assert any(e.task_id == inspection.id for e in events(models, run.id, "task_cancelled"))
    assert run.row.next_timer_at != timer_before  # inspection's reminder and escalation no longer wait

    run.complete("receive_parcel", RECEIPT)
    run.run_jobs("notify_received")
    assert run.open_task_ids() == ["inspect_return"]
    grade_return(run)
    run.run_jobs("request_capa")
    run.complete("approve_scrap", {"scrapApproved": True, "bookValue": 12.5})
    run.run_jobs("post_stock_movement", "create_credit_note", "notify_refund", "log_rma_closed")
    assert run.status == InstanceStatus.COMPLETED
    assert [e.element_id for e in events(models, run.id, "task_created")].count("receive_parcel") == 2


def test_a_pending_job_is_skipped_without_calling_its_connector(models, ledger):
    run = start(models)
    run.complete("review_return", {"reviewDecision": "accept"}) if "review_return" in run.open_task_ids() else None
    run.complete("issue_return_label", {"carrier": "dhl", "trackingNumber": "JD0140000001"})
    run.run_jobs("send_rma_confirmation")
    run.correlate("ParcelReceived", {"parcelScannedAt": "2026-01-07T10:00:00Z"}, rmaNumber="RMA-1001")
    run.complete("receive_parcel", RECEIPT)
    [job] = inspect.jobs(models, run.id, status="pending")
    assert job.element_id == "notify_received"
    calls = len(ledger.calls("notify.email"))
    models.case_repair.move_token(run.id, TokenMove("notify_received", "inspect_return", "Customer was called"),
                                  actor=OWNER_ACTOR)
    assert [j.status for j in inspect.jobs(models, run.id) if j.id == job.id] == [JobStatus.CANCELLED]
    assert run.pending_jobs() == [] and run.open_task_ids() == ["inspect_return"]
    run.run_jobs()
    assert len(ledger.calls("notify.email")) == calls  # the connector was never called
    assert events(models, run.id, "token_moved")[0].payload["kind"] == "skip"


def test_a_waiting_user_task_and_a_timer_are_skipped_and_the_case_moves_on(models):
    row = models.instances.start_instance("two_steps", actor=ADMIN, variables={"claim": 7})
    models.case_repair.move_token(row.id, TokenMove("check", None, "Checked on the phone"), actor=OWNER_ACTOR)
    assert inspect.open_tasks(models, row.id) == []
    assert inspect.instance(models, row.id).next_timer_at is not None  # waits in the cool-off timer
    models.case_repair.move_token(row.id, TokenMove("cool_off", "approve", "No need to wait"), actor=OWNER_ACTOR)
    assert inspect.instance(models, row.id).next_timer_at is None
    assert [t.element_id for t in inspect.open_tasks(models, row.id)] == ["approve"]
    # and back to the first step, which now opens again with the case's variables
    models.case_repair.move_token(row.id, TokenMove("approve", "check", "Check again", kind="back"), actor=OWNER_ACTOR)
    assert [t.element_id for t in inspect.open_tasks(models, row.id)] == ["check"]
    assert inspect.instance(models, row.id).variables["claim"] == 7
    models.case_repair.move_token(row.id, TokenMove("check", None, "done"), actor=OWNER_ACTOR)
    models.case_repair.move_token(row.id, TokenMove("cool_off", None, "done"), actor=OWNER_ACTOR)
    models.case_repair.move_token(row.id, TokenMove("approve", None, "done"), actor=OWNER_ACTOR)
    assert inspect.instance(models, row.id).status == InstanceStatus.COMPLETED
    assert [e.payload["kind"] for e in events(models, row.id, "token_moved")] == ["skip", "skip", "back", "skip",
                                                                                  "skip", "skip"]


def test_refusals_change_nothing(models):
    run = returns_in_inspection(models)

    def state():
        return run.row.version, len(inspect.history(models, run.id)), run.open_task_ids()

    before = state()
    refused = [
        (InvalidInput, TokenMove("nowhere", None, "why")),  # unknown element
        (Conflict, TokenMove("receive_parcel", None, "why")),  # not waiting there
        (Conflict, TokenMove("inspect_return", "refurbish_item", "why", kind="back")),  # never completed
        (InvalidInput, TokenMove("inspect_return", "gw_receipt_ok", "why", kind="back")),  # a gateway
        (InvalidInput, TokenMove("inspect_return", "no_such_step", "why", kind="back")),
        (InvalidInput, TokenMove("inspect_return", "refund_customer", "why", kind="skip")),  # not a successor
        (InvalidInput, TokenMove("inspect_return", "receive_parcel", "   ")),  # blank comment
        (Forbidden, TokenMove("inspect_return", "receive_parcel", "why")),
    ]
    for error, move in refused:
        actor = as_actor(STAFF) if error is Forbidden else OWNER_ACTOR
        with pytest.raises(error) as caught:
            models.case_repair.move_token(run.id, move, actor=actor)
        if move.from_element == "nowhere":
            assert "nowhere" in str(caught.value.errors)
        assert state() == before, move
    with pytest.raises(NotFound):
        models.case_repair.move_token("no-such-case", TokenMove("inspect_return", None, "why"), actor=OWNER_ACTOR)

    models.instances.cancel_instance(run.id, actor=ADMIN) if hasattr(models.instances, "cancel_instance") else None
    if run.status != InstanceStatus.RUNNING:
        with pytest.raises(Conflict):
            models.case_repair.move_token(run.id, TokenMove("inspect_return", None, "why"), actor=OWNER_ACTOR)


def test_a_case_whose_token_was_moved_is_not_reexecuted_and_says_why(models):
    row = models.instances.start_instance("two_steps", actor=ADMIN, variables={"claim": 7})
    models.case_repair.move_token(row.id, TokenMove("check", None, "Checked on the phone"), actor=OWNER_ACTOR)
    report = models.reexecution.reexecute(row.id, actor=ADMIN)
    assert not report.ok and report.steps == ()
    assert "moved by hand (skip from 'check'" in report.error


def test_a_job_stopped_at_an_incident_is_skipped_its_incident_resolved_and_the_case_goes_on(models, ledger):
    models.deployments.deploy([ModelFile("tell_customer.bpmn", TELL_CUSTOMER_BPMN)], actor=ADMIN)
    row = models.instances.start_instance("tell_customer", actor=ADMIN, business_key="RMA-SKIP-1", variables={
        "customerEmail": "grace@example.com", "customerName": "Grace", "rmaNumber": "RMA-SKIP-1"})
    ledger.script("notify.email", "business:E_BOUNCED")
    assert inspect.run_pending_jobs(models, row.id) == ["incident"]
    [incident] = models.queries.open_incidents(ADMIN, instance_id=row.id)
    models.case_repair.move_token(row.id, TokenMove("tell", "follow_up", "Told the customer by phone"),
                                  actor=OWNER_ACTOR)
    assert models.queries.open_incidents(ADMIN, instance_id=row.id) == []
    assert [j.status for j in inspect.jobs(models, row.id)] == [JobStatus.CANCELLED]
    assert [t.element_id for t in inspect.open_tasks(models, row.id)] == ["follow_up"]
    [moved] = events(models, row.id, "token_moved")
    assert moved.payload["incidents_resolved"] == [incident.id] and moved.payload["kind"] == "skip"


def test_a_suspended_case_is_moved_and_goes_on_when_resumed(models):
    row = models.instances.start_instance("two_steps", actor=ADMIN, variables={"claim": 7})
    models.instances.suspend_instance(row.id, actor=ADMIN)
    models.case_repair.move_token(row.id, TokenMove("check", None, "Checked on the phone"), actor=OWNER_ACTOR)
    assert inspect.instance(models, row.id).status == InstanceStatus.SUSPENDED
    assert inspect.open_tasks(models, row.id) == []
    models.instances.resume_instance(row.id, actor=ADMIN)
    assert inspect.instance(models, row.id).next_timer_at is not None  # waits in the cool-off timer


RACE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="race_defs" targetNamespace="t">
  <bpmn:message id="reply" name="CustomerReplied"/>
  <bpmn:process id="reply_or_timeout" isExecutable="true">
    <bpmn:startEvent id="asked"/>
    <bpmn:sequenceFlow id="r0" sourceRef="asked" targetRef="race"/>
    <bpmn:eventBasedGateway id="race"/>
    <bpmn:sequenceFlow id="r1" sourceRef="race" targetRef="replied"/>
    <bpmn:sequenceFlow id="r2" sourceRef="race" targetRef="silence"/>
    <bpmn:intermediateCatchEvent id="replied"><bpmn:messageEventDefinition messageRef="reply"/></bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="silence">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P14D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="r3" sourceRef="replied" targetRef="end_replied"/>
    <bpmn:sequenceFlow id="r4" sourceRef="silence" targetRef="end_silent"/>
    <bpmn:endEvent id="end_replied"/>
    <bpmn:endEvent id="end_silent"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_race_of_events_is_skipped_one_event_at_a_time_never_every_branch(models):
    """Behind an event-based gateway the case waits in its events: skipping one wins the race, so that branch
    alone runs (the other event is withdrawn: no timer left to fire later); the gateway is not a step to skip."""
    models.deployments.deploy([ModelFile("reply_or_timeout.bpmn", RACE_BPMN)], actor=ADMIN)
    case = models.instances.start_instance("reply_or_timeout", actor=ADMIN, business_key="RACE-1")
    before = len(inspect.history(models, case.id))
    with pytest.raises((Conflict, InvalidInput)):
        models.case_repair.move_token(case.id, TokenMove("race", None, "skip the wait"), actor=OWNER_ACTOR)
    assert len(inspect.history(models, case.id)) == before
    models.case_repair.move_token(case.id, TokenMove("replied", None, "customer phoned"), actor=OWNER_ACTOR)
    finished = inspect.instance(models, case.id)
    assert finished.status == InstanceStatus.COMPLETED
    completed = [e.element_id for e in inspect.history(models, case.id) if e.type == "element_completed"]
    assert "end_replied" in completed and "end_silent" not in completed
    assert finished.next_timer_at is None
