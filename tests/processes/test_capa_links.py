"""One open CAPA per fault code and lot: a defective return (or a complaint or repair) of a problem that already
has an open CAPA joins it instead of opening another, and the CAPA counts its problem's cases from the data."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from integrations.registry import BusinessError, JobContext
from orchestrator.capa_links import CAPA_REQUESTED, CapaRequestingSendMessage, CountCapaCases
from orchestrator.errors import Conflict, InvalidInput
from orchestrator.models import InstanceStatus, ProcessDefinition, ProcessInstance
from orchestrator.quality_events import QualityEventInput
from tests.conftest import ADMIN
from tests.processes.driver import CONNECTORS, Run
from tests.processes.test_returns import LABEL, grade_return, receive_parcel, start
from tests.support import inspect


def real_sender(engine) -> CapaRequestingSendMessage:
    """The engine's own `loopline.send_message` (the process tests record that topic with a double)."""
    return CapaRequestingSendMessage(engine, engine.signals.capa_links)


def request(engine, rma: str, lot: str = "L-7", fault: str = "F-ELEC", attempt: int = 1, sku: str = "KETTLE-2"):
    """What the return's `request_capa` send task hands the engine's `loopline.send_message` connector."""
    job_input = {"messageName": CAPA_REQUESTED, "businessKey": f"CAPA-{rma}",
                 "variables": {"source": "return", "sourceReference": rma, "sku": sku, "lotNumber": lot,
                               "faultCode": fault, "responsibleParty": "supplier"}}
    context = JobContext(1, "return-case", rma, "request_capa", "loopline.send_message", attempt, f"job-{rma}")
    return real_sender(engine).run(job_input, context)


def capas(engine) -> list[ProcessInstance]:
    with engine.db.reading() as session:
        return list(session.scalars(
            select(ProcessInstance).join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .where(ProcessDefinition.key == "capa").order_by(ProcessInstance.started_at, ProcessInstance.id)))


def linked(engine, capa_id: str) -> list[tuple[str, str, bool]]:
    return [(link.kind, link.reference, link.joined) for link in engine.signals.capa_links.linked_cases(capa_id)]


def complaint(engine, reference: str, lot: str | None = "L-7", fault: str = "F-ELEC", **options):
    event = QualityEventInput("complaint", reference, "KETTLE-2", fault, engine.now(), lot)
    return engine.signals.quality_events.record_event(event, actor=ADMIN, **options)


def test_a_second_defective_return_of_the_same_fault_and_lot_joins_the_open_capa(models_engine):
    """End to end: the returns' own `request_capa` jobs, on both backends."""
    engine = models_engine
    engine.connectors.register(real_sender(engine))
    for rma in ("RMA-1", "RMA-2"):
        run = start(engine, rmaNumber=rma, lotNumber="L-7")
        run.complete("review_return", {"reviewDecision": "accept"})
        run.complete("issue_return_label", LABEL)
        run.run_jobs("send_rma_confirmation")
        receive_parcel(run, rma=rma)
        grade_return(run, faultCode="F-ELEC")
        [(_, topic, _, outcome)] = run.run_jobs("request_capa")
        assert (topic, outcome) == ("loopline.send_message", "completed")
        assert run.variables["capaRequested"] is True

    [capa] = capas(engine)  # the second return opened no CAPA of its own
    assert (capa.business_key, capa.status) == ("CAPA-RMA-1", InstanceStatus.RUNNING)
    assert linked(engine, capa.id) == [("return", "RMA-1", False), ("return", "RMA-2", True)]
    notes = engine.comments.comments_of(ADMIN, capa.id)
    assert [note.payload["text"] for note in notes] == [
        "Return RMA-2 (fault F-ELEC, lot L-7) joined this CAPA instead of opening another."]
    assert notes[0].payload["linkedCase"]["reference"] == "RMA-2"
    assert Run(engine, capa.id).open_task_ids() == ["classify_capa"]  # the CAPA itself did not move


