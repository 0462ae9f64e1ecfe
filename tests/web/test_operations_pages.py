"""Operators see the local ledgers, the outbox and the breakers; others do not."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from integrations.notify.models import Notification, NotificationStatus
from integrations.registry import JobContext
from tests.conftest import ADMIN, deploy_fixture
from tests.support import inspect
from tests.support.inspect import run_pending_jobs
from web.auth.demo import DEMO_PASSWORD, seed_demo_users


def sign_in(app, email: str):
    browser = app.test_client()
    page = browser.get("/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data).group(1).decode()
    browser.post("/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token})
    return browser


def breaker_rows(html: str, system: str) -> list[str]:
    """The table rows whose first cell is `system`."""
    return [row for row in re.findall(r"<tr>(.*?)</tr>", html, re.S) if cells(row)[:1] == [system]]


def cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_operations_page_shows_what_the_local_backends_did(app, web_engine):
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    web_engine.connectors.get("erp.adjust_stock").run(
        {"sku": "KETTLE-2", "quantity": 3}, JobContext(1, "i", "RMA-1", "book", "erp.adjust_stock", 1, "k-1"))
    web_engine.connectors.get("notify.email").run(
        {"to": "ada@example.com", "name": "Ada", "template": "return_received", "variables": {"rmaNumber": "RMA-1"}},
        JobContext(2, "i", "RMA-1", "mail", "notify.email", 1, "k-2"))
    threshold = web_engine.integration_settings.breaker_threshold
    for _ in range(threshold):  # that many failures in a row open the ERP's breaker
        web_engine.breakers.record_failure("erp", web_engine.now(), "ConnectionError")

    page = sign_in(app, "owner@demo.loopline").get("/operations/")
    assert page.status_code == 200
    text = page.data.decode()
    for expected in ("KETTLE-2", "SM-000001", "ada@example.com", "return_received"):
        assert expected in text
    [erp] = breaker_rows(text, "erp")
    assert cells(erp)[:3] == ["erp", "open (calls paused)", str(threshold)] and "ConnectionError" in cells(erp)
    assert sign_in(app, "warehouse@demo.loopline").get("/operations/").status_code == 403
    assert app.test_client().get("/operations/").status_code == 302


def test_a_message_nobody_can_account_for_is_decided_in_the_outbox(app, web_engine):
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    web_engine.connectors.get("notify.email").run(
        {"to": "ada@example.com", "name": "Ada", "template": "return_received", "variables": {"rmaNumber": "RMA-1"}},
        JobContext(2, "i", "RMA-1", "mail", "notify.email", 1, "k-2"))
    with web_engine.db.transaction() as session:  # as the settler leaves it when the provider cannot say
        session.execute(update(Notification).values(status=NotificationStatus.UNKNOWN, error="answer lost"))
    [notification_id] = _notification_ids(web_engine)

    owner = sign_in(app, "owner@demo.loopline")
    listed = owner.get("/operations/messages?status=unknown").data.decode()
    assert "unknown (a person decides)" in listed and "It went out" in listed and "Send again" in listed
    token = re.search(r'name="csrf_token" value="([^"]+)"', listed).group(1)
    decided = owner.post(f"/operations/messages/{notification_id}/decision",
                         data={"decision": "sent", "csrf_token": token})
    assert decided.status_code == 302
    with web_engine.db.reading() as session:
        row = session.get(Notification, notification_id)
        assert (row.status, row.error) == ("sent", "confirmed sent by owner@demo.loopline")
    assert not inspect.history(web_engine, "i")  # a message outside any case: the row alone says who decided
    again = owner.post(f"/operations/messages/{notification_id}/decision",
                       data={"decision": "again", "csrf_token": token}, follow_redirects=True)
    assert "no longer waiting for a decision" in again.data.decode()  # decided once, never twice
    auditor = sign_in(app, "auditor@demo.loopline")
    assert auditor.post(f"/operations/messages/{notification_id}/decision",
                        data={"decision": "again", "csrf_token": token}).status_code in (400, 403)


def test_the_case_page_shows_each_notice_and_its_progress(app, web_engine):
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
    deploy_fixture(web_engine, "recall_campaign.bpmn")
    row = web_engine.instances.start_instance("recall_notice", actor=ADMIN, business_key="RECALL-PAGE", variables={
        "campaign": "Kettle K2 recall", "template": "recall_reminder", "variables": {"product": "K2", "recallClass": "II"},
        "recipients": [{"id": "A", "name": "Ann", "email": "a@example.com"},
                       {"id": "B", "name": "Bo", "phone": "+15551234567"}, {"id": "C", "name": "Cy"}]})
    assert run_pending_jobs(web_engine) == ["completed"], inspect.jobs(web_engine, row.id)[0].last_error

    page = sign_in(app, "owner@demo.loopline").get(f"/instances/{row.id}").data.decode()
    [campaign_row] = re.findall(r"<tr data-campaign=[^>]*>(.*?)</tr>", page, re.S)
    assert cells(campaign_row)[1:6] == ["3", "2", "0", "1", "0"]  # recipients, sent, sending, failed, unknown
    assert "Kettle K2 recall" in cells(campaign_row)[0]


def _notification_ids(engine) -> list[str]:
    with engine.db.reading() as session:
        return list(session.scalars(select(Notification.id)))
