"""Returns with one fault code on one lot start one recall evaluation when the threshold is crossed."""

from __future__ import annotations

from orchestrator.models import ProcessInstance
from tests.processes.driver import Run
from tests.processes.test_returns import LABEL, grade_return, receive_parcel, start


def graded_return(engine, rma: str, lot: str = "L-7", fault: str = "F-ELEC") -> None:
    run = start(engine, rmaNumber=rma, lotNumber=lot)
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    receive_parcel(run, rma=rma)
    grade_return(run, faultCode=fault)


def test_threshold_starts_exactly_one_recall_evaluation(fast_engine, clock):
    engine = fast_engine
    graded_return(engine, "RMA-1")
    graded_return(engine, "RMA-2")
    graded_return(engine, "RMA-3", lot="L-8")  # another lot does not count
    assert engine.signals.find_recall_signals() == [] and engine.signals.start_recall_evaluations() == []

    graded_return(engine, "RMA-4")
    [signal] = engine.signals.find_recall_signals()
    assert (signal.lot, signal.fault_code, signal.rma_numbers) == ("L-7", "F-ELEC", ("RMA-1", "RMA-2", "RMA-4"))
    [recall_id] = engine.signals.start_recall_evaluations()
    recall = Run(engine, recall_id)
    assert recall.variables["triggerSource"] == "signal" and recall.variables["returnCount"] == 3
    assert "RMA-4" in recall.variables["evidenceSummary"]

    graded_return(engine, "RMA-5")  # more returns on the same lot and fault: still one evaluation
    assert engine.signals.start_recall_evaluations() == []
    with engine.db.reading() as session:
        recalls = session.query(ProcessInstance).filter(ProcessInstance.idempotency_key.like("recall-signal:%")).all()
    assert [r.id for r in recalls] == [recall_id]

    clock.advance(days=engine.settings.recall_signal_window_days + 1)
    assert engine.signals.find_recall_signals() == []  # the window rolled past them


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