def test_another_lot_or_fault_opens_its_own_capa_and_a_closed_one_is_not_joined(fast_engine):
    engine = fast_engine
    first = request(engine, "RMA-1")
    assert first["messageStartedInstance"] is True and first["capaJoined"] is False
    joined = request(engine, "RMA-2")
    assert (joined["messageDeliveredTo"], joined["capaJoined"]) == (first["messageDeliveredTo"], True)
    assert request(engine, "RMA-2", attempt=2) == joined  # a retried job: the same answer, linked once
    other_lot = request(engine, "RMA-3", lot="L-8")
    other_fault = request(engine, "RMA-4", fault="F-MECH")
    assert other_lot["messageStartedInstance"] and other_fault["messageStartedInstance"]
    assert len({first["messageDeliveredTo"], other_lot["messageDeliveredTo"], other_fault["messageDeliveredTo"]}) == 3
    assert linked(engine, first["messageDeliveredTo"]) == [("return", "RMA-1", False), ("return", "RMA-2", True)]

    capa = Run(engine, first["messageDeliveredTo"])  # classified: no CAPA needed, the case ends
    capa.complete("classify_capa", {"capaType": "product_defect", "severity": "minor", "responsibleParty": "supplier",
                                    "openCapa": False, "classificationRationale": "One-off"})
    assert capa.status == InstanceStatus.COMPLETED
    again = request(engine, "RMA-5")
    assert again["messageStartedInstance"] and again["messageDeliveredTo"] != first["messageDeliveredTo"]
    assert len(capas(engine)) == 4


def test_a_capa_raised_by_hand_for_the_problem_is_joined_too(fast_engine):
    manual = Run.start(fast_engine, "capa", {"source": "audit", "sku": "KETTLE-2", "lotNumber": "L-7",
                                             "faultCode": "F-ELEC", "problemSummary": "Audit finding"})
    assert request(fast_engine, "RMA-1")["messageDeliveredTo"] == manual.id
    assert linked(fast_engine, manual.id) == [("return", "RMA-1", True)]


def test_requests_without_a_lot_or_fault_and_other_messages_go_as_before(fast_engine):
    no_lot = request(fast_engine, "RMA-1", lot="")
    no_lot_again = request(fast_engine, "RMA-2", lot="")
    assert no_lot["messageDeliveredTo"] != no_lot_again["messageDeliveredTo"]  # nothing to tell them apart by
    context = JobContext(1, "i", None, "send", "loopline.send_message", 1, "job-x")
    with pytest.raises(BusinessError) as refused:  # any other message: the engine's sender, unchanged
        real_sender(fast_engine).run({"messageName": "NoSuchMessage"}, context)
    assert refused.value.code == "E_MESSAGE_NOT_DELIVERED"


def test_a_complaint_joins_the_open_capa_and_may_open_one(fast_engine):
    engine = fast_engine
    assert complaint(engine, "CMP-1").capa_instance_id is None  # no CAPA open: recorded, counted, not opened
    capa_id = request(engine, "RMA-1")["messageDeliveredTo"]
    assert complaint(engine, "CMP-2").capa_instance_id == capa_id
    assert complaint(engine, "CMP-3", lot=None).capa_instance_id is None  # no lot: no problem to join
    assert linked(engine, capa_id) == [("return", "RMA-1", False), ("complaint", "CMP-2", True)]

    opened = complaint(engine, "CMP-4", lot="L-9", request_capa=True)
    capa = Run(engine, opened.capa_instance_id)
    assert capa.open_task_ids() == ["classify_capa"] and capa.path[0] == "capa_requested"
    assert {k: capa.variables[k] for k in ("source", "sourceReference", "lotNumber", "productModel")} == {
        "source": "complaint", "sourceReference": "CMP-4", "lotNumber": "L-9", "productModel": "KETTLE"}


