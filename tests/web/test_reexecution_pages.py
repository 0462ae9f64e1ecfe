"""The re-execution check on the web: the page and the API for auditors, 404 for whoever may not read the case."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from orchestrator.actors import Actor
from orchestrator.models import HistoryEvent, HumanTask
from orchestrator.step_state import STATE_EVENT
from tests.conftest import ADMIN
from tests.web.test_pages import signed_in
from web.auth.demo import seed_demo_users

MANAGER = Actor("manager", groups=frozenset({"sales_manager"}), roles=frozenset({"staff"}))


@pytest.fixture
def approved_claim(web_engine) -> str:
    """A refund claim started, then approved by the sales manager (the amount typed as text, as a form sends it)."""
    row = web_engine.instances.start_instance("refund_claim", actor=ADMIN, business_key="RMA-RX-1",
                                              variables={"amount": 9000, "customer": "Grace"})
    with web_engine.db.reading() as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == row.id))
    web_engine.tasks.complete_user_task(task_id, {"approved": True, "approvedAmount": "8000"}, actor=MANAGER)
    return row.id


@pytest.fixture
def people(app):
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    return lambda who: signed_in(app, who)


def tamper_approved_amount(web_engine, instance_id: str) -> None:
    """Change the amount the approval's recorded state says it set (the second command of the case)."""
    with web_engine.db.transaction() as session:
        states = list(session.scalars(select(HistoryEvent).where(
            HistoryEvent.instance_id == instance_id, HistoryEvent.type == STATE_EVENT).order_by(HistoryEvent.seq)))
        payload = states[1].payload
        assert payload["set"]["approvedAmount"] == 8000
        session.execute(update(HistoryEvent).where(HistoryEvent.seq == states[1].seq).values(
            payload={**payload, "set": {**payload["set"], "approvedAmount": 80000}}))


def test_the_page_shows_an_auditor_every_step_and_the_verdict(people, approved_claim, web_engine):
    auditor = people("auditor")
    page = auditor.get(f"/instances/{approved_claim}/reexecution")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="verdict" data-ok="true"' in html and "RMA-RX-1" in html
    assert 'id="step-1" class="match"' in html and 'id="step-2" class="match"' in html
    assert f'href="/instances/{approved_claim}"' in html  # back to the case page

    tamper_approved_amount(web_engine, approved_claim)
    html = auditor.get(f"/instances/{approved_claim}/reexecution").get_data(as_text=True)
    assert 'id="verdict" data-ok="false"' in html and 'id="step-2" class="mismatch"' in html
    assert "<code>approvedAmount</code>" in html and "80000" in html and "8000" in html


def test_the_page_is_not_found_for_a_reader_who_may_not_read_the_case(people, approved_claim):
    assert people("warehouse").get(f"/instances/{approved_claim}/reexecution").status_code == 404
    assert people("auditor").get("/instances/no-such-case/reexecution").status_code == 404
    anonymous = people("auditor").application.test_client().get(f"/instances/{approved_claim}/reexecution")
    assert anonymous.status_code == 302


def test_the_api_reports_the_step_that_differs(as_, approved_claim, web_engine):
    body = as_("auditor").get(f"/api/v1/instances/{approved_claim}/reexecution")
    assert body.status_code == 200, body.get_json()
    report = body.get_json()
    assert (report["ok"], report["definitionKey"], report["businessKey"], report["statesRecorded"]) == (
        True, "refund_claim", "RMA-RX-1", True)
    assert [(s["number"], s["input"], s["matches"]) for s in report["steps"]] == [
        (1, "instance_started", True), (2, "task_completed", True)]
    assert report["steps"][1]["elementId"] == "approve"
    assert report["steps"][1]["recordedPath"] == report["steps"][1]["reExecutedPath"]
    assert {"kind": "element_completed", "elementId": "approve"} in report["steps"][1]["recordedPath"]

    tamper_approved_amount(web_engine, approved_claim)
    report = as_("auditor").get(f"/api/v1/instances/{approved_claim}/reexecution").get_json()
    assert report["ok"] is False and [s["matches"] for s in report["steps"]] == [True, False]
    assert report["steps"][1]["variableDifferences"] == [{
        "name": "approvedAmount", "recordedChange": "set", "recorded": 80000,
        "reExecutedChange": "set", "reExecuted": 8000}]


def test_the_api_is_not_found_for_whoever_may_not_read_the_case(as_, approved_claim):
    for persona in ("packer", "shop"):
        answer = as_(persona).get(f"/api/v1/instances/{approved_claim}/reexecution")
        assert answer.status_code == 404 and answer.content_type == "application/problem+json"
    assert as_(None).get(f"/api/v1/instances/{approved_claim}/reexecution").status_code == 401
