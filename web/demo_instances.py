"""Demo instances for the embedded default: a few returns, CAPAs and a recall evaluation in different
states, so a newcomer opens a living system. Created once, on an empty database only."""

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
    return ["RMA-DEMO-1", "RMA-DEMO-2", "RMA-DEMO-3"]


def _capas(engine: Engine) -> list[str]:
    _start(engine, "capa", "CAPA-DEMO-1", {"source": "audit", "sourceReference": "AUD-2026-07", "sku": "KETTLE-2",
                                           "lotNumber": "L-7", "faultCode": "F-ELEC",
                                           "problemSummary": "Thermostat relays from an unapproved batch"})
    _start(engine, "capa", "CAPA-DEMO-2", {"source": "complaint", "sourceReference": "CMP-311", "sku": "TOASTER-1",
                                           "lotNumber": "T-3", "faultCode": "F-MECH",
                                           "problemSummary": "Lever spring breaks after a few weeks"})
    return ["CAPA-DEMO-1", "CAPA-DEMO-2"]


def _recall(engine: Engine) -> list[str]:
    _start(engine, "recall", "RC-DEMO-L-7", {
        "triggerSource": "manual", "sku": "KETTLE-2", "productModel": "Kettle 2", "lotNumber": "L-7",
        "faultCode": "F-ELEC", "signalWindowDays": 30, "complaintCount": 4, "returnCount": 12,
        "evidenceSummary": "12 returns and 4 complaints with F-ELEC (overheating) on lot L-7 in 30 days"})
    return ["RC-DEMO-L-7"]
