"""Migrating running returns between versions of bpmn/returns.bpmn: dry run, mapping, the move, the history."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from orchestrator.actors import Actor
from orchestrator.case_migration import INSTANCE_MIGRATED
from orchestrator.case_repair import VariableEdit
from orchestrator.definitions import ModelFile
from orchestrator.errors import Conflict, Forbidden, InvalidInput
from orchestrator.models import InstanceStatus
from orchestrator.service import Engine
from tests.conftest import ADMIN
from tests.processes.driver import CONNECTORS, MODELS, Run, deploy_models, staff
from tests.support import inspect

OWNER = Actor("owner", roles=frozenset({"process_owner"}))
CLERK = Actor("clerk", groups=frozenset({"customer_service"}), roles=frozenset({"staff"}))
INTAKE = dict(rmaNumber="RMA-7001", intakeSource="web_form", orderReference="SO-1", customerName="Ada Lovelace",
              customerEmail="ada@example.com", customerPhone="+447700900123", customerAddress="12 Row, London",
              customerSegment="consumer", sku="KETTLE-2", serialNumber="K2-1", lotNumber="L-7",
              purchaseDate="2026-01-02", quantity=1, returnValue=500.0, returnReason="transit_damage",
              requestedOutcome="refund", returnChannel="carrier_parcel")
REJECT = {"reviewDecision": "reject", "rejectionReason": "out_of_period", "reviewNote": "Bought 2024"}
CONFIRM_STEP = """
    <bpmn:userTask id="confirm_review" name="Confirm the review" camunda:candidateGroups="{groups}">
      <bpmn:incoming>f_review_return_to_confirm_review</bpmn:incoming>
      <bpmn:outgoing>f_review_return_to_gw_review_decision</bpmn:outgoing>
    </bpmn:userTask>
