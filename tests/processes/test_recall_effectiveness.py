"""The recall's effectiveness loop on the built-in connectors: acknowledgements reach the case by its business
key, a consumer's remedy opens an RMA (a return case of its own, started by message under its RMA number with the
consumer's data and the recall named), what the RMAs and the trade took back is counted against the scope, and
the status report, the effectiveness checks and the termination follow the figures and the authority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from integrations.config import IntegrationSettings, NotifySettings
from integrations.db import IntegrationsBase
from integrations.notify.acks import ack_token, record_acknowledgement
from integrations.notify.models import Notification
from integrations.recall_registrations import Registration, add_registration, page_id_for
from integrations.traceability.models import TraceEvent
from orchestrator.actors import Actor
from orchestrator.errors import InvalidInput
from orchestrator.models import InstanceStatus, ProcessInstance
from orchestrator.query_filters import InstanceFilter
from tests.conftest import ADMIN
from tests.integrations.helpers import notifications
from tests.processes.driver import Run, deploy_models
from tests.processes.test_recall import SIGNAL, STRATEGY
from tests.processes.test_returns import LABEL, RECEIPT
from tests.support.inspect import jobs

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
CASE = "RC-2026-014"
ADA = {"email": "ada@example.com", "phone": "+4915112345678", "name": "Ada Lovelace"}
GRACE = {"email": "grace@example.com", "phone": "+4915187654321", "name": "Grace Hopper"}
AUTHORITY = "market-surveillance@authority.example"
ACK_ACTOR = Actor.system("ack")


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def shipped(hours, destination, kind, quantity, contact=None, name=None):
    return dict(kind="object", biz_step="shipping", event_time=at(hours), sku="KETTLE-2", lot="L-7",
                quantity=quantity, destination=destination, destination_name=name, destination_kind=kind,
                contact=contact)


TRACE = [
    shipped(1, "GLN-D1", "distributor", 1200, {"email": "recalls@nordlicht.example"}, "Nordlicht Distribution"),
    shipped(2, "GLN-R1", "retailer", 50, {"email": "qa@kaufhaus-mitte.example"}, "Kaufhaus Mitte"),
    shipped(3, "CUST-881", "consumer", 1, ADA),
    shipped(3, "CUST-883", "consumer", 1, GRACE),
    # a clean lot stays out of scope, and so do its returns
    dict(kind="object", biz_step="shipping", event_time=at(4), sku="KETTLE-2", lot="L-8", quantity=300,
         destination="GLN-D2", destination_name="Süd Distribution", destination_kind="distributor",
         contact={"email": "recalls@sued.example"}),
]
SCOPE_QUANTITY = 1200 + 50 + 1 + 1
# what the returns process asks of the RMA's staff, step by step (the answers a real team would give)
RMA_STEPS = {
    "review_return": {"reviewDecision": "accept"},
    "issue_return_label": LABEL,
    "receive_parcel": RECEIPT,
    "approve_scrap": {"scrapApproved": True, "bookValue": 0.0},
    "prepare_supplier_return": {"supplierName": "Thermo Parts GmbH", "supplierRmaNumber": "SUP-RMA-9",
                                "shippingDate": "2026-01-25"},
    "refurbish_item": {"repairAction": "new thermostat relay", "refurbishedGrade": "A"},
    "ship_repaired_item": {"returnCarrier": "ups", "returnTrackingNumber": "1Z999"},  # shippedOn: today
}


@pytest.fixture
def recall_engine(make_engine, database):
    """Every model, the built-in connectors only (notices kept in the outbox), and the trace data above."""
    notify = NotifySettings(backend="outbox", ack_secret="ack-secret-for-recall-tests")
    engine = make_engine(database, connector_modules=(), integration_settings=IntegrationSettings(notify=notify))
    IntegrationsBase.metadata.create_all(engine.db.engine)
    deploy_models(engine)
    with engine.db.transaction() as session:
        session.add_all(TraceEvent(**event) for event in TRACE)
    return engine


def hazard(run: Run, authority: bool):
    run.complete("assess_hazard_quality", {"severity": "serious", "populationAtRisk": "general",
                                           "exposureNotes": "hot surface"})
    run.complete("assess_hazard_engineering", {"likelihood": "remote", "failureMode": "thermostat relay welds"})
    run.complete("assess_hazard_legal", {"injuriesReported": 1, "authorityNotificationRequired": authority,
                                         "authorityEmail": AUTHORITY if authority else ""})


def notified_class_two_recall(engine, authority: bool = True) -> Run:
    """Class II with identifiable consumers: the trade and the consumers are told, and the authority if needed."""
    run = Run.start(engine, "recall", {**SIGNAL, "recallReference": CASE}, business_key=CASE)
    run.run_jobs("open_recall_case")
    hazard(run, authority)
    run.complete("decide_recall", {"recallClass": "II", "decisionRationale": "Reversible burns"})
    run.run_jobs("compute_scope")
    proposed = {name: run.variables[name] for name in ("depth", "publicWarning", "effectivenessLevel",
                                                        "statusReportInterval")}
    assert proposed == {"depth": "consumer", "publicWarning": False, "effectivenessLevel": "B",
                        "statusReportInterval": "P14D"}
    run.complete("define_strategy", {**proposed, **STRATEGY, "unitValue": 80.0})
    run.complete("approve_strategy", {"strategyApproved": True})
    # level B: half of the four consignees notified
    assert (run.variables["samplePercent"], run.variables["effectivenessSampleSize"]) == (50, 2)
    expected = ["notify_partners", "notify_consumers"] + (["notify_authority"] if authority else [])
    ran = run.run_jobs()
    assert sorted(element for element, *_ in ran) == sorted(expected)
    assert all(outcome == "completed" for *_, outcome in ran), ran
    return run


def acknowledge(engine, recipient_id: str, remedy: str, quantity: int) -> None:
    """The recipient answers through the link of their notice; the page hands the answer to the case by its
    business key, as web/ack.py does."""
    with engine.db.reading() as session:
        notice = session.scalars(select(Notification).where(Notification.recipient_id == recipient_id)
                                 .order_by(Notification.id)).first()
    settings = engine.integration_settings.notify
    with engine.db.transaction() as session:
        ack = record_acknowledgement(session, ack_token(settings, notice.id, engine.now), remedy, quantity,
                                     settings=settings, now=engine.now)
    assert ack.first and ack.business_key == CASE
    engine.messages.correlate_message(ack.message_name, actor=ACK_ACTOR, business_key=ack.business_key,
                                      variables=ack.message_variables())


def open_rma(recall: Run, rma_number: str) -> Run:
    """The recall sends the remedy to the returns process: the RMA is a running case of its own, under its number."""
    [(element, topic, _, outcome)] = recall.run_jobs("open_remedy_rma")
    assert (topic, outcome) == ("loopline.send_message", "completed")
    with recall.engine.db.reading() as session:
        [rma] = session.scalars(select(ProcessInstance).where(ProcessInstance.business_key == rma_number)).all()
    assert recall.variables.get("rmaCaseId") in (None, rma.id)
    run = Run(recall.engine, rma.id)
    assert run.status == InstanceStatus.RUNNING and run.path[0] == "recall_remedy_requested"
    return run


def settle_rma(recall: Run, rma_number: str, inspection: dict) -> list[str]:
    """Open the RMA and work it to closed; returns the elements its jobs ran."""
    return settle_rma_case(open_rma(recall, rma_number), inspection)


def settle_rma_case(run: Run, inspection: dict) -> list[str]:
    """Work the RMA through the returns steps as its staff would, to closed; returns the elements its jobs ran."""
    rma_number = run.variables["rmaNumber"]
    ran, parcel_sent = [], False
    for _ in range(40):
        done = run.run_jobs()
        assert all(outcome == "completed" for *_, outcome in done), (done, run.engine.queries.open_incidents(ADMIN))
        ran += [element for element, *_ in done]
        tasks = [task for task in run.open_tasks() if task.element_id in (*RMA_STEPS, "inspect_return")]
        if tasks:
            task = tasks[0]
            values = inspection if task.element_id == "inspect_return" else RMA_STEPS[task.element_id]
            if task.element_id == "ship_repaired_item":
                values = {**values, "shippedOn": run.engine.now().date().isoformat()}
            run.complete(task.element_id, values)
        elif not parcel_sent and "send_rma_confirmation" in ran:
            run.correlate("ParcelReceived", {"parcelScannedAt": "2026-01-20T10:00:00Z"}, rmaNumber=rma_number)
            parcel_sent = True
        else:
            assert run.status == InstanceStatus.COMPLETED and run.path[-1] == "end_return_closed", run.path
            return ran
    raise AssertionError(f"the RMA {rma_number} did not settle; open: {run.open_task_ids()}")


def test_consumer_remedies_open_rmas_that_are_counted_in_computed_status_reports(recall_engine, clock):
    """Class II: Ada wants a replacement, Grace a refund, the distributor reports stock and destroys some; the
    RMAs carry the consumers' data and the recall, and the status report counts what came back."""
    run = notified_class_two_recall(recall_engine)
    [(_, authority_notice)] = [(j.element_id, j.input) for j in jobs(recall_engine, run.id)
                               if j.element_id == "notify_authority"]
    assert (authority_notice["to"], authority_notice["template"]) == (AUTHORITY, "recall_authority_notice")
    assert authority_notice["variables"]["recallNumber"] == CASE
    assert authority_notice["variables"]["quantityInScope"] == SCOPE_QUANTITY
    assert authority_notice["variables"]["reason"] == "Reversible burns"

    acknowledge(recall_engine, "CUST-881", "replace", 1)
    assert run.open_tasks() == []  # the recall waits for no one: the RMA is a case of its own
    rma_case = open_rma(run, f"RMA-{CASE}-CUST-881")
    review = rma_case.task("review_return")  # its first step waits for customer service, in their inbox
    assert review.candidate_groups == ["customer_service"]
    rma = rma_case.variables
    assert (rma["rmaNumber"], rma["requestedOutcome"], rma["recallCase"], rma["recallRecipient"]) == (
        f"RMA-{CASE}-CUST-881", "exchange", CASE, "CUST-881")
    assert (rma["customerName"], rma["customerEmail"], rma["customerPhone"]) == (
        ADA["name"], ADA["email"], ADA["phone"])
    assert (rma["quantity"], rma["returnValue"], rma["purchaseDate"]) == (1, 80.0, "2026-01-05")
    assert rma["customerLanguage"] == "en"  # the language of the notice Ada answered
    listed = recall_engine.queries.list_instances(ADMIN, InstanceFilter(text=f"RMA-{CASE}-CUST-881"))
    assert [case.id for case, _ in listed.items] == [rma_case.id]  # found in the case list by its RMA number
    scrap = {"grade": "C", "faultCode": "F-ELEC", "responsibility": "supplier", "disposition": "scrap"}
    ran = settle_rma_case(rma_case, scrap)
    assert "create_replacement_order" in ran and ran[-1] == "record_recall_outcome"

    acknowledge(recall_engine, "CUST-883", "refund", 1)
    supplier = {"grade": "C", "faultCode": "F-ELEC", "responsibility": "supplier", "disposition": "return_to_supplier"}
    ran = settle_rma(run, f"RMA-{CASE}-CUST-883", supplier)
    assert "create_credit_note" in ran and ran[-1] == "record_recall_outcome"

    acknowledge(recall_engine, "GLN-D1", "refund", 400)  # the trade follows its notice: no RMA
    assert run.open_tasks() == []
    with recall_engine.db.transaction() as session:  # the distributor's destruction, reported as trace data
        session.add(TraceEvent(kind="object", biz_step="destroying", event_time=at(400), sku="KETTLE-2", lot="L-7",
                               quantity=300, biz_location="GLN-D1"))
        session.add(TraceEvent(kind="object", biz_step="returning", event_time=at(400), sku="KETTLE-2", lot="L-8",
                               quantity=50, biz_location="GLN-D2"))  # another lot: not this recall's
    with recall_engine.db.reading() as session:
        recorded = {e.event_id: (e.biz_step, float(e.quantity), e.biz_location)
                    for e in session.scalars(select(TraceEvent).where(TraceEvent.event_id.is_not(None)))}
    assert recorded == {f"RMA-{CASE}-CUST-881": ("destroying", 1.0, "CUST-881"),
                        f"RMA-{CASE}-CUST-883": ("returning", 1.0, "CUST-883")}

    with recall_engine.db.transaction() as session:  # a buyer the trace data does not know registers on the page
        add_registration(session, page_id_for(session, run.id, recall_engine.now()),
                         Registration(name="Edsger", email="ed@example.com", phone=None, product="Kettle 2",
                                      lot_or_serial="L-7", quantity=2, remedy="refund", note=None),
                         language="en", now=recall_engine.now())

    # the follow-up rounds pass (GLN-R1 never answers), then the first status report is due
    for _ in range(3):
        clock.advance(days=3, seconds=1)
        recall_engine.timers.fire_due_timers()
        run.run_jobs()
    run.complete("call_non_responders", {"partnersReached": 1, "stillUnreachable": 0})
    clock.advance(days=14, seconds=1)
    assert recall_engine.timers.fire_due_timers() == [run.id]
    [(_, topic, counting, outcome), (_, _, _, counted)] = run.run_jobs("count_recall_progress", "count_registrations")
    assert (topic, outcome, counted) == ("recall.progress", "completed", "completed")
    assert (run.variables["registrations"], run.variables["registeredQuantity"]) == (1, 2)
    assert counting["rmaPrefix"] == f"RMA-{CASE}-"
    progress = run.variables["recallProgress"]
    assert {k: progress["consumers"][k] for k in ("scopeQuantity", "notified", "responded", "quantityOnHand",
                                                  "returned", "corrected", "destroyed", "percentOfScope")} == {
        "scopeQuantity": 2.0, "notified": 2, "responded": 2, "quantityOnHand": 2, "returned": 1.0,
        "corrected": 0.0, "destroyed": 1.0, "percentOfScope": 100.0}
    assert progress["consumers"]["remedies"] == {"refund": 1, "replace": 1}
    assert {k: progress["trade"][k] for k in ("scopeQuantity", "notified", "responded", "nonResponders",
                                              "quantityOnHand", "destroyed", "percentOfScope")} == {
        "scopeQuantity": 1250.0, "notified": 2, "responded": 1, "nonResponders": 1, "quantityOnHand": 400,
        "destroyed": 300.0, "percentOfScope": 24.0}
    assert progress["rmas"] == [
        {"rmaNumber": f"RMA-{CASE}-CUST-881", "recipientId": "CUST-881", "remedy": "replace", "outcome": "destroyed"},
        {"rmaNumber": f"RMA-{CASE}-CUST-883", "recipientId": "CUST-883", "remedy": "refund", "outcome": "returned"},
    ]
    variables = run.variables
    assert (variables["notifiedCount"], variables["respondedCount"], variables["nonResponderCount"]) == (4, 3, 1)
    assert (variables["quantityOnHandAtNotice"], variables["returnedQuantity"], variables["destroyedQuantity"]) == (
        402, 1.0, 301.0)
    assert variables["scopeAccountedPercent"] == round(100 * 302 / SCOPE_QUANTITY, 1)
    report = run.task("compile_status_report")
    assert [field["id"] for field in report.form] == ["estimatedCompletion", "recallEffortComplete", "statusNotes"]
    run.complete("compile_status_report", {"estimatedCompletion": "2026-03-01", "recallEffortComplete": False})
    [(_, topic, sent, _)] = run.run_jobs("send_status_report")
    assert (topic, sent["to"], sent["template"]) == ("notify.email", AUTHORITY, "recall_status_report")
    assert {k: sent["variables"][k] for k in ("recallNumber", "notified", "responded", "onHandAtNotice",
                                              "returnedOrCorrected", "destroyed", "percentOfScope",
                                              "registrations")} == {
        "recallNumber": CASE, "notified": 4, "responded": 3, "onHandAtNotice": 402, "returnedOrCorrected": 1.0,
        "destroyed": 301.0, "percentOfScope": 24.1, "registrations": 1}
    assert recall_engine.queries.open_incidents(ADMIN) == []


