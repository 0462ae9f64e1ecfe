"""A recall campaign to 1,000 recipients: per-recipient delivery and acknowledgement, and counts the process sees."""

from __future__ import annotations

import json
import re
import time

import pytest

from integrations.notify.tracking import campaign_counts, record_acknowledgement
from integrations.registry import TransientError
from orchestrator.models import InstanceStatus, JobStatus
from tests.integrations.conftest import PUBLIC_URL, twilio_signature
from tests.integrations.helpers import job_context, notifications, start
from tests.support import inspect
from tests.support.inspect import history, jobs, run_pending_jobs

ACK_LINK = re.compile(re.escape(PUBLIC_URL) + r"(/ack/[A-Za-z0-9_.\-]+)")
RECALL = dict(product="Kettle K2", hazard="The base can overheat and start a fire.", recallClass="I",
              lots="L2407, L2408", contact="recall@loopline.test")
REFUSED = {f"r{i:04d}@example.com" for i in (1, 2, 3, 5, 6)}  # addresses SendGrid refuses; no phone either
UNREACHABLE = {"R0997", "R0998", "R0999"}  # neither e-mail nor phone


def recipients(count: int = 1000) -> list[dict]:
    people = []
    for i in range(count):
        person = {"id": f"R{i:04d}", "name": f"Customer {i}", "language": "zh" if i % 10 == 7 else "en"}
        if person["id"] not in UNREACHABLE:
            person["email"] = f"r{i:04d}@example.com"
            if i % 4 == 0:
                person["phone"] = f"+1555{i:07d}"
        people.append(person)
    return people


def start_campaign(engine, people, **extra):
    return start(engine, "recall_notice", "RECALL-2026-01", campaign="Kettle K2 class I recall",
                 template="recall_notice_consumer", language="en", recipients=people, variables=RECALL,
                 ackMessage=True, **extra)


def sendgrid_post(client, signer, engine, events: list[dict]):
    body = json.dumps(events).encode()
    response = client.post("/webhooks/sendgrid/events", data=body,
                           headers=signer.headers(body, str(int(engine.now().timestamp()))))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def email_events(rows, kind: str, at: int) -> list[dict]:
    return [{"email": n.address, "timestamp": at, "event": kind, "sg_event_id": f"{kind}-{n.id}",
             "sg_message_id": f"{n.provider_message_id}.filter0001", "loopline_notification": n.id} for n in rows]


