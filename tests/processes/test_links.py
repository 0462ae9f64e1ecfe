"""Links between the processes: a quality-defect return and a terminated recall request a CAPA.

Both send `CapaRequested` through a `loopline.send_message` job (topic, message name, business key and
variables are asserted in test_returns.py / test_recall.py); `relay()` runs the engine's real connector for
that topic on the job input. The CAPA process has the message start *and* a none start for manual intake:
started by message, only the message start fires.
"""

from __future__ import annotations

from sqlalchemy import select

from integrations.registry import JobContext
from orchestrator.message_connector import SendMessage
from orchestrator.messages import Correlation
from orchestrator.models import InstanceStatus, MessageSubscription
from tests.processes.driver import Run
from tests.processes.test_returns import LABEL, grade_return, receive_parcel, start

RECALL_REQUEST = {
    "messageName": "CapaRequested",
    "businessKey": "CAPA-QMS-00001",
    "variables": {
        "source": "recall",
        "sourceReference": "QMS-00001",
        "sku": "KETTLE-2",
        "lotNumber": "L-7",
        "severity": "critical",
    },
}


def relay(engine, job_input: dict, key: str = "job-key-1"):
    """Run the engine's real `loopline.send_message` connector on the job input the model produced."""
    delivered = SendMessage(engine).run(job_input, JobContext(1, "i", None, "send", SendMessage.topic, 1, key))
    again = SendMessage(engine).run(job_input, JobContext(1, "i", None, "send", SendMessage.topic, 2, key))
    assert again == delivered  # a retried job does not open a second CAPA
    return Correlation(delivered["messageDeliveredTo"], delivered["messageStartedInstance"])


def request_from_a_defective_return(engine) -> dict:
    run = start(engine)
    run.complete("review_return", {"reviewDecision": "accept"})
    run.complete("issue_return_label", LABEL)
    run.run_jobs("send_rma_confirmation")
    receive_parcel(run)
    grade_return(run)
    [(_, topic, job_input, outcome)] = run.run_jobs("request_capa")
    assert (topic, outcome) == ("loopline.send_message", "completed")
    return job_input


def test_the_capa_process_takes_the_variables_a_return_sends(fast_engine):
    """The receiving side, started by hand with the link's variables (works today)."""
    request = request_from_a_defective_return(fast_engine)
    capa = Run.start(
        fast_engine,
        "capa",
        {**request["variables"], "problemSummary": "From RMA-1001"},
        business_key=request["businessKey"],
    )
    classify = capa.task("classify_capa")
    assert classify.candidate_groups == ["qa"]
    assert {k: capa.variables[k] for k in ("source", "sourceReference", "faultCode", "responsibleParty")} == {
        "source": "return",
        "sourceReference": "RMA-1001",
        "faultCode": "F-ELEC",
        "responsibleParty": "supplier",
    }
    assert capa.row.business_key == "CAPA-RMA-1001"


def test_a_defective_return_opens_a_capa_by_message(fast_engine):
    request = request_from_a_defective_return(fast_engine)
    started = relay(fast_engine, request)
    capa = Run(fast_engine, started.instance_id)
    assert started.started and capa.open_task_ids() == ["classify_capa"]
    assert capa.path[:2] == ["capa_requested", "gw_intake_merge"]
    assert capa.variables["sourceReference"] == "RMA-1001"


def test_a_terminated_recall_opens_a_capa_by_message(fast_engine):
    started = relay(fast_engine, RECALL_REQUEST)
    capa = Run(fast_engine, started.instance_id)
    assert capa.open_task_ids() == ["classify_capa"] and capa.variables["severity"] == "critical"
    assert capa.status == InstanceStatus.RUNNING


def test_a_manual_capa_does_not_wait_for_a_request_message(fast_engine):
    """Started by hand, the instance must not swallow a later CapaRequested meant for a new CAPA."""
    manual = Run.start(fast_engine, "capa", {"source": "audit", "problemSummary": "x"}, business_key="CAPA-X")
    with fast_engine.db.transaction() as session:
        waiting = session.scalars(
            select(MessageSubscription).where(MessageSubscription.instance_id == manual.id)
        ).all()
    assert waiting == []