def _terminate(run: Run, clock, *, checks: list[int]):
    """The next status report says the effort is complete; the checks run until the sample is reached."""
    clock.advance(days=14, seconds=1)
    assert run.engine.timers.fire_due_timers() == [run.id]
    run.run_jobs("count_recall_progress", "count_registrations")
    run.complete("compile_status_report", {"estimatedCompletion": "2026-03-01", "recallEffortComplete": True})
    run.run_jobs()
    for checked in checks:
        run.complete("check_effectiveness", {"sampleSize": checked, "checksPassed": checked, "recallEffective": True})
    run.complete("approve_termination", {"terminationApproved": True, "productDisposition": "mixed",
                                         "terminationRationale": "All units accounted for"})


def test_termination_waits_for_the_authority_and_goes_on_when_it_refuses(recall_engine, clock):
    run = notified_class_two_recall(recall_engine)
    for recipient in ("CUST-881", "CUST-883"):
        acknowledge(recall_engine, recipient, "repair", 1)
        ran = settle_rma(run, f"RMA-{CASE}-{recipient}", {"grade": "B", "faultCode": "F-ELEC",
                                                           "responsibility": "supplier", "disposition": "refurbish"})
        assert ran[-1] == "record_recall_outcome"
    for _ in range(3):
        clock.advance(days=3, seconds=1)
        recall_engine.timers.fire_due_timers()
        run.run_jobs()
    run.complete("call_non_responders", {"partnersReached": 2, "stillUnreachable": 0})
    _terminate(run, clock, checks=[1, 1])  # one consignee checked is not the sample of two: the task comes back
    assert run.path.count("check_effectiveness") == 2 and run.variables["effectivenessChecksDone"] == 2
    [(_, topic, request, _)] = run.run_jobs("request_termination")
    assert (topic, request["to"], request["template"]) == ("notify.email", AUTHORITY, "recall_termination_request")
    assert {k: request["variables"][k] for k in ("recallNumber", "corrected", "checksDone", "disposition")} == {
        "recallNumber": CASE, "corrected": 2.0, "checksDone": 2, "disposition": "mixed"}
    decision = run.task("record_authority_decision")  # the case waits for the authority's answer
    assert decision.candidate_groups == ["legal"] and run.status == InstanceStatus.RUNNING
    run.complete("record_authority_decision", {"authorityDecision": "continue", "authorityReference": "MS-77/1",
                                               "authorityDecisionDate": "2026-03-02",
                                               "authorityComment": "Check the retailer"})
    assert run.open_tasks() == [] and run.row.next_timer_at == clock.now() + timedelta(days=14)
    _terminate(run, clock, checks=[1])
    run.run_jobs("request_termination")
    run.complete("record_authority_decision", {"authorityDecision": "terminated", "authorityReference": "MS-77/2",
                                               "authorityDecisionDate": "2026-03-20"})
    run.run_jobs("close_recall_case", "request_root_cause_capa")
    assert run.status == InstanceStatus.COMPLETED
    assert run.path.count("record_authority_decision") == 2
    assert recall_engine.queries.open_incidents(ADMIN) == []


