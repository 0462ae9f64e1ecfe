"""The printable reports' data from real cases of the bundled processes: an 8D report holds each discipline's
entries and every countersignature, the recall status report counts what the process's own status report step
counted, the termination summary names the dates and the CAPA, and a return slip carries the RMA number."""

from __future__ import annotations

import pytest

from orchestrator.actors import Actor
from orchestrator.errors import NotFound
from orchestrator.reports import CaseReports, ReportNotApplicable, UnknownReport, reports_for
from tests.conftest import ADMIN
from tests.processes.driver import staff
from tests.processes.test_capa import (
    PROBLEM,
    ROOT_CAUSE,
    TEAM,
    after_countersign,
    classify,
    countersign,
    through_problem,
)
from tests.processes.test_capa import start as start_capa
from tests.processes.test_recall_effectiveness import (  # noqa: F401 - recall_engine is a fixture
    CASE,
    _terminate,
    acknowledge,
    notified_class_two_recall,
    recall_engine,
    settle_rma,
)
from tests.processes.test_returns import LABEL
from tests.processes.test_returns import start as start_return

MANAGER = Actor("management@demo.loopline", roles=frozenset({"manager"}))
OUTSIDER = staff("warehouse", "someone-else")


def closed_capa(engine, clock):
    run = start_capa(engine)
    classify(run)
    through_problem(run, quarantine=False)
    run.complete("analyse_root_cause", ROOT_CAUSE)
    countersign(run, {"qa": "agree", "engineering": "agree", "management": "agree", "legal": "agree"})
    after_countersign(run, 30, clock)
    run.complete("close_capa", {"closureSummary": "Relay replaced, supplier requalified",
                                "lessonsLearned": "Ask for change notices", "teamRecognised": True})
    run.run_jobs("close_capa_ticket")
    return run


def test_the_8d_report_holds_every_discipline_and_countersignature(models_engine, clock, ledger):
    run = closed_capa(models_engine, clock)
    report = CaseReports(models_engine).report(MANAGER, run.id, "8d")
    assert report.case.reference == "CAPA-AUD-2026-03"
    assert dict(report.intake)["sku"] == "KETTLE-2" and dict(report.intake)["severity"] == "critical"
    assert report.classified.actor == "qa-user"
    [team] = report.discipline("D1").steps
    assert (team.actor, team.value("teamLeader")) == ("qa-user", TEAM["teamLeader"])
    assert report.started.at <= team.at <= report.discipline("D8").steps[0].at
    assert dict(report.discipline("D1").outputs)["departments"] == ["qa", "engineering", "management", "legal"]
    [problem] = report.discipline("D2").steps
    assert {name: problem.value(name) for name in PROBLEM} == PROBLEM
    assert report.discipline("D3").steps[0].value("containmentActions") == "Stop shipping lot L-7"
    assert report.root_cause.whys == tuple(ROOT_CAUSE[f"why{n}"] for n in range(1, 6))
    assert (report.root_cause.root_cause, report.root_cause.ishikawa_category) == (
        ROOT_CAUSE["rootCause"], "material")
    signatures = {s.groups: s.value("countersignVerdict") for s in report.countersignatures}
    assert signatures == {("qa",): "agree", ("engineering",): "agree", ("management",): "agree",
                          ("legal",): "agree"}
    assert {s.actor for s in report.countersignatures} == {"qa-user", "engineering-user", "management-user",
                                                            "legal-user"}
    assert [s.element_id for s in report.discipline("D4").steps] == ["analyse_root_cause", "review_countersign"]
    assert report.discipline("D5").steps[0].value("correctiveAction") == "16 A relay, incoming inspection"
    assert [s.element_id for s in report.discipline("D6").steps] == ["plan_implementation", "confirm_implementation"]
    assert report.discipline("D7").steps[0].value("documentsUpdated") == "PUR-004"
    assert dict(report.discipline("effectiveness").outputs)["recurrenceCount"] == 0
    [closing] = report.discipline("D8").steps
    assert (closing.actor, closing.value("lessonsLearned")) == ("management-user", "Ask for change notices")


def test_an_objection_shows_each_round_of_countersignatures(fast_engine, clock, ledger):
    run = start_capa(fast_engine)
    classify(run, severity="major", party="warehouse")
    through_problem(run, quarantine=False)
    run.complete("analyse_root_cause", ROOT_CAUSE)
    tasks = [t for t in run.open_tasks() if t.element_id == "countersign_root_cause"]
    for task in tasks:
        verdict = {"countersignVerdict": "object", "countersignComment": "Check the supplier's batch"} \
            if task.candidate_groups == ["warehouse"] else {"countersignVerdict": "agree"}
        fast_engine.tasks.complete_user_task(task.id, verdict, actor=staff(task.candidate_groups[0]))
    report = CaseReports(fast_engine).report(ADMIN, run.id, "8d")
    objection = [s for s in report.countersignatures if s.value("countersignVerdict") == "object"]
    assert [(s.groups, s.value("countersignComment")) for s in objection] == [
        (("warehouse",), "Check the supplier's batch")]
    assert len(report.countersignatures) == len(tasks)