"""


def returns_v2(*, review_due: str = "P2D", confirm_step: bool = True, confirm_groups: str = "customer_service",
               rename_review: str | None = None) -> str:
    """bpmn/returns.bpmn changed as a process owner would: the review's due date, a confirmation step after
    it, or the review renamed (so v1's waiting element no longer exists by its id)."""
    xml = (MODELS / "returns.bpmn").read_text(encoding="utf-8")
    xml = xml.replace('camunda:candidateGroups="${reviewGroup}" camunda:dueDate="P1D">',
                      f'camunda:candidateGroups="${{reviewGroup}}" camunda:dueDate="{review_due}">')
    if confirm_step:
        xml = xml.replace(
            '<bpmn:sequenceFlow id="f_review_return_to_gw_review_decision" sourceRef="review_return" '
            'targetRef="gw_review_decision"/>',
            '<bpmn:sequenceFlow id="f_review_return_to_confirm_review" sourceRef="review_return" '
            'targetRef="confirm_review"/>\n    <bpmn:sequenceFlow id="f_review_return_to_gw_review_decision" '
            'sourceRef="confirm_review" targetRef="gw_review_decision"/>')
        xml = xml.replace("<bpmn:outgoing>f_review_return_to_gw_review_decision</bpmn:outgoing>\n    </bpmn:userTask>",
                          "<bpmn:outgoing>f_review_return_to_confirm_review</bpmn:outgoing>\n    </bpmn:userTask>"
                          + CONFIRM_STEP.format(groups=confirm_groups), 1)
        xml = xml.replace("<bpmn:flowNodeRef>review_return</bpmn:flowNodeRef>",
                          "<bpmn:flowNodeRef>review_return</bpmn:flowNodeRef>\n"
                          "        <bpmn:flowNodeRef>confirm_review</bpmn:flowNodeRef>")
    if rename_review:
        xml = re.sub(r"\breview_return\b", rename_review, xml)
    return xml


def deploy_v2(engine: Engine, **changes) -> int:
    """Deploy a changed returns.bpmn as the next version; its version number."""
    [deployed] = engine.deployments.deploy([ModelFile("returns.bpmn", returns_v2(**changes))], actor=ADMIN)
    return deployed.version


def start_return(engine: Engine, rma: str = "RMA-7001") -> Run:
    return Run.start(engine, "returns", {**INTAKE, "rmaNumber": rma}, business_key=rma)


@pytest.fixture
def returns_engine(make_engine, sqlite_database) -> Engine:
    engine = make_engine(sqlite_database, connector_modules=CONNECTORS)
    deploy_models(engine)
    return engine


def test_a_return_waiting_in_review_moves_to_v2_and_finishes_there(returns_engine, clock):
    engine = returns_engine
    run = start_return(engine)
    assert run.open_task_ids() == ["review_return"]
    version = deploy_v2(engine)
    dry = engine.case_migration.dry_run("returns", 1, version, actor=OWNER)
    assert [(case.instance_id, case.movable, case.waiting_in) for case in dry.cases] == [
        (run.id, True, ["review_return"])]
    task_before = run.task("review_return")

    moved = engine.case_migration.migrate_instance(run.id, version, actor=OWNER)
    [v2] = [d for d in engine.queries.list_definitions("returns") if d.version == version]
    assert moved.definition_id == inspect.instance(engine, run.id).definition_id == v2.id
    assert run.task("review_return").id == task_before.id  # the same inbox task, claim and due date kept
    [event] = [e for e in inspect.history(engine, run.id) if e.type == INSTANCE_MIGRATED]
    assert (event.actor, event.payload["from_version"], event.payload["to_version"], event.payload["mapping"]) == (
        "owner", 1, version, {})

    run.complete("review_return", REJECT)
    confirm = run.task("confirm_review")  # v2's added step
    assert confirm.candidate_groups == ["customer_service"]
    run.complete("confirm_review", {})
    run.run_jobs("notify_rejection")
    assert run.status == InstanceStatus.COMPLETED
    assert run.path[-4:] == ["confirm_review", "gw_review_decision", "notify_rejection", "end_rejected"]
    with pytest.raises(Conflict):  # a finished case does not move
        engine.case_migration.migrate_instance(run.id, 1, actor=OWNER)


def test_new_cases_on_v2_get_the_changed_due_date(returns_engine, clock):
    version = deploy_v2(returns_engine)
    run = start_return(returns_engine, "RMA-7002")
    assert returns_engine.queries.list_definitions("returns")[0].version == version
    assert run.task("review_return").due_at == clock.now() + timedelta(days=2)


def test_a_case_waiting_in_a_removed_element_moves_only_with_an_explicit_mapping(returns_engine):
    engine = returns_engine
    run = start_return(engine)
    version = deploy_v2(engine, confirm_step=False, rename_review="review_request")

    [case] = engine.case_migration.dry_run("returns", 1, version, actor=OWNER).cases
    assert not case.movable and case.waiting_in == ["review_return"]
    assert "waits in 'review_return', which the target version has no element 'review_return' for" in case.reasons
    stored = inspect.instance(engine, run.id).version
    with pytest.raises(Conflict) as refused:
        engine.case_migration.migrate_instance(run.id, version, actor=OWNER)
    assert "review_return" in refused.value.message and inspect.instance(engine, run.id).version == stored
    choices = {c.element_id: c for c in engine.case_migration.element_choices("returns", 1, version, actor=OWNER)}
    assert choices["review_return"].default_target is None
    assert ("review_request", "Review return request") in choices["review_return"].candidates

    mapping = {"review_return": "review_request"}
    [case] = engine.case_migration.dry_run("returns", 1, version, mapping, actor=OWNER).cases
    assert case.movable, case.reasons
    engine.case_migration.migrate_instance(run.id, version, mapping, actor=OWNER)
    assert run.open_task_ids() == ["review_request"]
    [event] = [e for e in inspect.history(engine, run.id) if e.type == INSTANCE_MIGRATED]
    assert event.payload["mapping"] == mapping
    run.complete("review_request", REJECT)
    run.run_jobs("notify_rejection")
    assert run.status == InstanceStatus.COMPLETED


def test_a_variable_the_new_version_needs_makes_a_case_unmovable(returns_engine):
    run = start_return(returns_engine)
    version = deploy_v2(returns_engine, confirm_groups="${confirmGroup}")
    [case] = returns_engine.case_migration.dry_run("returns", 1, version, actor=OWNER).cases
    assert case.reasons == ["the target version needs variable 'confirmGroup', which the case does not have"]
    returns_engine.case_repair.edit_variables(
        run.id, VariableEdit("confirmation by the team lead", {"confirmGroup": "customer_service"}), actor=OWNER)
    [case] = returns_engine.case_migration.dry_run("returns", 1, version, actor=OWNER).cases
    assert case.movable


def test_bad_targets_and_mappings_are_refused(returns_engine):
    run = start_return(returns_engine)
    version = deploy_v2(returns_engine)
    with pytest.raises(InvalidInput) as bad:
        returns_engine.case_migration.dry_run("returns", 1, version, {"nope": "review_return"}, actor=OWNER)
    assert "mapping.nope" in bad.value.errors
    with pytest.raises(InvalidInput):
        returns_engine.case_migration.dry_run("returns", 1, 1, actor=OWNER)
    [capa] = returns_engine.queries.list_definitions("capa")
    with pytest.raises(InvalidInput):
        returns_engine.case_migration.migrate_to(run.id, capa.id, actor=OWNER)
    returns_engine.instances.cancel_instance(run.id, actor=OWNER, reason="duplicate")
    with pytest.raises(Conflict):
        returns_engine.case_migration.migrate_instance(run.id, version, actor=OWNER)


def test_staff_may_not_migrate(returns_engine):
    run = start_return(returns_engine)
    version = deploy_v2(returns_engine)
    with pytest.raises(Forbidden):
        returns_engine.case_migration.dry_run("returns", 1, version, actor=CLERK)
    stored = inspect.instance(returns_engine, run.id).version
    with pytest.raises(Forbidden):
        returns_engine.case_migration.migrate_instance(run.id, version, actor=staff("customer_service"))
    assert inspect.instance(returns_engine, run.id).version == stored


def test_a_return_waiting_for_its_parcel_keeps_its_timers_and_message_wait(returns_engine, clock):
    engine = returns_engine
    run = start_return(engine, "RMA-7003")
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", {"carrier": "dhl", "trackingNumber": "JD0140000001"})
    run.run_jobs()
    before = inspect.instance(engine, run.id)
    timers = engine.queries.waiting_timers_of(OWNER, run.id)
    waits = engine.queries.message_waits_of(OWNER, run.id)
    assert before.next_timer_at is not None and waits
    version = deploy_v2(engine)
    clock.advance(hours=1)
    engine.case_migration.migrate_instance(run.id, version, actor=OWNER)
    after = inspect.instance(engine, run.id)
    assert after.next_timer_at == before.next_timer_at  # the running timers keep their due times
    assert engine.queries.waiting_timers_of(OWNER, run.id) == timers
    assert engine.queries.message_waits_of(OWNER, run.id) == waits
    run.correlate("ParcelReceived", {"parcelScannedAt": "2026-01-07T10:00:00Z"}, rmaNumber="RMA-7003")
    assert run.open_task_ids() == ["receive_parcel"]