def test_a_recall_campaign_to_1000_recipients_tracks_delivery_and_acknowledgement(
        notify_engine, provider_server, web_app, sendgrid_signer):
    provider_server.rule(lambda r: r.provider == "sendgrid" and r.recipient in REFUSED, 400)
    engine = notify_engine()
    instance = start_campaign(engine, recipients())

    began = time.monotonic()
    assert run_pending_jobs(engine) == ["completed"]
    elapsed = time.monotonic() - began

    # --- the job: every reachable recipient got the notice on each channel they have, once
    (job,) = jobs(engine, instance.id)
    assert job.result == {"campaignId": job.result["campaignId"], "recipients": 1000, "sent": 992, "failed": 8,
                          "unreachable": 3, "messagesSent": 992 + 250, "messagesFailed": 5}
    assert elapsed < 60, f"a 1,000-recipient campaign took {elapsed:.1f} s"
    campaign_id = job.result["campaignId"]
    assert len(provider_server.accepted("sendgrid")) == 992 and len(provider_server.accepted("twilio")) == 250
    accepted_to = [r.recipient for r in provider_server.accepted()]
    assert len(accepted_to) == len(set(accepted_to))
    rows = notifications(engine, campaign_id=campaign_id)
    assert len(rows) == 997 + 250
    emails = [n for n in rows if n.channel == "email" and n.status == "sent"]
    sms = [n for n in rows if n.channel == "sms"]
    refused = [n for n in rows if n.status == "failed"]
    assert {n.address for n in refused} == REFUSED and {n.error_code for n in refused} == {"E_INVALID_RECIPIENT"}

    # --- what went out: URGENT recall notices, in the recipient's language, each with its own ack link
    first_mail = provider_server.accepted("sendgrid")[0].json()
    assert first_mail["subject"] == "URGENT: Product safety recall – Kettle K2"
    chinese = next(n for n in rows if n.recipient_id == "R0007")
    assert chinese.subject == "紧急：产品安全召回 – Kettle K2" and chinese.language == "zh"
    links = {n.id: ACK_LINK.search(n.body).group(1) for n in rows if n.status == "sent"}
    assert len(set(links.values())) == len(links)
    assert ACK_LINK.search(first_mail["content"][0]["value"])

    # --- delivery webhooks: SendGrid in one signed batch of 992 events, then opens and clicks
    app = web_app(engine)
    client = app.test_client()
    at = int(engine.now().timestamp())
    assert sendgrid_post(client, sendgrid_signer, engine, email_events(emails, "delivered", at))["applied"] == 992
    assert sendgrid_post(client, sendgrid_signer, engine, email_events(emails[:300], "open", at + 60))["applied"] == 300
    assert sendgrid_post(client, sendgrid_signer, engine, email_events(emails[:100], "click", at + 90))["applied"] == 100
    replay = sendgrid_post(client, sendgrid_signer, engine, email_events(emails, "delivered", at))
    assert replay == {"received": 992, "applied": 0, "duplicates": 992, "unmatched": 0}
    for n, status in [(n, "delivered") for n in sms[:50]] + [(n, "undelivered") for n in sms[50:60]]:
        form = {"MessageSid": n.provider_message_id, "MessageStatus": status}
        response = client.post("/webhooks/twilio/status", data=form, headers={
            "X-Twilio-Signature": twilio_signature("http://localhost/webhooks/twilio/status", form)})
        assert response.status_code == 204

    # --- acknowledgements through the public page: 20 recipients, one of them twice on two channels
    acknowledging = [n for n in emails if n.recipient_id in {f"R{i:04d}" for i in range(0, 80, 4)}]
    assert len(acknowledging) == 20
    for number, n in enumerate(acknowledging):
        assert client.get(links[n.id]).status_code == 200
        answer = {"remedy": ("repair", "replace", "refund")[number % 3], "quantity": str(number % 4 + 1)}
        assert client.post(links[n.id], data=answer).status_code == 200
    sms_of_first = next(n for n in sms if n.recipient_id == acknowledging[0].recipient_id)
    again = client.post(links[sms_of_first.id], data={"remedy": "refund", "quantity": "9"})
    assert again.status_code == 200 and "already recorded" in again.get_data(as_text=True)

    # --- the process heard the first acknowledgement and reports the counts
    correlated = [e for e in history(engine, instance.id) if e.type == "message_correlated"]
    assert len(correlated) == 1
    assert correlated[0].payload["variables"] == {"recipientId": "R0000", "remedy": "repair", "quantityOnHand": 1,
                                                  "campaignId": campaign_id, "recipientLanguage": "en"}
    assert run_pending_jobs(engine) == ["completed"]
    status_job = next(j for j in jobs(engine, instance.id) if j.element_id == "status_report")
    expected = {"recipients": 1000, "sent": 992, "delivered": 992, "failed": 8, "opened": 300, "clicked": 100,
                "acknowledged": 20, "sending": 0, "unknown": 0, "unreachable": 3}
    assert status_job.status == JobStatus.COMPLETED
    assert status_job.result == {"campaignStatus": {"campaignId": campaign_id, **expected}}
    assert inspect.instance(engine, instance.id).status == InstanceStatus.COMPLETED
    with engine.db.reading() as session:
        assert campaign_counts(session, campaign_id) == expected

    # --- per recipient: who acknowledged what, on which channel the notice arrived
    by_recipient = {n.recipient_id: n for n in notifications(engine, campaign_id=campaign_id, channel="email")}
    assert by_recipient["R0004"].ack_remedy == "replace" and by_recipient["R0004"].ack_quantity == 2
    assert by_recipient["R0000"].acknowledged_at is not None and sms_of_first.acknowledged_at is None
    assert notifications(engine, id=sms_of_first.id)[0].acknowledged_at is None  # the second answer changed nothing
    assert by_recipient["R0000"].ack_forwarded_at is not None


