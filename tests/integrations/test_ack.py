"""The public acknowledgement page: a valid link records the answer once and tells the waiting process."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from integrations.notify.acks import AckLinkExpired, AckLinkInvalid, ack_token
from integrations.notify.tracking import record_acknowledgement
from orchestrator.models import InstanceStatus
from tests.integrations.conftest import PUBLIC_URL
from tests.integrations.helpers import notifications, start
from tests.support import inspect
from tests.support.inspect import history, jobs, run_pending_jobs

ACK_PATH = re.compile(re.escape(PUBLIC_URL) + r"(/ack/[A-Za-z0-9_.\-]+)")
PEOPLE = [{"id": "P1", "name": "Ann <Admin>", "email": "ann@example.com"},
          {"id": "P2", "name": "Bob", "email": "bob@example.com", "phone": "+15551230002"}]


@pytest.fixture
def recall(notify_engine, web_app):
    """A recall instance waiting for RecallAcknowledged after notices went out through the outbox."""
    engine = notify_engine(backend="outbox")
    instance = start(engine, "recall_notice", "RECALL-9", campaign="Heater H1 recall", template="recall_notice_partner",
                     recipients=PEOPLE, variables={"product": "Heater H1", "hazard": "Burns.", "recallClass": "II"},
                     ackMessage="RecallAcknowledged")
    assert run_pending_jobs(engine) == ["completed"]
    links = {(n.recipient_id, n.channel): ACK_PATH.search(n.body).group(1) for n in notifications(engine)}
    return engine, web_app(engine).test_client(), instance, links


def acknowledgements(engine) -> list[tuple]:
    return sorted((n.recipient_id, n.channel, n.acknowledged_at, n.ack_remedy, n.ack_quantity, n.ack_forwarded_at)
                  for n in notifications(engine))


def correlations(engine, instance_id) -> list:
    return [e for e in history(engine, instance_id) if e.type == "message_correlated"]


def test_a_valid_link_shows_the_form_without_login(recall):
    engine, client, _, links = recall

    response = client.get(links["P1", "email"])

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Product safety recall: Heater H1" in page and "Ann &lt;Admin&gt;" in page
    assert all(f'value="{remedy}"' in page for remedy in ("repair", "replace", "refund"))
    assert 'name="quantity"' in page and "csrf" not in page.lower()
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Referrer-Policy"] == "no-referrer"


def test_posting_the_form_records_the_ack_and_correlates_the_waiting_instance(recall):
    engine, client, instance, links = recall

    response = client.post(links["P2", "sms"], data={"remedy": "replace", "quantity": "12"})

    assert response.status_code == 200 and "We have recorded your answer" in response.get_data(as_text=True)
    sms = notifications(engine, recipient_id="P2", channel="sms")[0]
    assert (sms.ack_remedy, sms.ack_quantity, sms.acknowledged_at) == ("replace", 12, engine.now())
    assert sms.ack_forwarded_at is not None
    (event,) = correlations(engine, instance.id)
    assert event.actor == "system:ack" and event.payload["business_key"] == "RECALL-9"
    campaign_id = sms.campaign_id
    assert event.payload["variables"] == {"recipientId": "P2", "remedy": "replace", "quantityOnHand": 12,
                                          "campaignId": campaign_id, "recipientLanguage": "en"}
    assert run_pending_jobs(engine) == ["completed"]  # the status report after the acknowledgement
    report = next(j for j in jobs(engine, instance.id) if j.element_id == "status_report")
    assert report.result["campaignStatus"]["acknowledged"] == 1
    assert inspect.instance(engine, instance.id).status == InstanceStatus.COMPLETED


def test_a_second_answer_from_the_same_recipient_changes_nothing(recall, clock):
    engine, client, instance, links = recall
    client.post(links["P2", "email"], data={"remedy": "refund", "quantity": "3"})
    before = acknowledgements(engine)
    clock.advance(hours=1)

    again = client.post(links["P2", "email"], data={"remedy": "repair", "quantity": "7"})
    other_channel = client.post(links["P2", "sms"], data={"remedy": "repair", "quantity": "7"})
    shown = client.get(links["P2", "sms"])

    for response in (again, other_channel, shown):
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and "already recorded" in page and "Refund" in page
    assert acknowledgements(engine) == before
    assert len(correlations(engine, instance.id)) == 1


def test_invalid_answers_redisplay_the_form_and_change_nothing(recall):
    engine, client, instance, links = recall
    before = acknowledgements(engine)

    response = client.post(links["P1", "email"], data={"remedy": "cash", "quantity": "-2"})

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose one of the remedies." in page and "Enter a whole number from 0 to 1000000." in page
    assert acknowledgements(engine) == before and correlations(engine, instance.id) == []


def _tampered(link: str) -> str:
    """Change the signed payload (the first part of the token), keeping the signature."""
    token = link.removeprefix("/ack/")
    return "/ack/" + ("f" if token[0] != "f" else "e") + token[1:]


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_link_gets_a_clear_page_and_changes_nothing(recall, method):
    engine, client, instance, links = recall
    before = acknowledgements(engine)
    forged = ack_token(replace(engine.integration_settings.notify, ack_secret="guessed"),
                       notifications(engine)[0].id, engine.now)

    for link in (_tampered(links["P1", "email"]), f"/ack/{forged}", "/ack/not-a-token"):
        response = getattr(client, method)(link, data={"remedy": "refund", "quantity": "1"})
        assert response.status_code == 400
        assert "This link is not valid" in response.get_data(as_text=True)
    assert acknowledgements(engine) == before and correlations(engine, instance.id) == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_expired_link_gets_a_clear_page_and_changes_nothing(recall, clock, method):
    engine, client, instance, links = recall
    before = acknowledgements(engine)
    clock.advance(days=engine.integration_settings.notify.ack_ttl_days, seconds=1)

    response = getattr(client, method)(links["P1", "email"], data={"remedy": "refund", "quantity": "1"})

    assert response.status_code == 410
    assert "This link has expired" in response.get_data(as_text=True)
    assert acknowledgements(engine) == before and correlations(engine, instance.id) == []


def test_an_answer_after_the_process_stopped_waiting_is_still_recorded(recall):
    engine, client, instance, links = recall
    client.post(links["P1", "email"], data={"remedy": "repair", "quantity": "1"})
    assert run_pending_jobs(engine) == ["completed"]
    assert inspect.instance(engine, instance.id).status == InstanceStatus.COMPLETED

    response = client.post(links["P2", "email"], data={"remedy": "refund", "quantity": "2"})

    assert response.status_code == 200
    bob = notifications(engine, recipient_id="P2", channel="email")[0]
    assert bob.ack_remedy == "refund" and bob.ack_forwarded_at is not None  # nothing waited: not retried later
    assert len(correlations(engine, instance.id)) == 1


def test_record_acknowledgement_reports_what_the_process_needs(recall):
    engine, _, instance, links = recall
    settings = engine.integration_settings.notify
    token = links["P1", "email"].removeprefix("/ack/")

    with engine.db.transaction() as session:
        first = record_acknowledgement(session, token, "repair", 4, settings=settings, now=engine.now)
    with engine.db.transaction() as session:
        second = record_acknowledgement(session, token, "refund", 9, settings=settings, now=engine.now)
    with engine.db.transaction() as session, pytest.raises(AckLinkInvalid):
        record_acknowledgement(session, token + "x", "repair", 1, settings=settings, now=engine.now)
    with engine.db.transaction() as session, pytest.raises(AckLinkExpired):
        record_acknowledgement(session, token, "repair", 1, settings=replace(settings, ack_ttl_days=0),
                               now=lambda: engine.now().replace(year=2027))

    assert (first.first, second.first) == (True, False)
    assert (first.instance_id, first.business_key, first.recipient_id) == (instance.id, "RECALL-9", "P1")
    assert (second.remedy, second.quantity) == ("repair", 4)
    assert first.campaign_id == second.campaign_id is not None


def test_messages_without_ack_links_have_no_ack_page(notify_engine, web_app):
    engine = notify_engine(backend="outbox")
    start(engine, "notify_customer", "RMA-1", channel="sms", to="+15551230001", name="Ann",
          template="return_received", variables={"rmaNumber": "RMA-1"})
    run_pending_jobs(engine)
    (row,) = notifications(engine)
    token = ack_token(engine.integration_settings.notify, row.id, engine.now)  # genuinely signed, but never sent

    assert "/ack/" not in row.body
    assert web_app(engine).test_client().get(f"/ack/{token}").status_code == 400


def test_asking_for_ack_links_without_a_secret_stops_the_job(notify_engine):
    engine = notify_engine(backend="outbox", ack_secret="")
    instance = start(engine, "recall_notice", "RECALL-10", campaign="c", template="recall_reminder",
                     recipients=PEOPLE, variables={"product": "Heater H1", "recallClass": "III"}, ackMessage=True)

    assert run_pending_jobs(engine) == ["incident"]
    assert "LOOPLINE_ACK_SECRET" in jobs(engine, instance.id)[0].last_error
