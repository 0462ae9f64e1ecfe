"""The re-execution check: a case recorded as it ran re-executes to the same steps; a recorded variable or path
that was changed afterwards, or an input that leads elsewhere, is reported at the step where it happened.
Nothing is written to the real database. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, update

from orchestrator.actors import Actor
from orchestrator.case_repair import VariableEdit
from orchestrator.definitions import ModelFile
from orchestrator.errors import NotFound
from orchestrator.models import HistoryEvent, InstanceStatus, ProcessInstance
from orchestrator.recorded_commands import command_groups
from orchestrator.reexecution import PathStep
from orchestrator.step_state import STATE_EVENT
from tests.conformance.conftest import model
from tests.conformance.test_call_activities_deployed import caller, child, complete_only_task, open_elements
from tests.conftest import ADMIN, deploy_fixture
from tests.processes.driver import CONNECTORS, deploy_models, staff
from tests.processes.test_returns import LABEL, start
from tests.support import inspect

REPO = Path(__file__).resolve().parents[2]
AUDITOR = Actor("auditor", roles=frozenset({"auditor"}))
MANAGER = Actor("mia", groups=frozenset({"sales_manager"}), roles=frozenset({"staff"}))


@pytest.fixture
def models(make_engine, database):
    engine = make_engine(database, connector_modules=CONNECTORS)
    deploy_models(engine)
    return engine


@pytest.fixture
def confirmed_return(models):
    """A return reviewed, labelled and confirmed: it now waits for the parcel (message and timer)."""
    run = start(models)
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    return run


def events_of(engine, instance_id: str) -> list[HistoryEvent]:
    with engine.db.reading() as session:
        return list(session.scalars(select(HistoryEvent).where(HistoryEvent.instance_id == instance_id)
                                    .order_by(HistoryEvent.seq)))


def change(engine, statement) -> None:
    with engine.db.transaction() as session:
        session.execute(statement)


def event_at_step(engine, instance_id: str, number: int, type_: str, element_id: str | None = None) -> HistoryEvent:
    """The first `type_` event (of `element_id`) of the `number`-th recorded command that moved the case."""
    moving = [group for group in command_groups(events_of(engine, instance_id))
              if any(e.type == STATE_EVENT for e in group)]
    return next(e for e in moving[number - 1] if e.type == type_ and (element_id is None or e.element_id == element_id))


def test_a_recorded_case_reexecutes_step_by_step_and_changes_nothing(confirmed_return, models):
    before = (len(events_of(models, confirmed_return.id)), confirmed_return.row.version)
    report = models.reexecution.reexecute(confirmed_return.id, actor=AUDITOR)
    assert report.ok and report.error is None and report.states_recorded
    assert (report.definition_key, report.business_key, report.status) == ("returns", "RMA-1001", "running")
    assert [step.input for step in report.steps] == ["instance_started", "task_completed", "task_completed",
                                                    "job_completed"]
    assert [step.element_id for step in report.steps[1:]] == ["review_return", "issue_return_label",
                                                             "send_rma_confirmation"]
    assert all(step.matches and step.recorded_path == step.re_executed_path for step in report.steps)
    assert report.steps[0].recorded_path[0].element_id == "start_return"
    assert report.steps[-1].re_executed_waiting == ("await_parcel", "parcel_overdue", "parcel_received",
                                                    "parcel_reminder_due")
    assert (len(events_of(models, confirmed_return.id)), confirmed_return.row.version) == before
    # the connector's result is recorded as it came (output parameters map it again), besides what was mapped
    completed = event_at_step(models, confirmed_return.id, 4, "job_completed")
    assert completed.payload["result"] == {"rmaState": "confirmed"}
    assert completed.payload["received"]["status"] == "sent"


def test_a_changed_recorded_variable_is_reported_at_its_step_only(confirmed_return, models):
    state = event_at_step(models, confirmed_return.id, 2, STATE_EVENT)
    assert state.payload["set"]["reviewDecision"] == "accept"
    change(models, update(HistoryEvent).where(HistoryEvent.seq == state.seq).values(
        payload={**state.payload, "set": {**state.payload["set"], "reviewDecision": "reject"}}))

    report = models.reexecution.reexecute(confirmed_return.id, actor=AUDITOR)
    assert not report.ok and report.error is None
    [step] = report.differing_steps
    assert (step.number, step.input, step.element_id) == (2, "task_completed", "review_return")
    assert step.recorded_path == step.re_executed_path and step.recorded_waiting == step.re_executed_waiting
    [difference] = step.variable_differences
    assert (difference.name, difference.recorded, difference.re_executed) == ("reviewDecision", "reject", "accept")
    assert (difference.recorded_change, difference.re_executed_change) == ("set", "set")


def test_a_changed_recorded_path_is_reported_at_its_step(confirmed_return, models):
    passed = event_at_step(models, confirmed_return.id, 3, "element_completed", "issue_return_label")
    change(models, update(HistoryEvent).where(HistoryEvent.seq == passed.seq).values(element_id="refund_manually"))

    report = models.reexecution.reexecute(confirmed_return.id, actor=AUDITOR)
    [step] = report.differing_steps
    assert (step.number, step.element_id) == (3, "issue_return_label") and not step.variable_differences
    recorded = [p.element_id for p in step.recorded_path]
    re_executed = [p.element_id for p in step.re_executed_path]
    assert recorded[0] == "refund_manually" and re_executed[0] == "issue_return_label"
    assert recorded[1:] == re_executed[1:]


def test_an_input_that_leads_elsewhere_is_reported_where_the_paths_part(confirmed_return, models):
    """A review decision edited to 'reject': the re-execution takes the rejection path from that step on."""
    completed = event_at_step(models, confirmed_return.id, 2, "task_completed")
    change(models, update(HistoryEvent).where(HistoryEvent.seq == completed.seq).values(
        payload={"values": {"reviewDecision": "reject", "rejectionReason": "out_of_period"}}))

    report = models.reexecution.reexecute(confirmed_return.id, actor=AUDITOR)
    assert not report.ok and report.steps[0].matches
    parted = report.steps[1]
    assert not parted.matches and parted.recorded_path != parted.re_executed_path
    assert "issue_return_label" in parted.recorded_waiting and "notify_rejection" in parted.re_executed_waiting
    assert {d.name for d in parted.variable_differences} >= {"reviewDecision"}
    # the label task the record completes next was never opened in the re-execution: it stops there
    assert report.steps[2].error == "task 'issue_return_label' is not open to be completed"
    assert report.error.startswith("step 3 could not be re-executed") and len(report.steps) == 3


def test_a_case_recorded_before_states_compares_paths_and_final_variables(confirmed_return, models):
    change(models, delete(HistoryEvent).where(HistoryEvent.instance_id == confirmed_return.id,
                                              HistoryEvent.type == STATE_EVENT))
    report = models.reexecution.reexecute(confirmed_return.id, actor=AUDITOR)
    assert report.ok and not report.states_recorded and len(report.steps) == 4
    assert all(step.recorded_waiting is None and step.re_executed_waiting is None for step in report.steps)

    variables = {**confirmed_return.variables, "trackingNumber": "FORGED"}
    change(models, update(ProcessInstance).where(ProcessInstance.id == confirmed_return.id)
           .values(variables=variables))
    report = models.reexecution.reexecute(confirmed_return.id, actor=AUDITOR)
    assert not report.ok and not report.differing_steps
    [difference] = report.final_differences
    assert (difference.name, difference.recorded, difference.re_executed) == ("trackingNumber", "FORGED",
                                                                              LABEL["trackingNumber"])


def test_a_case_that_began_recording_states_midway_compares_them_from_there(confirmed_return, models):
    early = [event_at_step(models, confirmed_return.id, number, STATE_EVENT).seq for number in (1, 2)]
    change(models, delete(HistoryEvent).where(HistoryEvent.seq.in_(early)))
    report = models.reexecution.reexecute(confirmed_return.id, actor=AUDITOR)
    assert report.ok and report.states_recorded
    assert [step.recorded_waiting is None for step in report.steps] == [True, True, False, False]
    assert report.steps[2].re_executed_waiting == report.steps[2].recorded_waiting == ("send_rma_confirmation",)


def test_a_call_reexecutes_on_the_version_of_the_called_process_deployed_when_it_started(make_engine, database,
                                                                                         clock):
    engine = make_engine(database)
    engine.deployments.deploy([model(child("work_v1"), "child.bpmn")], actor=ADMIN)
    engine.deployments.deploy([model(caller(), "caller.bpmn")], actor=ADMIN)
    first = engine.instances.start_instance("caller", actor=ADMIN).id
    clock.advance(minutes=1)
    engine.deployments.deploy([model(child("work_v2"), "child.bpmn")], actor=ADMIN)
    clock.advance(minutes=1)
    second = engine.instances.start_instance("caller", actor=ADMIN).id
    assert (open_elements(engine, first), open_elements(engine, second)) == (["work_v1"], ["work_v2"])
    for instance_id in (first, second):
        complete_only_task(engine, instance_id)

    reports = [engine.reexecution.reexecute(instance_id, actor=AUDITOR) for instance_id in (first, second)]
    assert all(report.ok for report in reports), [report.differing_steps for report in reports]
    assert [report.steps[1].element_id for report in reports] == ["work_v1", "work_v2"]


def test_timers_retries_suspension_and_cancelling_are_re_executed_and_bookkeeping_is_skipped(
        make_engine, database, clock, ledger):
    engine = make_engine(database)
    deploy_fixture(engine, "refund_claim.bpmn", "routing.dmn")
    case = engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="RMA-9",
                                           variables={"amount": 7000, "customer": "ACME"}).id
    engine.comments.add_comment(case, "called the customer", actor=ADMIN)
    [task] = inspect.open_tasks(engine, case)
    engine.tasks.claim_task(task.id, actor=MANAGER)
    clock.advance(seconds=2)
    assert engine.timers.fire_due_timers() == [case]  # the non-interrupting reminder
    engine.instances.suspend_instance(case, actor=ADMIN)
    engine.instances.resume_instance(case, actor=ADMIN)
    engine.tasks.complete_user_task(task.id, {"approved": "true", "approvedAmount": "6500"}, actor=MANAGER)
    ledger.script("test.refund", "transient")
    assert sorted(inspect.run_pending_jobs(engine, case)) == ["completed", "retry"]  # the reminder, the refund
    clock.advance(minutes=10)
    assert inspect.run_pending_jobs(engine, case) == ["completed"]
    engine.instances.cancel_instance(case, actor=ADMIN, reason="customer withdrew")

    report = engine.reexecution.reexecute(case, actor=AUDITOR)
    assert report.ok, report.differing_steps
    assert [step.input for step in report.steps] == ["instance_started", "timer", "task_completed",
                                                    "job_completed", "job_completed", "instance_cancelled"]
    assert report.skipped_commands == 5  # comment, claim, suspend, resume, retry scheduled
    assert report.steps[-1].re_executed_path[0] == PathStep("instance_cancelled", None)


def test_only_readers_of_the_case_may_reexecute_it(confirmed_return, models):
    with pytest.raises(NotFound):
        models.reexecution.reexecute(confirmed_return.id, actor=staff("warehouse"))
    with pytest.raises(NotFound):
        models.reexecution.reexecute("no-such-case", actor=AUDITOR)
    assert models.reexecution.reexecute(confirmed_return.id, actor=staff("customer_service")).ok


def test_every_completed_case_is_reexecuted(confirmed_return, models):
    rejected = start(models, rmaNumber="RMA-2002", returnReason="transit_damage", returnValue=500.0)
    rejected.complete("review_return", {"reviewDecision": "reject", "rejectionReason": "out_of_period"})
    rejected.run_jobs("notify_rejection")
    assert rejected.status == InstanceStatus.COMPLETED
    reports = list(models.reexecution.reexecute_all(actor=AUDITOR))
    assert [(r.instance_id, r.ok) for r in reports] == [(rejected.id, True)]
    with models.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 2


def test_a_case_whose_data_was_edited_by_hand_reexecutes_with_the_edit(confirmed_return, models):
    """A repair (variables_edited) is an input like a form: re-executed with its values, no false difference."""
    models.case_repair.edit_variables(confirmed_return.id, VariableEdit(
        "Customer gave a new address", {"customerEmail": "ada.new@example.com", "repairNote": "by hand"}),
        actor=ADMIN)
    report = models.reexecution.reexecute(confirmed_return.id, actor=AUDITOR)
    assert report.ok, (report.error, report.differing_steps, report.final_differences)
    assert report.steps[-1].input == "variables_edited"


def test_a_case_moved_to_another_version_is_not_reexecuted_and_says_why(confirmed_return, models):
    source = (REPO / "bpmn" / "returns.bpmn").read_text(encoding="utf-8")
    models.deployments.deploy([ModelFile("returns.bpmn", source.replace('name="Return closed"',
                                                                        'name="Return closed (v2)"'))], actor=ADMIN)
    models.case_migration.migrate_instance(confirmed_return.id, 2, actor=ADMIN)
    report = models.reexecution.reexecute(confirmed_return.id, actor=AUDITOR)
    assert not report.ok and report.steps == ()
    assert "moved from version 1 to 2" in report.error


def test_a_received_signal_is_re_executed(make_engine, database, clock):
    engine = make_engine(database)
    body = ('<bpmn:signal id="s_hold" name="Hold"/><bpmn:process id="held" isExecutable="true">'
            '<bpmn:startEvent id="start"/><bpmn:intermediateCatchEvent id="hold"><bpmn:signalEventDefinition '
            'signalRef="s_hold"/></bpmn:intermediateCatchEvent><bpmn:userTask id="after"/><bpmn:endEvent id="end"/>'
            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="hold"/>'
            '<bpmn:sequenceFlow id="f2" sourceRef="hold" targetRef="after"/>'
            '<bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="end"/></bpmn:process>')
    engine.deployments.deploy([model(body, "held.bpmn")], actor=ADMIN)
    case = engine.instances.start_instance("held", actor=ADMIN).id
    clock.advance(minutes=1)
    assert engine.bpmn_signals.send_signal("Hold", {"why": "audit"}, actor=ADMIN).delivered == [case]
    clock.advance(minutes=1)
    complete_only_task(engine, case)
    report = engine.reexecution.reexecute(case, actor=AUDITOR)
    assert report.ok, report.differing_steps
    assert len(report.steps) == 3 and report.steps[-1].element_id == "after"  # start, the signal, the task