def test_a_campaign_job_run_again_reuses_its_campaign_and_sends_nothing(notify_engine, provider_server):
    engine = notify_engine(backend="outbox")
    instance = start_campaign(engine, recipients(30))
    context = job_context(engine, instance.id, "notify_recipients")
    connector = engine.connectors.get("notify.campaign")
    job_input = jobs(engine, instance.id)[0].input
    first = connector.run(job_input, context)
    rows = [(n.id, n.sent_at) for n in notifications(engine)]
    again = connector.run(job_input, context)

    assert again == first
    assert len(rows) == 30 + 8  # 30 e-mails, 8 phones (0, 4, …, 28)
    assert [(n.id, n.sent_at) for n in notifications(engine)] == rows


def test_bad_campaign_input_is_a_clear_business_error(notify_engine):
    engine = notify_engine(backend="outbox")
    people = [{"id": "A", "email": "a@example.com"}, {"id": "A", "email": "b@example.com"}, {"name": "no id"}]
    instance = start_campaign(engine, people)

    assert run_pending_jobs(engine) == ["incident"]  # E_INVALID_INPUT is not caught in this model

    (job,) = jobs(engine, instance.id)
    assert "E_INVALID_INPUT" in job.last_error
    assert "recipient id 'A' appears twice" in job.last_error and "recipients[2] needs an id" in job.last_error
    assert notifications(engine) == []


def test_a_template_variable_missing_for_one_recipient_sends_nothing(notify_engine, provider_server):
    engine = notify_engine()
    instance = start(engine, "recall_notice", "RECALL-2", campaign="c", template="refund_issued",
                     recipients=[{"id": "A", "name": "Ann", "email": "a@example.com", "variables": {"rmaNumber": "R1"}},
                                 {"id": "B", "name": "Bob", "email": "b@example.com"}],
                     variables={"amount": 5, "currency": "EUR"})

    assert run_pending_jobs(engine) == ["incident"]

    assert "'rmaNumber' is undefined" in jobs(engine, instance.id)[0].last_error
    assert provider_server.received() == [] and notifications(engine) == []


def test_a_reminder_goes_only_to_recipients_who_have_not_responded(notify_engine):
    engine = notify_engine(backend="outbox")
    first = start_campaign(engine, recipients(8))
    run_pending_jobs(engine)
    campaign_id = jobs(engine, first.id)[0].result["campaignId"]
    settings = engine.integration_settings.notify
    for n in notifications(engine, campaign_id=campaign_id, channel="email")[:3]:
        token = ACK_LINK.search(n.body).group(1).removeprefix("/ack/")
        with engine.db.transaction() as session:
            record_acknowledgement(session, token, "refund", 1, settings=settings, now=engine.now)

    reminder = start(engine, "recall_notice", "RECALL-2026-01-R", campaign="Reminder", template="recall_reminder",
                     recipients=recipients(8), variables=RECALL, channels=["email"], onlyNonRespondersOf=campaign_id)
    assert run_pending_jobs(engine, reminder.id) == ["completed"]

    result = jobs(engine, reminder.id)[0].result
    reminded = {n.recipient_id for n in notifications(engine, campaign_id=result["campaignId"])}
    assert reminded == {"R0003", "R0004", "R0005", "R0006", "R0007"}
    assert result["recipients"] == 5 and result["sent"] == 5


def test_a_campaign_whose_claim_was_lost_stops_before_its_next_message(notify_engine, provider_server):
    engine = notify_engine(backend="outbox")
    instance = start_campaign(engine, recipients(30))
    context = job_context(engine, instance.id, "notify_recipients")
    context.claim_lost.set()  # the heartbeat found the job handed to another worker
    connector = engine.connectors.get("notify.campaign")

    with pytest.raises(TransientError, match="handed to another worker"):
        connector.run(jobs(engine, instance.id)[0].input, context)
    rows = notifications(engine)
    assert rows and {n.status for n in rows} == {"queued"}  # stored for whoever holds the job, none sent