def test_the_recall_status_report_counts_what_the_process_counted(recall_engine, clock):  # noqa: F811
    run = notified_class_two_recall(recall_engine)
    acknowledge(recall_engine, "CUST-881", "repair", 1)
    settle_rma(run, f"RMA-{CASE}-CUST-881", {"grade": "B", "faultCode": "F-ELEC", "responsibility": "supplier",
                                             "disposition": "refurbish"})
    acknowledge(recall_engine, "GLN-D1", "refund", 400)
    for _ in range(3):
        clock.advance(days=3, seconds=1)
        recall_engine.timers.fire_due_timers()
        run.run_jobs()
    run.complete("call_non_responders", {"partnersReached": 1, "stillUnreachable": 0})
    clock.advance(days=14, seconds=1)
    recall_engine.timers.fire_due_timers()
    run.run_jobs("count_recall_progress", "count_registrations")
    run.complete("compile_status_report", {"estimatedCompletion": "2026-03-01", "recallEffortComplete": False})
    reports = CaseReports(recall_engine)
    report = reports.report(ADMIN, run.id, "recall-status")
    assert report.figures.problem is None
    assert report.figures.progress == run.variables["recallProgress"]  # the process's own status report figures
    assert report.figures.total("notified") == run.variables["notifiedCount"] == 4
    assert report.figures.total("responded") == run.variables["respondedCount"] == 2
    assert report.figures.total("quantityOnHand") == run.variables["quantityOnHandAtNotice"] == 401
    assert report.figures.total("corrected") == run.variables["correctedQuantity"] == 1.0
    assert [(n.element_id, n.channels, n.recipients) for n in report.notices][:2] == [
        ("notify_partners", ("email",), 2), ("notify_consumers", ("email", "sms"), 2)]
    assert report.estimated_completion == "2026-03-01"
    assert dict(report.facts)["recallClass"] == "II"


def test_the_termination_summary_names_dates_disposition_and_the_capa(recall_engine, clock):  # noqa: F811
    run = notified_class_two_recall(recall_engine)
    for recipient in ("CUST-881", "CUST-883"):
        acknowledge(recall_engine, recipient, "repair", 1)
        settle_rma(run, f"RMA-{CASE}-{recipient}", {"grade": "B", "faultCode": "F-ELEC",
                                                     "responsibility": "supplier", "disposition": "refurbish"})
    for _ in range(3):
        clock.advance(days=3, seconds=1)
        recall_engine.timers.fire_due_timers()
        run.run_jobs()
    run.complete("call_non_responders", {"partnersReached": 2, "stillUnreachable": 0})
    _terminate(run, clock, checks=[2])
    run.run_jobs("request_termination")
    run.complete("record_authority_decision", {"authorityDecision": "terminated", "authorityReference": "MS-77/2",
                                               "authorityDecisionDate": "2026-03-20"})
    run.run_jobs("close_recall_case", "request_root_cause_capa")
    summary = CaseReports(recall_engine).report(MANAGER, run.id, "recall-termination")
    assert summary.decided.value("recallClass") == "II"
    assert summary.first_notice_at is not None and summary.termination_requested_at > summary.first_notice_at
    assert summary.termination_approved.value("productDisposition") == "mixed"
    assert [d.value("authorityDecision") for d in summary.authority_decisions] == ["terminated"]
    assert summary.figures.total("corrected") == 2.0
    assert [c.value("sampleSize") for c in summary.checks] == [2]
    assert summary.capa_business_key == f"CAPA-{run.variables['recallTicketId']}"
    assert summary.capa_instance_id is not None


def test_the_return_slip_carries_the_rma_number_and_the_label(fast_engine):
    run = start_return(fast_engine)
    run.complete("review_return", {"reviewDecision": "accept", "reviewNote": "Please include the charger"})
    run.complete("issue_return_label", LABEL)
    slip = CaseReports(fast_engine).report(ADMIN, run.id, "return-slip")
    assert (slip.rma_number, slip.barcode_text) == ("RMA-1001", "RMA-1001")
    assert dict(slip.customer)["customerAddress"] == "12 Analytical Row, London"
    assert dict(slip.product)["serialNumber"] == "K2-000913"
    assert dict(slip.reason)["returnReason"] == "quality_defect"
    assert (slip.label.value("carrier"), slip.label.value("trackingNumber")) == ("dhl", "JD0140000001")
    assert slip.review_note == "Please include the charger"


def test_who_may_read_which_report(fast_engine):
    run = start_return(fast_engine)
    reports = CaseReports(fast_engine)
    assert reports.report(staff("customer_service"), run.id, "return-slip").rma_number == "RMA-1001"  # their task
    with pytest.raises(NotFound):
        reports.report(OUTSIDER, run.id, "return-slip")
    with pytest.raises(ReportNotApplicable):
        reports.report(ADMIN, run.id, "8d")
    with pytest.raises(UnknownReport):
        reports.report(ADMIN, run.id, "balance-sheet")
    assert reports_for("returns") == ["return-slip"]
    assert reports_for("recall") == ["recall-status", "recall-termination"]
