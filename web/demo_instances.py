"""Demo instances for the embedded default: returns, CAPAs and recall evaluations in different states, so a
newcomer opens a living system and every demo person (README) has real work: each staff group an open task
of its own, the process owner and the auditor cases to read. Created once, on an empty database only."""

from __future__ import annotations

import logging
import time

from sqlalchemy import func, select

from orchestrator.actors import Actor
from orchestrator.errors import EngineError
from orchestrator.models import JobStatus, ProcessInstance
from orchestrator.service import Engine

log = logging.getLogger(__name__)
DEMO = Actor.system("demo")
CUSTOMER = dict(intakeSource="web_form", customerName="Ada Lovelace", customerEmail="ada@example.com",
                customerPhone="+447700900123", customerAddress="12 Analytical Row, London",
                customerSegment="consumer", sku="KETTLE-2", lotNumber="L-7", purchaseDate="2026-01-02", quantity=1,
                returnChannel="carrier_parcel")


def seed_demo_instances(engine: Engine) -> list[str]:
    """Start the demo cases unless the database already holds instances; returns the business keys made."""
    with engine.db.reading() as session:
        if session.scalar(select(func.count()).select_from(ProcessInstance)):
            return []
    made = []
    try:
        made += _returns(engine)
        made += _capas(engine)
        made += _recall(engine)
    except (EngineError, ValueError) as exc:  # a model changed so the scripted steps no longer fit
        log.warning("demo cases stopped after %s: %s", made or "none", exc)
    return made


def _start(engine: Engine, key: str, business_key: str, variables: dict) -> str:
    row = engine.instances.start_instance(key, actor=DEMO, business_key=business_key, variables=variables)
    _settle(engine, row.id)
    return row.id


def _complete(engine: Engine, instance_id: str, element_id: str, values: dict) -> None:
    [task] = [t for t in engine.queries.open_human_tasks_for(DEMO, instance_id) if t.element_id == element_id]
    engine.tasks.complete_user_task(task.id, values, actor=DEMO)
    _settle(engine, instance_id)


