"""A message is never sent blindly twice: a lost provider answer is settled by asking the provider, a claimed
message is sent by exactly one sender, and what nobody can tell is left to a person."""

from __future__ import annotations

import threading

from integrations.notify.backends import make_backend
from integrations.notify.dispatch import Dispatcher, Planned
from integrations.notify.models import NotificationStatus
from integrations.notify.sending import Sender
from integrations.registry import IntegrationContext
from orchestrator.models import InstanceStatus, JobStatus
from tests.conftest import ADMIN
from tests.integrations.helpers import job_context, notifications, start
from tests.integrations.loopback import Reply
from tests.support import inspect
from tests.support.inspect import history, jobs, run_pending_jobs

SMS = dict(channel="sms", to="+15551230001", name="Ann", template="return_received",
           variables={"rmaNumber": "RMA-2001"})
EMAIL = dict(channel="email", to="ann@example.com", name="Ann", template="refund_issued",
             variables={"rmaNumber": "RMA-2001", "amount": "49.90", "currency": "EUR"})
SETTLED = 0.3 + 1.0 + 0.1  # timeout + lookup delay of the engine below, and a little


def test_an_sms_taken_whose_answer_was_lost_is_found_at_the_provider_not_sent_again(
        notify_engine, provider_server, clock):
    provider_server.script("twilio", Reply(201, delay=1.0))  # taken at once, answered after the client gave up
    engine = notify_engine(timeout=0.3)
    instance = start(engine, "notify_customer", "RMA-2001", **SMS)

    assert run_pending_jobs(engine) == ["paused"]  # no attempt spent: it waits to ask the provider
    [row] = notifications(engine)
    assert row.status == NotificationStatus.SENDING and "Twilio did not answer: ReadTimeout" in row.error
    assert run_pending_jobs(engine) == ["skipped"]  # not before the provider's answer could have come
    assert provider_server.lookups == 0
    clock.advance(seconds=SETTLED)
    assert run_pending_jobs(engine) == ["completed"]

    [taken] = provider_server.accepted("twilio")
    assert len(provider_server.received("twilio")) == 1 and provider_server.lookups == 1
    [row] = notifications(engine)
    assert (row.status, row.provider_message_id, row.send_attempts) == ("sent", taken.message_id, 1)
    assert inspect.instance(engine, instance.id).status == InstanceStatus.COMPLETED
    paused = [e for e in history(engine, instance.id) if e.type == "job_paused"]
    assert "asking the provider" in paused[0].payload["reason"]


def test_an_email_whose_answer_was_lost_is_found_by_its_notification_id(notify_engine, provider_server, clock):
    provider_server.script("sendgrid", Reply(202, delay=1.0))
    engine = notify_engine(timeout=0.3)
    start(engine, "notify_customer", "RMA-2002", **EMAIL)

    assert run_pending_jobs(engine) == ["paused"]
    clock.advance(seconds=SETTLED)
    assert run_pending_jobs(engine) == ["completed"]

    [taken] = provider_server.accepted("sendgrid")
    assert len(provider_server.received("sendgrid")) == 1
    [row] = notifications(engine)
    assert (row.status, row.provider_message_id) == ("sent", taken.message_id)


def test_a_slow_refusal_is_not_found_at_the_provider_and_is_sent_again_once(notify_engine, provider_server, clock):
    provider_server.script("twilio", Reply(503, delay=1.0))  # refused, and the answer came too late to read
    engine = notify_engine(timeout=0.3)
    start(engine, "notify_customer", "RMA-2003", **SMS)

    assert run_pending_jobs(engine) == ["paused"]
    clock.advance(seconds=SETTLED)
    assert run_pending_jobs(engine) == ["completed"]

    assert len(provider_server.accepted("twilio")) == 1 and len(provider_server.received("twilio")) == 2
    [row] = notifications(engine)
    assert (row.status, row.send_attempts) == ("sent", 2)


def test_when_the_provider_cannot_say_a_person_decides_and_the_retry_follows_the_decision(
        notify_engine, provider_server, clock):
    provider_server.script("twilio", Reply(201, delay=1.0), Reply(201, delay=1.0))
    provider_server.lookup_status = 403  # no message history on this account
    engine = notify_engine(timeout=0.3)
    first = start(engine, "notify_customer", "RMA-2004", **SMS)
    second = start(engine, "notify_customer", "RMA-2005", **{**SMS, "to": "+15551230002"})

    assert run_pending_jobs(engine) == ["paused", "paused"]
    clock.advance(seconds=SETTLED)
    assert run_pending_jobs(engine) == ["incident", "incident"], jobs(engine, first.id)[0].last_error
    assert {n.status for n in notifications(engine)} == {NotificationStatus.UNKNOWN}
    [job] = jobs(engine, first.id)
    assert job.status == JobStatus.INCIDENT and "mark each as sent or send it again" in job.last_error

    went_out, resend = notifications(engine)
    engine.message_decisions.decide_message(went_out.id, went_out=True, actor=ADMIN)
    engine.message_decisions.decide_message(resend.id, went_out=False, actor=ADMIN)
    decided = [e.payload for i in (first, second) for e in history(engine, i.id) if e.type == "message_decided"]
    assert sorted(p["decision"] for p in decided) == ["send again", "went out"]  # in the cases' own history
    for incident in engine.queries.open_incidents(ADMIN):
        engine.jobs.retry_incident(incident.id, actor=ADMIN)
    assert sorted(run_pending_jobs(engine)) == ["completed", "completed"]

    assert len(provider_server.received("twilio")) == 3  # two lost answers, one send again
    assert {n.status for n in notifications(engine)} == {NotificationStatus.SENT}
    assert all(inspect.instance(engine, i.id).status == InstanceStatus.COMPLETED for i in (first, second))


def test_two_senders_on_the_same_messages_send_each_exactly_once(notify_engine, provider_server):
    provider_server.rule(lambda r: True, Reply(201, delay=0.01))
    engine = notify_engine(concurrency=4)
    instance = start(engine, "recall_notice", "RECALL-2006", campaign="Kettle K2 recall", template="recall_reminder",
                     recipients=[{"id": f"C-{n}", "phone": f"+1555100{n:04d}"} for n in range(60)],
                     variables={"product": "Kettle K2", "recallClass": "II"})
    context = job_context(engine, instance.id, "notify_recipients")
    integration = IntegrationContext(engine.integration_settings, engine.db.sessions, engine.now)
    dispatcher = Dispatcher(integration, make_backend(integration.settings.notify))
    planned = [Planned(f"C-{n}", "", "sms", f"+1555100{n:04d}", "recall_reminder", None,
                       {"product": "Kettle K2", "recallClass": "II"}) for n in range(60)]
    rows = dispatcher._store(context, planned, None, None)

    def sender(token: str) -> None:
        Sender(integration, dispatcher.backend, batch_size=10).send(
            list(rows), token, threading.Event(), concurrency=4)

    threads = [threading.Thread(target=sender, args=(f"job:test:{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    recipients = [r.recipient for r in provider_server.received("twilio")]
    assert sorted(recipients) == sorted(f"+1555100{n:04d}" for n in range(60))  # each once
    assert {n.status for n in notifications(engine)} == {NotificationStatus.SENT}