def test_legal_names_the_authority_whenever_it_must_be_told(recall_engine):
    run = Run.start(recall_engine, "recall", {**SIGNAL, "recallReference": CASE}, business_key=CASE)
    run.run_jobs("open_recall_case")
    for address in ("", "not an address"):
        with pytest.raises(InvalidInput) as refused:
            run.complete("assess_hazard_legal", {"injuriesReported": 0, "authorityNotificationRequired": True,
                                                 "authorityEmail": address})
        assert "authorityEmail" in str(refused.value.details)
    assert run.task("assess_hazard_legal")  # still open: nothing changed


def test_without_the_authority_nothing_is_sent_to_it_and_termination_is_internal(recall_engine, clock):
    run = notified_class_two_recall(recall_engine, authority=False)
    for _ in range(3):
        clock.advance(days=3, seconds=1)
        recall_engine.timers.fire_due_timers()
        run.run_jobs()
    run.complete("call_non_responders", {"partnersReached": 2, "stillUnreachable": 0})
    _terminate(run, clock, checks=[2])
    run.run_jobs("close_recall_case", "request_root_cause_capa")
    assert run.status == InstanceStatus.COMPLETED
    path = run.path
    for element in ("notify_authority", "send_status_report", "request_termination", "record_authority_decision"):
        assert element not in path, element
    assert {"gw_authority_notice_done", "gw_report_sent", "gw_close_merge"} <= set(path)
    assert AUTHORITY not in {n.address for n in notifications(recall_engine)}


def test_the_start_form_files_the_case_under_its_recall_number_and_refuses_another(recall_engine):
    """The recall case number is the business key (acknowledgements and RMAs find the case by it); a second
    running case with the same number and a number that is no recall number are refused, nothing started."""
    values = {**{k: str(v) for k, v in SIGNAL.items()}, "recallReference": CASE}
    row = recall_engine.start_forms.start_from_form("recall", values, actor=ADMIN)
    assert row.business_key == CASE
    with pytest.raises(InvalidInput) as twice:
        recall_engine.start_forms.start_from_form("recall", values, actor=ADMIN)
    assert "recallReference" in twice.value.details["errors"]
    with pytest.raises(InvalidInput) as refused:
        recall_engine.start_forms.start_from_form("recall", {**values, "recallReference": "85b07663"}, actor=ADMIN)
    assert "recallReference" in str(refused.value.details)
    with recall_engine.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcessInstance)) == 1
