"""The real Twilio and SendGrid SDKs against a loopback server, driven through the engine's jobs."""

from __future__ import annotations

import base64

import pytest

from integrations.notify.models import NotificationStatus
from orchestrator.models import InstanceStatus, JobStatus
from tests.integrations.conftest import PUBLIC_URL, SENDGRID_KEY, TWILIO_SID, TWILIO_TOKEN
from tests.integrations.helpers import job_context, notifications, start
from tests.support import inspect
from tests.support.inspect import completed_elements, history, jobs, run_pending_jobs

RETURN_SMS = dict(channel="sms", to="+15551230001", name="Ann", template="return_received",
                  variables={"rmaNumber": "RMA-1001"})
RETURN_EMAIL = dict(channel="email", to="ann@example.com", name="Ann", template="refund_issued",
                    variables={"rmaNumber": "RMA-1001", "amount": "49.90", "currency": "EUR"})


def _retry_delays(engine, instance_id) -> list[float]:
    return [e.payload["delay_seconds"] for e in history(engine, instance_id) if e.type == "job_retry_scheduled"]


def test_sms_runs_the_twilio_sdk_against_the_loopback_server(notify_engine, provider_server):
    engine = notify_engine()
    instance = start(engine, "notify_customer", "RMA-1001", **RETURN_SMS)

    assert run_pending_jobs(engine) == ["completed"]

    (request,) = provider_server.received("twilio")
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert request.headers["User-Agent"].startswith("twilio-python/")
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(
        f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    form = request.form()
    assert form["To"] == "+15551230001" and form["From"] == "+15550001000"
    assert "RMA-1001" in form["Body"] and form["Body"].startswith("Hello Ann")
    assert form["StatusCallback"] == f"{PUBLIC_URL}/webhooks/twilio/status"
    (row,) = notifications(engine)
    assert (row.channel, row.status, row.provider) == ("sms", NotificationStatus.SENT, "twilio")
    assert row.provider_message_id == request.message_id and row.business_key == "RMA-1001"
    (job,) = jobs(engine, instance.id)
    assert job.result["providerMessageId"] == request.message_id
    assert job.result["notificationId"] == row.id
    assert "sent_end" in completed_elements(engine, instance.id)


def test_email_runs_the_sendgrid_sdk_with_text_and_html_parts(notify_engine, provider_server):
    engine = notify_engine()
    instance = start(engine, "notify_customer", "RMA-1001", **RETURN_EMAIL)

    assert run_pending_jobs(engine) == ["completed"]

    (request,) = provider_server.received("sendgrid")
    assert request.headers["Authorization"] == f"Bearer {SENDGRID_KEY}"
    assert request.headers["User-Agent"].startswith("sendgrid/")
    mail = request.json()
    (row,) = notifications(engine)
    assert mail["personalizations"][0]["to"] == [{"email": "ann@example.com", "name": "Ann"}]
    assert mail["custom_args"] == {"loopline_notification": row.id}  # returned in every event
    assert mail["from"]["email"] == "recalls@loopline.test"
    assert mail["subject"] == "Your refund for return RMA-1001"
    types = {part["type"]: part["value"] for part in mail["content"]}
    assert "49.90 EUR" in types["text/plain"] and "<strong>49.90 EUR</strong>" in types["text/html"]
    assert (row.status, row.provider, row.provider_message_id) == ("sent", "sendgrid", request.message_id)
    assert row.subject == mail["subject"] and row.body == types["text/plain"]
    assert "sent_end" in completed_elements(engine, instance.id)


RETRIED = [
    pytest.param("twilio", RETURN_SMS, 201, TWILIO_TOKEN,
                 ["TransientError: Twilio answered 500 (error 20500)",
                  "TransientError: Twilio answered 429 (error 20429)"], id="twilio"),
    pytest.param("sendgrid", RETURN_EMAIL, 202, SENDGRID_KEY,
                 ["TransientError: SendGrid answered 500", "TransientError: SendGrid answered 429"], id="sendgrid"),
]


@pytest.mark.parametrize(("provider", "message", "accepted", "secret", "errors"), RETRIED)
def test_500_and_429_are_retried_with_backoff_and_the_message_goes_out_once(
        notify_engine, provider_server, clock, provider, message, accepted, secret, errors):
    provider_server.script(provider, 500, 429)
    engine = notify_engine()
    instance = start(engine, "notify_customer", "RMA-1001", **message)

    assert run_pending_jobs(engine) == ["retry"]
    assert run_pending_jobs(engine) == ["skipped"]  # not due yet: the backoff holds it
    (first_delay,) = _retry_delays(engine, instance.id)
    assert 1.0 <= first_delay <= 2.0
    clock.advance(seconds=first_delay + 0.01)  # history rounds to ms
    assert run_pending_jobs(engine) == ["retry"]
    second_delay = _retry_delays(engine, instance.id)[1]
    assert 2.0 <= second_delay <= 4.0  # exponential: the ceiling doubles
    clock.advance(seconds=second_delay + 0.01)
    assert run_pending_jobs(engine) == ["completed"]

    assert [r.status for r in provider_server.received(provider)] == [500, 429, accepted]
    assert provider_server.received("sendgrid" if provider == "twilio" else "twilio") == []
    (row,) = notifications(engine)
    assert (row.status, row.provider, row.send_attempts) == ("sent", provider, 3)
    assert row.provider_message_id == provider_server.accepted(provider)[0].message_id
    retries = [e.payload["error"] for e in history(engine, instance.id) if e.type == "job_retry_scheduled"]
    assert retries == errors
    assert all(secret not in str(e.payload) for e in history(engine, instance.id))
    assert inspect.instance(engine, instance.id).status == InstanceStatus.COMPLETED


def test_a_job_retried_after_a_500_resends_only_what_was_not_accepted(notify_engine, provider_server, clock):
    provider_server.script("twilio", 201, 500)  # the first recipient is accepted, then the provider fails
    engine = notify_engine(concurrency=1)  # one after the other, so the 500 falls on the second recipient
    recipients = [{"id": f"C-{n}", "name": f"Customer {n}", "phone": f"+1555000000{n}"} for n in range(1, 4)]
    instance = start(engine, "recall_notice", "RECALL-7", campaign="Kettle K2 recall", template="recall_reminder",
                     recipients=recipients, variables={"product": "Kettle K2", "recallClass": "II"})

    assert run_pending_jobs(engine) == ["retry"]
    assert [n.status for n in notifications(engine)] == ["sent", "queued", "queued"]
    clock.advance(seconds=5)
    assert run_pending_jobs(engine) == ["completed"]

    accepted = [r.recipient for r in provider_server.accepted("twilio")]
    assert sorted(accepted) == ["+15550000001", "+15550000002", "+15550000003"]  # each exactly once
    assert [r.recipient for r in provider_server.received("twilio")] == [
        "+15550000001", "+15550000002", "+15550000002", "+15550000003"]
    assert all(n.status == "sent" for n in notifications(engine))
    (job, *_) = jobs(engine, instance.id)
    assert job.result["sent"] == 3 and job.result["failed"] == 0


def test_running_a_finished_job_again_sends_nothing_and_returns_the_stored_result(notify_engine, provider_server):
    """A worker that dies after sending but before reporting: the next worker finds the rows and stops."""
    engine = notify_engine()
    instance = start(engine, "notify_customer", "RMA-1001", **RETURN_SMS)
    context = job_context(engine, instance.id, "send_sms")
    connector = engine.connectors.get("notify.sms")
    job_input = jobs(engine, instance.id)[0].input

    first = connector.run(job_input, context)
    again = connector.run(job_input, context)

    assert again == first
    assert len(provider_server.received("twilio")) == 1
    assert len(notifications(engine)) == 1


def test_a_4xx_rejection_becomes_the_bpmn_error_caught_by_the_boundary(notify_engine, provider_server):
    provider_server.rule(lambda r: r.provider == "twilio" and r.form()["To"] == "+15559999999", 400)
    engine = notify_engine()
    instance = start(engine, "notify_customer", "RMA-1002", **{**RETURN_SMS, "to": "+15559999999"})

    assert run_pending_jobs(engine) == ["failed"]

    assert len(provider_server.received("twilio")) == 1  # a rejection is not retried
    (job,) = jobs(engine, instance.id)
    assert job.status == JobStatus.FAILED
    assert job.last_error.startswith("E_INVALID_RECIPIENT: Twilio answered 400 (error 21211)")
    assert completed_elements(engine, instance.id)[-2:] == ["sms_refused", "refused_end"]
    (row,) = notifications(engine)
    assert (row.status, row.error_code, row.provider_message_id) == ("failed", "E_INVALID_RECIPIENT", None)


def test_sendgrid_refusing_the_address_becomes_the_bpmn_error(notify_engine, provider_server):
    provider_server.script("sendgrid", 400)
    engine = notify_engine()
    instance = start(engine, "notify_customer", "RMA-1003", **RETURN_EMAIL)

    assert run_pending_jobs(engine) == ["failed"]

    assert completed_elements(engine, instance.id)[-2:] == ["email_refused", "refused_end"]
    (row,) = notifications(engine)
    assert row.error_code == "E_INVALID_RECIPIENT" and "valid address" in row.error


def test_an_address_that_cannot_work_is_refused_without_calling_the_provider(notify_engine, provider_server):
    engine = notify_engine()
    instance = start(engine, "notify_customer", "RMA-1004", **{**RETURN_SMS, "to": "0800 not a number"})

    assert run_pending_jobs(engine) == ["failed"]

    assert provider_server.received() == []
    assert completed_elements(engine, instance.id)[-1] == "refused_end"


def test_wrong_credentials_stop_the_job_as_an_incident(notify_engine, provider_server):
    provider_server.script("sendgrid", 401)
    engine = notify_engine()
    instance = start(engine, "notify_customer", "RMA-1006", **RETURN_EMAIL)

    assert run_pending_jobs(engine) == ["incident"]

    (job,) = jobs(engine, instance.id)
    assert "E_NOTIFY_CONFIG" in job.last_error and SENDGRID_KEY not in job.last_error
    assert notifications(engine)[0].status == "queued"  # not the recipient's fault: retryable after the fix


def test_the_outbox_backend_stores_the_message_and_calls_nobody(notify_engine, provider_server):
    engine = notify_engine(backend="outbox")
    instance = start(engine, "notify_customer", "RMA-1007", **RETURN_EMAIL)

    assert run_pending_jobs(engine) == ["completed"]

    assert provider_server.received() == []
    (row,) = notifications(engine)
    assert (row.status, row.provider, row.provider_message_id) == ("sent", "outbox", f"outbox-{row.id}")
    assert "49.90 EUR" in row.body and row.html.startswith("<!doctype html>")
    assert jobs(engine, instance.id)[0].result["status"] == "sent"