def test_bad_or_repeated_quality_events_are_refused_and_change_nothing(fast_engine):
    engine = fast_engine
    complaint(engine, "CMP-1")
    with pytest.raises(Conflict):
        complaint(engine, "CMP-1")
    bad = QualityEventInput("rumour", " ", "", "none", engine.now().replace(tzinfo=None), "x" * 101)
    with pytest.raises(InvalidInput) as refused:
        engine.signals.quality_events.record_event(bad, actor=ADMIN)
    assert set(refused.value.errors) == {"kind", "reference", "sku", "faultCode", "occurredAt", "lot"}
    future = QualityEventInput("repair", "REP-1", "KETTLE-2", "F-ELEC", engine.now().replace(year=2027), "L-7")
    with pytest.raises(InvalidInput) as refused:
        engine.signals.quality_events.record_event(future, actor=ADMIN)
    assert refused.value.errors == {"occurredAt": "lies in the future"}
    with engine.db.reading() as session:
        from orchestrator.quality_models import QualityEvent

        assert [e.reference for e in session.scalars(select(QualityEvent))] == ["CMP-1"]


def test_the_capa_counts_its_problems_cases_since_it_opened_or_since_a_date(fast_engine, clock):
    engine = fast_engine
    capa_id = request(engine, "RMA-1")["messageDeliveredTo"]
    complaint(engine, "CMP-OLD")
    clock.advance(days=10)
    complaint(engine, "CMP-LOT")  # same lot
    engine.signals.quality_events.record_event(  # same model (KETTLE), another lot and SKU: counted on the model
        QualityEventInput("repair", "REP-MODEL", "KETTLE-3", "F-ELEC", engine.now(), "L-9"), actor=ADMIN)
    engine.signals.quality_events.record_event(  # another model: not counted
        QualityEventInput("repair", "REP-OTHER", "TOASTER-1", "F-ELEC", engine.now(), "T-3"), actor=ADMIN)
    complaint(engine, "CMP-FAULT", fault="F-MECH")  # another fault: not counted

    counter = CountCapaCases(engine.signals.capa_links)
    context = JobContext(1, capa_id, None, "count_recurrence", "capa.count_cases", 1, "k")
    since_opened = counter.run({}, context)
    assert (since_opened["caseCount"], since_opened["lotCaseCount"], since_opened["modelCaseCount"]) == (3, 2, 3)
    assert since_opened["linkedCases"] == ["return RMA-1", "complaint CMP-OLD", "complaint CMP-LOT"]
    since_fix = counter.run({"since": clock.now().date().isoformat()}, context)
    assert since_fix["caseCount"] == 2 and since_fix["recurred"] is True
    assert [line.split(" (")[0] for line in since_fix["cases"]] == ["complaint CMP-LOT", "repair REP-MODEL"]
    with pytest.raises(BusinessError):
        counter.run({"since": "last Tuesday"}, context)
    assert inspect.instance(engine, capa_id).status == InstanceStatus.RUNNING


def test_the_engine_sends_capa_requests_through_the_finder_unless_a_site_brings_its_own(make_engine, sqlite_database):
    shipped = make_engine(sqlite_database, connector_modules=())
    assert isinstance(shipped.connectors.get("loopline.send_message"), CapaRequestingSendMessage)
    assert {"capa.request", "capa.count_cases"} <= set(shipped.known_topics())
    with_double = make_engine(sqlite_database, connector_modules=CONNECTORS)  # the process tests' recorder
    assert not isinstance(with_double.connectors.get("loopline.send_message"), CapaRequestingSendMessage)


def test_two_requests_for_one_problem_at_once_open_one_capa(models_engine):
    """The per-problem lock (PostgreSQL: an advisory lock; SQLite: one writer) keeps two at once from both
    finding no open CAPA."""
    engine = models_engine
    start_together = threading.Barrier(2)
    answers = {}

    def requesting(rma: str) -> None:
        start_together.wait()
        answers[rma] = request(engine, rma)

    threads = [threading.Thread(target=requesting, args=(rma,)) for rma in ("RMA-A", "RMA-B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answer["capaJoined"] for answer in answers.values()) == [False, True]
    [capa] = capas(engine)
    assert sorted(reference for _, reference, _ in linked(engine, capa.id)) == ["RMA-A", "RMA-B"]
