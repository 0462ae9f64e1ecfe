"""The recall signal: returns, complaints and repairs with one fault code on one lot, or on one product model,
start one recall evaluation when their threshold is crossed; the evaluation records the cases it counted, and
the same lot or model and fault is evaluated again only after enough new cases, once the last one has ended."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.models import ProcessInstance
from orchestrator.quality_events import QualityEventInput
from tests.conftest import ADMIN
from tests.processes.driver import CONNECTORS, Run, deploy_models
from tests.processes.test_recall import evaluate_hazard
from tests.processes.test_returns import LABEL, grade_return, receive_parcel, start


def graded_return(engine, rma: str, lot: str = "L-7", fault: str = "F-ELEC") -> None:
    run = start(engine, rmaNumber=rma, lotNumber=lot)
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    receive_parcel(run, rma=rma)
    grade_return(run, faultCode=fault)


def report(engine, kind: str, reference: str, lot: str | None = "L-7", sku: str = "KETTLE-2",
           fault: str = "F-ELEC") -> None:
    """A complaint or repair as `POST /api/v1/quality-events` records it."""
    engine.signals.quality_events.record_event(
        QualityEventInput(kind, reference, sku, fault, engine.now(), lot), actor=ADMIN)


def engine_with(make_engine, database, **settings):
    """The models on SQLite with signal settings of the test's choosing (plain fixtures only: the re-execution
    scenarios run these tests too)."""
    engine = make_engine(database, connector_modules=CONNECTORS, **settings)
    deploy_models(engine)
    return engine


def recall_cases(engine) -> list[ProcessInstance]:
    with engine.db.reading() as session:
        return list(session.scalars(select(ProcessInstance).where(
            ProcessInstance.idempotency_key.like("recall-signal:%")).order_by(ProcessInstance.started_at)))


def decide_no_recall(engine, recall_id: str) -> None:
    run = Run(engine, recall_id)
    run.run_jobs("open_recall_case")
    evaluate_hazard(run, severity="minor", likelihood="remote")
    run.complete("decide_recall", {"recallClass": "none", "decisionRationale": "Cosmetic only"})
    run.run_jobs("record_no_recall")
    assert run.path[-1] == "end_no_recall"


def test_threshold_starts_exactly_one_recall_evaluation(fast_engine, clock):
    engine = fast_engine
    graded_return(engine, "RMA-1")
    graded_return(engine, "RMA-2")
    graded_return(engine, "RMA-3", lot="L-8")  # another lot does not count
    assert engine.signals.find_recall_signals() == [] and engine.signals.start_recall_evaluations() == []

    graded_return(engine, "RMA-4")
    [signal] = engine.signals.find_recall_signals()
    assert (signal.scope, signal.lot, signal.fault_code, signal.rma_numbers) == (
        "lot", "L-7", "F-ELEC", ("RMA-1", "RMA-2", "RMA-4"))
    [recall_id] = engine.signals.start_recall_evaluations()
    recall = Run(engine, recall_id)
    assert recall.variables["triggerSource"] == "signal" and recall.variables["returnCount"] == 3
    assert recall.row.business_key == "SIGNAL-LOT-L-7-F-ELEC"
    assert "RMA-4" in recall.variables["evidenceSummary"]
    assert [case["reference"] for case in recall.variables["signalCases"]] == ["RMA-1", "RMA-2", "RMA-4"]
    [evaluation] = engine.signals.evaluations_of(recall_id)  # what it saw, kept beside the case
    assert (evaluation.scope, evaluation.scope_value, evaluation.threshold, evaluation.new_cases) == (
        "lot", "L-7", 3, 3)
    assert [case["reference"] for case in evaluation.cases] == ["RMA-1", "RMA-2", "RMA-4"]

    graded_return(engine, "RMA-5")  # more returns while the lot's evaluation runs: no second one for the lot,
    [model_recall] = engine.signals.start_recall_evaluations()  # but five of the model (default threshold 5)
    assert Run(engine, model_recall).row.business_key == "SIGNAL-MODEL-KETTLE-F-ELEC"
    assert Run(engine, model_recall).variables["returnCount"] == 5
    assert engine.signals.start_recall_evaluations() == []
    assert [r.id for r in recall_cases(engine)] == [recall_id, model_recall]

    clock.advance(days=engine.settings.recall_signal_window_days + 1)
    assert engine.signals.find_recall_signals() == []  # the window rolled past them


def test_complaints_and_repairs_count_per_lot_and_per_model(make_engine, sqlite_database):
    engine = engine_with(make_engine, sqlite_database, recall_signal_threshold=3, recall_signal_model_threshold=4)
    report(engine, "complaint", "CMP-1", lot="L-1")
    report(engine, "repair", "REP-1", lot="L-2", sku="KETTLE-3")  # another SKU of the same model
    graded_return(engine, "RMA-1", lot="L-3")
    report(engine, "complaint", "CMP-2", lot="L-1", fault="F-MECH")  # another fault
    report(engine, "complaint", "CMP-3", lot="L-1", sku="TOASTER-1")  # another model, same lot
    assert engine.signals.start_recall_evaluations() == []

    report(engine, "complaint", "CMP-4", lot=None)  # no lot: counts for the model only
    [model_signal] = engine.signals.find_recall_signals()
    assert (model_signal.scope, model_signal.scope_value) == ("model", "KETTLE")
    assert sorted(model_signal.references) == ["CMP-1", "CMP-4", "REP-1", "RMA-1"]
    report(engine, "complaint", "CMP-5", lot="L-1")  # the third F-ELEC case on lot L-1 (CMP-3 is a toaster)
    signals = {(s.scope, s.scope_value) for s in engine.signals.find_recall_signals()}
    assert signals == {("model", "KETTLE"), ("lot", "L-1")}

    started = engine.signals.start_recall_evaluations()
    by_scope = {Run(engine, i).variables["signalScope"]: Run(engine, i) for i in started}
    model = by_scope["model"].variables
    assert (model["returnCount"], model["complaintCount"], model["repairCount"]) == (1, 3, 1)
    assert (model["productModel"], model["lotNumber"], model["sku"]) == ("KETTLE", "L-1, L-2, L-3", "KETTLE-2")
    assert "threshold 4" in model["evidenceSummary"] and "repair REP-1" in model["evidenceSummary"]
    lot = by_scope["lot"].variables
    assert (lot["lotNumber"], lot["complaintCount"], lot["returnCount"]) == ("L-1", 3, 0)
    assert by_scope["lot"].row.business_key == "SIGNAL-LOT-L-1-F-ELEC"


def test_a_no_recall_decision_is_re_armed_by_new_cases(make_engine, sqlite_database):
    engine = engine_with(make_engine, sqlite_database, recall_signal_threshold=3, recall_signal_rearm_after=2,
                         recall_signal_model_threshold=99)
    for number in range(3):
        report(engine, "complaint", f"CMP-{number}")
    [first] = engine.signals.start_recall_evaluations()
    report(engine, "complaint", "CMP-3")
    report(engine, "repair", "REP-1")
    assert engine.signals.start_recall_evaluations() == []  # the evaluation still runs

    decide_no_recall(engine, first)
    assert engine.signals.find_recall_signals()[0].new_cases == 2  # both came after what it saw
    [second] = engine.signals.start_recall_evaluations()
    again = Run(engine, second)
    assert again.row.business_key == "SIGNAL-LOT-L-7-F-ELEC-2"
    assert (again.variables["signalEvaluationNumber"], again.variables["signalNewCases"]) == (2, 2)
    assert "Evaluation 2 of this lot and fault: 2 cases since the last one." in again.variables["evidenceSummary"]
    [evaluation] = engine.signals.evaluations_of(second)
    assert [case["reference"] for case in evaluation.cases] == ["CMP-0", "CMP-1", "CMP-2", "CMP-3", "REP-1"]

    decide_no_recall(engine, second)
    report(engine, "complaint", "CMP-4")  # one new case is not enough for a third
    assert engine.signals.start_recall_evaluations() == []
    report(engine, "complaint", "CMP-5")
    [third] = engine.signals.start_recall_evaluations()
    assert Run(engine, third).row.business_key == "SIGNAL-LOT-L-7-F-ELEC-3"
    assert len(recall_cases(engine)) == 3


def test_no_fault_found_and_blank_fault_codes_are_not_evidence(fast_engine):
    engine = fast_engine
    for rma in ("RMA-N1", "RMA-N2", "RMA-N3"):
        graded_return(engine, rma, fault="none")  # inspected: "No fault found"
    for rma in ("RMA-B1", "RMA-B2", "RMA-B3"):
        start(engine, rmaNumber=rma, faultCode=" ")  # imported with an empty fault column, not graded yet
    assert engine.signals.find_recall_signals() == [] and engine.signals.start_recall_evaluations() == []

    for rma in ("RMA-F1", "RMA-F2", "RMA-F3"):  # real faults on the same lot still count, on their own
        graded_return(engine, rma)
    [signal] = engine.signals.find_recall_signals()
    assert (signal.fault_code, signal.rma_numbers) == ("F-ELEC", ("RMA-F1", "RMA-F2", "RMA-F3"))