def _settle(engine: Engine, instance_id: str, timeout: float = 30.0) -> None:
    """Run the instance's pending jobs now and wait for those the in-process worker already took,
    so the next scripted step finds its task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = engine.queries.jobs_of(DEMO, instance_id, JobStatus.PENDING)
        running = engine.queries.jobs_of(DEMO, instance_id, JobStatus.RUNNING)
        if not pending and not running:
            return
        for job in pending:
            engine.jobs.run_job(job.id, "demo-seed")
        if running:
            time.sleep(0.05)


def _returns(engine: Engine) -> list[str]:
    new = {"rmaNumber": "RMA-DEMO-1", "orderReference": "SO-1001", "serialNumber": "K2-000101",
           "returnValue": 80.0, "returnReason": "quality_defect", "requestedOutcome": "refund"}
    _start(engine, "returns", "RMA-DEMO-1", {**CUSTOMER, **new})
    shipped = {**new, "rmaNumber": "RMA-DEMO-2", "orderReference": "SO-1002", "serialNumber": "K2-000102",
               "returnReason": "transit_damage", "requestedOutcome": "exchange"}
    second = _start(engine, "returns", "RMA-DEMO-2", {**CUSTOMER, **shipped})
    _complete(engine, second, "review_return", {"reviewDecision": "accept"})
    _complete(engine, second, "issue_return_label", {"carrier": "dhl", "trackingNumber": "JD0140000102"})
    closed = {**new, "rmaNumber": "RMA-DEMO-3", "orderReference": "SO-1003", "serialNumber": "K2-000103",
              "returnReason": "no_reason", "requestedOutcome": "refund"}
    third = _start(engine, "returns", "RMA-DEMO-3", {**CUSTOMER, **closed})
    _complete(engine, third, "issue_return_label", {"carrier": "dhl", "trackingNumber": "JD0140000103"})
    engine.messages.correlate_message("ParcelReceived", actor=DEMO, business_key="RMA-DEMO-3",
                             variables={"carrierScan": "delivered"})
    _settle(engine, third)
    _complete(engine, third, "receive_parcel", {"parcelCondition": "intact", "receivedQuantity": 1,
                                                "serialNumberMatches": True})
    _complete(engine, third, "inspect_return", {"grade": "A", "faultCode": "none", "responsibility": "customer",
                                                "disposition": "restock"})
    high = {**new, "rmaNumber": "RMA-DEMO-4", "orderReference": "SO-1004", "sku": "ESPRESSO-9",
            "serialNumber": "E9-004410", "returnValue": 6200.0, "customerSegment": "business",
            "customerName": "Contoso Cafés Ltd", "requestedOutcome": "exchange"}
    _start(engine, "returns", "RMA-DEMO-4", {**CUSTOMER, **high})  # above 5000: the sales manager reviews
    scrap = {**new, "rmaNumber": "RMA-DEMO-5", "orderReference": "SO-1005", "serialNumber": "K2-000105",
             "returnReason": "no_reason", "requestedOutcome": "refund"}
    fifth = _start(engine, "returns", "RMA-DEMO-5", {**CUSTOMER, **scrap})
    _parcel_in(engine, fifth, "RMA-DEMO-5", "JD0140000105")
    _complete(engine, fifth, "inspect_return", {
        "grade": "C", "faultCode": "F-ELEC", "responsibility": "production", "disposition": "scrap",
        "inspectionNotes": "Scorched base plate, relay welded shut; not safe to refurbish"})
    received = {**new, "rmaNumber": "RMA-DEMO-6", "orderReference": "SO-1006", "serialNumber": "K2-000106",
                "returnReason": "no_reason", "requestedOutcome": "refund"}
    sixth = _start(engine, "returns", "RMA-DEMO-6", {**CUSTOMER, **received})
    _complete(engine, sixth, "issue_return_label", {"carrier": "dhl", "trackingNumber": "JD0140000106"})
    engine.messages.correlate_message("ParcelReceived", actor=DEMO, business_key="RMA-DEMO-6",
                                      variables={"carrierScan": "delivered"})
    _settle(engine, sixth)  # the warehouse records the receipt
    free = {**new, "rmaNumber": "RMA-DEMO-7", "orderReference": "SO-1007", "serialNumber": "K2-000107",
            "returnReason": "wrong_item", "requestedOutcome": "refund", "returnValue": 0.0}
    seventh = _start(engine, "returns", "RMA-DEMO-7", {**CUSTOMER, **free})
    _complete(engine, seventh, "review_return", {"reviewDecision": "accept"})  # the ERP refuses a zero refund
    return ["RMA-DEMO-1", "RMA-DEMO-2", "RMA-DEMO-3", "RMA-DEMO-4", "RMA-DEMO-5", "RMA-DEMO-6", "RMA-DEMO-7"]


def _parcel_in(engine: Engine, instance_id: str, rma: str, tracking: str) -> None:
    """Label issued, parcel scanned in and received: the return waits for its inspection."""
    _complete(engine, instance_id, "issue_return_label", {"carrier": "dhl", "trackingNumber": tracking})
    engine.messages.correlate_message("ParcelReceived", actor=DEMO, business_key=rma,
                                      variables={"carrierScan": "delivered"})
    _settle(engine, instance_id)
    _complete(engine, instance_id, "receive_parcel", {"parcelCondition": "intact", "receivedQuantity": 1,
                                                      "serialNumberMatches": True})


def _capas(engine: Engine) -> list[str]:
    _start(engine, "capa", "CAPA-DEMO-1", {"source": "audit", "sourceReference": "AUD-2026-07", "sku": "KETTLE-2",
                                           "lotNumber": "L-7", "faultCode": "F-ELEC",
                                           "problemSummary": "Thermostat relays from an unapproved batch"})
    _start(engine, "capa", "CAPA-DEMO-2", {"source": "complaint", "sourceReference": "CMP-311", "sku": "TOASTER-1",
                                           "lotNumber": "T-3", "faultCode": "F-MECH",
                                           "problemSummary": "Lever spring breaks after a few weeks"})
    third = _start(engine, "capa", "CAPA-DEMO-3", {
        "source": "return", "sourceReference": "RMA-DEMO-3", "sku": "KETTLE-2", "lotNumber": "L-7",
        "faultCode": "F-ELEC", "problemSummary": "Relays weld shut and the base overheats"})
    _complete(engine, third, "classify_capa", {"capaType": "product_defect", "severity": "major",
                                               "responsibleParty": "supplier", "openCapa": True,
                                               "classificationRationale": "Repeated on one lot"})
    _complete(engine, third, "form_team", {"teamLeader": "Grace (QA)", "teamMembers": "Grace, Linus, Ken",
                                           "targetCloseDate": "2026-09-30"})
    _complete(engine, third, "describe_problem", {
        "problemWhat": "Relay welds shut, base overheats", "problemWhy": "Burn hazard", "problemWhere": "Line 2",
        "problemWhen": "2026-01-03", "problemWho": "Returns inspection", "problemHow": "12 returns with F-ELEC",
        "problemHowMany": 12})
    _complete(engine, third, "define_containment", {"containmentActions": "Stop shipping lot L-7",
                                                    "quarantineStock": False})
    _complete(engine, third, "analyse_root_cause", {
        "why1": "Base overheats", "why2": "Relay contacts weld", "why3": "Relay rated 8 A, load 10 A",
        "why4": "Supplier changed part", "why5": "No change notification in the contract",
        "rootCause": "Under-rated relay accepted without incoming inspection", "ishikawaCategory": "material"})
    verdicts = iter([("agree", ""), ("object", "The carton spec, not the relay, lets heat build up"),
                     ("agree", ""), ("agree", "")])
    while signatures := [t for t in engine.queries.open_human_tasks_for(DEMO, third)
                         if t.element_id == "countersign_root_cause"]:
        verdict, comment = next(verdicts, ("agree", ""))
        engine.tasks.complete_user_task(signatures[0].id, {"countersignVerdict": verdict,
                                                          "countersignComment": comment or None}, actor=DEMO)
        _settle(engine, third)
    return ["CAPA-DEMO-1", "CAPA-DEMO-2", "CAPA-DEMO-3"]


def _recall(engine: Engine) -> list[str]:
    _start(engine, "recall", "RC-DEMO-L-7", {
        "triggerSource": "manual", "sku": "KETTLE-2", "productModel": "Kettle 2", "lotNumber": "L-7",
        "faultCode": "F-ELEC", "signalWindowDays": 30, "complaintCount": 4, "returnCount": 12,
        "evidenceSummary": "12 returns and 4 complaints with F-ELEC (overheating) on lot L-7 in 30 days"})
    second = _start(engine, "recall", "RC-DEMO-T-3", {
        "triggerSource": "manual", "sku": "TOASTER-1", "productModel": "Toaster 1", "lotNumber": "T-3",
        "faultCode": "F-MECH", "signalWindowDays": 30, "complaintCount": 2, "returnCount": 9,
        "evidenceSummary": "9 returns and 2 complaints with F-MECH (lever spring) on lot T-3 in 30 days"})
    _complete(engine, second, "assess_hazard_quality", {"severity": "minor", "populationAtRisk": "general",
                                                        "exposureNotes": "Lever stops working; no heat exposure"})
    _complete(engine, second, "assess_hazard_engineering", {"likelihood": "occasional",
                                                            "failureMode": "Spring fatigue after ~300 cycles"})
    _complete(engine, second, "assess_hazard_legal", {"injuriesReported": 0,
                                                      "authorityNotificationRequired": False,
                                                      "authorityEmail": "product.safety@example.gov",
                                                      "legalNotes": "No injury reported; no notification duty"})
    return ["RC-DEMO-L-7", "RC-DEMO-T-3"]  # management decides on the second
