"""Every path of bpmn/capa.bpmn through the engine: each gateway branch, timer and error boundary, and the
multi-instance countersign. The message start (CapaRequested) is covered in test_links.py, one CAPA per problem
in test_capa_links.py."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.models import InstanceStatus
from orchestrator.quality_events import QualityEventInput
from tests.conftest import ADMIN
from tests.processes.driver import Run, staff

MANUAL = dict(
    source="audit",
    sourceReference="AUD-2026-03",
    sku="KETTLE-2",
    lotNumber="L-7",
    faultCode="F-ELEC",
    problemSummary="Audit found thermostat relays from an unapproved supplier batch",
)
TEAM = dict(
    teamLeader="Grace (QA)",
    teamMembers="Grace (QA), Linus (engineering), Ken (warehouse)",
    targetCloseDate="2026-04-30",
)
PROBLEM = dict(
    problemWhat="Relay welds shut, base overheats",
    problemWhy="Burn hazard",
    problemWhere="Line 2",
    problemWhen="2026-01-03",
    problemWho="Returns inspection",
    problemHow="12 returns with F-ELEC",
    problemHowMany=12,
)
ROOT_CAUSE = dict(
    why1="Base overheats",
    why2="Relay contacts weld",
    why3="Relay rated 8 A, load 10 A",
    why4="Supplier changed part",
    why5="No change notification in the contract",
    rootCause="Under-rated relay accepted without incoming inspection",
    ishikawaCategory="material",
)


def start(engine, **changes) -> Run:
    return Run.start(engine, "capa", {**MANUAL, **changes}, business_key="CAPA-AUD-2026-03")


def classify(run: Run, capa_type="product_defect", severity="critical", party="supplier", open_capa=True):
    run.complete(
        "classify_capa",
        {
            "capaType": capa_type,
            "severity": severity,
            "responsibleParty": party,
            "openCapa": open_capa,
            "classificationRationale": "Safety relevant",
        },
    )


def through_problem(run: Run, quarantine: bool, **containment):
    run.run_jobs("open_capa_ticket")
    run.complete("form_team", TEAM)
    run.complete("describe_problem", PROBLEM)
    values = {"containmentActions": "Stop shipping lot L-7", "quarantineStock": quarantine, **containment}
    run.complete("define_containment", values)


def countersign(run: Run, verdicts: dict[str, str]):
    tasks = {
        task.candidate_groups[0]: task
        for task in run.open_tasks()
        if task.element_id == "countersign_root_cause"
    }
    assert set(tasks) == set(verdicts)
    for group, verdict in verdicts.items():
        run.engine.tasks.complete_user_task(tasks[group].id, {"countersignVerdict": verdict}, actor=staff(group))


def record_complaints(engine, count: int, *, lot="L-7", sku="KETTLE-2", fault="F-ELEC", prefix="CMP") -> None:
    """Complaints reported by the service desk, as `POST /api/v1/quality-events` records them."""
    for number in range(count):
        engine.signals.quality_events.record_event(
            QualityEventInput("complaint", f"{prefix}-{lot}-{number}", sku, fault, engine.now(), lot), actor=ADMIN)


def after_countersign(run: Run, verify_after_days: int, clock, recurrences: int = 0):
    """D5 to the effectiveness check; `recurrences` complaints of the problem come in after the fix."""
    run.complete("review_countersign", {"rootCauseConfirmed": True})
    run.complete(
        "choose_corrective_action",
        {
            "correctiveAction": "16 A relay, incoming inspection",
            "verificationMethod": "500 cycles at 10 A",
            "actionVerified": True,
        },
    )
    run.complete(
        "plan_implementation",
        {
            "actionOwner": "Linus",
            "actionDueDate": "2026-02-15",
            "implementationPlan": "Change BOM, qualify supplier",
        },
    )
    run.run_jobs("open_action_ticket")
    run.complete("confirm_implementation", {"implementedOn": clock.now().date().isoformat()})
    run.run_jobs("count_cases_since_opened")
    run.complete(
        "standardise",
        {
            "preventiveAction": "Change notification clause",
            "documentsUpdated": "PUR-004",
            "riskRegisterUpdated": True,
        },
    )
    run.run_jobs("mark_effectiveness_check")
    assert run.row.next_timer_at == clock.now() + timedelta(days=verify_after_days)
    record_complaints(run.engine, recurrences, prefix=f"CMP-{clock.now().date()}")
    clock.advance(days=verify_after_days, seconds=1)
    assert run.engine.timers.fire_due_timers() == [run.id]
    run.run_jobs("count_recurrence")
    assert run.variables["recurrenceCount"] == recurrences


def test_critical_defect_runs_all_eight_disciplines(models_engine, clock, ledger):
    run = start(models_engine)
    classify_task = run.task("classify_capa")
    assert (classify_task.candidate_groups, classify_task.due_at) == (["qa"], clock.now() + timedelta(days=2))
    classify(run)
    [(_, topic, ticket, _)] = run.run_jobs("open_capa_ticket")
    assert (topic, ticket) == (
        "qms.create_ticket",
        {
            "title": "CAPA product_defect: KETTLE-2",
            "severity": "critical",
            "description": "Safety relevant",
            "source": "audit",
        },
    )
    run.complete("form_team", TEAM)
    assert run.variables["departments"] == [
        "qa",
        "engineering",
        "management",
        "legal",
    ]  # DMN capa_countersign
    run.complete("describe_problem", PROBLEM)
    run.complete(
        "define_containment",
        {
            "containmentActions": "Stop shipping lot L-7",
            "quarantineStock": True,
            "quarantineSku": "KETTLE-2",
            "quarantineLot": "L-7",
            "quarantineQuantity": 300,
        },
    )
    [(_, topic, quarantine, _)] = run.run_jobs("quarantine_stock")
    assert (topic, quarantine) == (
        "erp.quarantine_stock",
        {"sku": "KETTLE-2", "lot": "L-7", "quantity": 300, "reason": "CAPA QMS-00001"},
    )
    assert (run.variables["quarantineId"], run.variables["quarantinedQuantity"]) == ("QS-00002", 300.0)
    analysis = run.task("analyse_root_cause")
    assert analysis.candidate_groups == ["qa", "engineering"]
    assert [f["id"] for f in analysis.form][:6] == ["why1", "why2", "why3", "why4", "why5", "rootCause"]
    run.complete("analyse_root_cause", ROOT_CAUSE)
    signatures = [t for t in run.open_tasks() if t.element_id == "countersign_root_cause"]
    assert sorted(t.candidate_groups[0] for t in signatures) == ["engineering", "legal", "management", "qa"]
    assert all(t.due_at == clock.now() + timedelta(days=3) for t in signatures)
    countersign(run, {"qa": "agree", "engineering": "agree", "management": "agree", "legal": "agree"})
    after_countersign(run, 30, clock)  # critical: effectiveness checked after 30 days; nothing recurred
    assert run.task("close_capa").candidate_groups == ["management"]
    run.complete(
        "close_capa", {"closureSummary": "Relay replaced, supplier requalified", "teamRecognised": True}
    )
    [(_, topic, closing, _)] = run.run_jobs("close_capa_ticket")
    assert (topic, closing) == (
        "qms.update_ticket",
        {"ticketId": "QMS-00001", "status": "closed", "note": "Relay replaced, supplier requalified"},
    )
    assert run.status == InstanceStatus.COMPLETED
    path = run.path
    assert path[:9] == [
        "capa_raised_manually",
        "gw_intake_merge",
        "classify_capa",
        "gw_open_capa",
        "open_capa_ticket",
        "form_team",
        "select_countersigners",
        "describe_problem",
        "define_containment",
    ]
    assert path.count("countersign_root_cause") == 5  # four departments and the multi-instance activity
    assert path[path.index("review_countersign") :] == [
        "review_countersign",
        "gw_root_cause_confirmed",
        "gw_action_merge",
        "choose_corrective_action",
        "gw_action_verified",
        "plan_implementation",
        "open_action_ticket",
        "confirm_implementation",
        "count_cases_since_opened",
        "standardise",
        "mark_effectiveness_check",
        "effectiveness_due",
        "count_recurrence",
        "gw_recurred",
        "gw_close_merge",
        "close_capa",
        "close_capa_ticket",
        "end_capa_closed",
    ]
    assert len(ledger.effects("erp.quarantine_stock")) == 1


def test_request_that_needs_no_capa_ends_at_classification(fast_engine):
    run = start(fast_engine, source="manual")
    classify(run, capa_type="description_mismatch", severity="minor", party="service", open_capa=False)
    assert run.path == [
        "capa_raised_manually",
        "gw_intake_merge",
        "classify_capa",
        "gw_open_capa",
        "end_not_opened",
    ]
    assert run.status == InstanceStatus.COMPLETED


def test_late_containment_refused_quarantine_objection_and_ineffective_action_loop_back(
    fast_engine, clock, ledger
):
    """Major packaging defect by the warehouse: every reminder and every loop of the 8D case."""
    ledger.script("erp.quarantine_stock", "business:E_QUARANTINE_REFUSED")
    run = start(fast_engine, source="supplier")
    classify(run, capa_type="packaging", severity="major", party="warehouse")
    run.run_jobs("open_capa_ticket")
    run.complete("form_team", TEAM)
    assert run.variables["departments"] == ["qa", "engineering", "warehouse"]
    run.complete("describe_problem", PROBLEM)
    clock.advance(hours=24, seconds=1)
    assert fast_engine.timers.fire_due_timers() == [run.id]
    [(_, _, reminder, _)] = run.run_jobs("remind_containment")
    assert (reminder["to"], reminder["template"]) == ("qa-leads@loopline.local", "capa_containment_overdue")
    run.complete(
        "define_containment",
        {
            "containmentActions": "Block bin 14",
            "quarantineStock": True,
            "quarantineSku": "KETTLE-2",
            "quarantineLot": "L-7",
            "quarantineQuantity": 80,
        },
    )
    [(_, _, _, outcome)] = run.run_jobs("quarantine_stock")
    assert outcome == "failed"
    run.complete("quarantine_manually", {"quarantineLocation": "Cage Q1", "quarantinedQuantity": 80})

    run.complete("analyse_root_cause", ROOT_CAUSE)
    clock.advance(days=3, seconds=1)
    assert fast_engine.timers.fire_due_timers() == [run.id]
    [(_, _, nudge, _)] = run.run_jobs("remind_countersigners")
    assert nudge["variables"]["departments"] == ["qa", "engineering", "warehouse"]
    countersign(run, {"qa": "agree", "engineering": "object", "warehouse": "agree"})
    run.complete(
        "review_countersign", {"rootCauseConfirmed": False, "objectionsSummary": "Carton spec, not relay"}
    )
    run.complete(
        "analyse_root_cause", {**ROOT_CAUSE, "rootCause": "Carton too weak", "ishikawaCategory": "method"}
    )
    countersign(run, {"qa": "agree", "engineering": "agree", "warehouse": "agree"})
    run.complete("review_countersign", {"rootCauseConfirmed": True})
    run.complete(
        "choose_corrective_action",
        {
            "correctiveAction": "Double-wall carton",
            "verificationMethod": "Drop test",
            "actionVerified": False,
        },
    )
    run.complete(
        "choose_corrective_action",
        {
            "correctiveAction": "Double-wall carton + insert",
            "verificationMethod": "Drop test",
            "actionVerified": True,
        },
    )
    run.complete(
        "plan_implementation",
        {"actionOwner": "Ken", "actionDueDate": "2026-03-01", "implementationPlan": "New packaging spec"},
    )
    run.run_jobs("open_action_ticket")
    run.complete("confirm_implementation", {"implementedOn": clock.now().date().isoformat()})
    run.run_jobs("count_cases_since_opened")
    run.complete(
        "standardise",
        {
            "preventiveAction": "Drop test in release",
            "documentsUpdated": "PKG-002",
            "riskRegisterUpdated": True,
        },
    )
    run.run_jobs("mark_effectiveness_check")
    record_complaints(fast_engine, 3)  # the same fault on the same lot after the fix
    clock.advance(days=60, seconds=1)  # major: 60 days
    assert fast_engine.timers.fire_due_timers() == [run.id]
    run.run_jobs("count_recurrence")
    assert run.variables["recurrenceCount"] == 3 and len(run.variables["recurrenceCases"]) == 3
    with pytest.raises(InvalidInput) as refused:  # judged effective all the same: say why
        run.complete("verify_effectiveness", {"effective": True})
    assert set(refused.value.errors) == {"effectivenessNotes"}
    run.complete("verify_effectiveness", {"effective": False})
    assert run.open_task_ids() == ["analyse_root_cause"]  # not effective: back to D4
    run.complete(
        "analyse_root_cause", {**ROOT_CAUSE, "rootCause": "Pallet stacking", "ishikawaCategory": "method"}
    )
    countersign(run, {"qa": "agree", "engineering": "agree", "warehouse": "agree"})
    after_countersign(run, 60, clock, recurrences=1)  # one more, from stock made before the fix
    run.complete("verify_effectiveness", {"effective": True, "effectivenessNotes": "Unit built before the fix"})
    run.complete("close_capa", {"closureSummary": "Packaging and stacking fixed"})
    run.run_jobs("close_capa_ticket")
    assert run.status == InstanceStatus.COMPLETED
    path = run.path
    for element in (
        "containment_overdue",
        "end_containment_reminded",
        "quarantine_refused",
        "quarantine_manually",
        "countersign_overdue",
        "end_countersigners_reminded",
    ):
        assert element in path, element
    assert path.count("analyse_root_cause") == 3 and path.count("review_countersign") == 3
    assert path.count("choose_corrective_action") == 3 and path.count("gw_action_merge") == 3
    assert path.count("verify_effectiveness") == 2 and path.count("count_recurrence") == 2
    assert path.index("quarantine_manually") < path.index("gw_containment_done")


def test_minor_issue_without_quarantine_is_checked_after_90_days(fast_engine, clock):
    run = start(fast_engine, source="complaint")
    classify(run, capa_type="logistics_damage", severity="minor", party="logistics")
    through_problem(run, quarantine=False)
    assert "quarantine_stock" not in run.path
    assert run.path[run.path.index("gw_quarantine") + 1] == "gw_containment_done"
    run.complete("analyse_root_cause", ROOT_CAUSE)
    countersign(run, {"qa": "agree", "warehouse": "agree"})
    after_countersign(run, 90, clock)
    run.complete("close_capa", {"closureSummary": "Carrier changed"})
    run.run_jobs("close_capa_ticket")
    assert run.status == InstanceStatus.COMPLETED


def test_quarantine_without_a_sku_is_refused_at_d3_and_changes_nothing(fast_engine, ledger):
    run = start(fast_engine)
    classify(run)
    run.run_jobs("open_capa_ticket")
    run.complete("form_team", TEAM)
    run.complete("describe_problem", PROBLEM)
    version = run.row.version
    with pytest.raises(InvalidInput) as refused:
        run.complete("define_containment", {"containmentActions": "Block lot L-7", "quarantineStock": True,
                                             "quarantineLot": "L-7", "quarantineQuantity": 80})
    assert refused.value.errors == {"quarantineSku": "is required when quarantineStock is true"}
    assert run.row.version == version and run.open_task_ids() == ["define_containment"]
    assert ledger.effects("erp.quarantine_stock") == []
    run.complete("define_containment", {"containmentActions": "Watch the line", "quarantineStock": False})
    assert run.open_task_ids() == ["analyse_root_cause"]  # no quarantine: no SKU needed
