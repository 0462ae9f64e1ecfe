"""bpmn/recall.bpmn on the built-in connectors: the scope comes from recorded trace events and the
notices go out through the real notify.campaign (outbox backend), so the shapes the script task reads
are the ones the real connectors return — not a stub's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from integrations.config import IntegrationSettings, NotifySettings
from integrations.db import IntegrationsBase
from integrations.notify.acks import ack_token, record_acknowledgement
from integrations.notify.models import Campaign
from integrations.traceability.models import TraceEvent
from tests.conftest import ADMIN
from tests.integrations.helpers import notifications
from tests.processes.driver import Run, deploy_models
from tests.processes.test_recall import SIGNAL, evaluate_hazard, strategy
from tests.support.inspect import jobs

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ADA = {"email": "ada@example.com", "phone": "+4915112345678", "name": "Ada Lovelace"}


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


TRACE = [
    # suspect KETTLE-2/L-7 is also packed into gift sets (lot S-1): the forward trace must reach those
    dict(kind="transformation", event_time=at(1), inputs=[{"sku": "KETTLE-2", "lot": "L-7", "quantity": 50}],
         outputs=[{"sku": "KETTLE-SET", "lot": "S-1", "quantity": 50}]),
    dict(kind="object", biz_step="shipping", event_time=at(2), sku="KETTLE-2", lot="L-7", quantity=1200,
         destination="GLN-D1", destination_name="Nordlicht Distribution", destination_kind="distributor",
         contact={"email": "recalls@nordlicht.example"}),
    dict(kind="object", biz_step="shipping", event_time=at(3), sku="KETTLE-SET", lot="S-1", quantity=50,
         destination="GLN-R1", destination_name="Kaufhaus Mitte", destination_kind="retailer"),  # no contact
    dict(kind="object", biz_step="shipping", event_time=at(4), sku="KETTLE-2", lot="L-7", quantity=1,
         destination="CUST-881", destination_name=None, destination_kind="consumer", contact=ADA),
    dict(kind="object", biz_step="shipping", event_time=at(4), sku="KETTLE-2", lot="L-7", quantity=1,
         destination="CUST-882", destination_name="Anonymous buyer", destination_kind="consumer"),
    # a clean lot shipped to someone else stays out of scope
    dict(kind="object", biz_step="shipping", event_time=at(5), sku="KETTLE-2", lot="L-8", quantity=300,
         destination="GLN-D2", destination_name="Süd Distribution", destination_kind="distributor",
         contact={"email": "recalls@sued.example"}),
]


@pytest.fixture
def real_engine(make_engine, sqlite_database):
    """The models with only the built-in connectors; notices are stored in the outbox, never sent."""
    notify = NotifySettings(backend="outbox", ack_secret="ack-secret-for-recall-tests")
    engine = make_engine(sqlite_database, connector_modules=(),
                         integration_settings=IntegrationSettings(notify=notify))
    IntegrationsBase.metadata.create_all(engine.db.engine)
    deploy_models(engine)
    with engine.db.transaction() as session:
        session.add_all(TraceEvent(**event) for event in TRACE)
    return engine


def test_recipients_come_from_the_trace_data(real_engine):
    run = Run.start(real_engine, "recall", SIGNAL, business_key="RC-L-7-REAL")
    run.run_jobs("open_recall_case")
    evaluate_hazard(run)
    run.complete("decide_recall", {"recallClass": "I", "decisionRationale": "Burns are likely"})
    [(_, topic, _, outcome)] = run.run_jobs("compute_scope")
    assert (topic, outcome) == ("trace.recall_scope", "completed")
    assert real_engine.queries.open_incidents(ADMIN) == []

    variables = run.variables
    assert variables["affectedLots"] == ["KETTLE-2/L-7", "KETTLE-SET/S-1"]
    assert (variables["consigneeCount"], variables["identifiableCustomers"]) == (4, 1)
    assert variables["partnerRecipients"] == [
        {"id": "GLN-D1", "name": "Nordlicht Distribution", "email": "recalls@nordlicht.example", "phone": ""},
        {"id": "GLN-R1", "name": "Kaufhaus Mitte", "email": "", "phone": ""},
    ]
    # the name falls back to the contact's; the consumer without a contact cannot be told directly
    assert variables["consumerRecipients"] == [
        {"id": "CUST-881", "name": "Ada Lovelace", "email": ADA["email"], "phone": ADA["phone"]}
    ]
    assert (variables["partnerCount"], variables["consumerCount"]) == (2, 1)

    strategy(run)
    run.complete("approve_strategy", {"strategyApproved": True})
    campaigns = {element: (topic, job_input, outcome) for element, topic, job_input, outcome in run.run_jobs()}
    assert {element: (topic, outcome) for element, (topic, _, outcome) in campaigns.items()} == {
        "notify_authority": ("notify.email", "completed"),  # legal said the authority must be told
        "notify_partners": ("notify.campaign", "completed"),
        "notify_consumers": ("notify.campaign", "completed"),
    }
    assert campaigns["notify_partners"][1]["recipients"] == variables["partnerRecipients"]
    assert campaigns["notify_consumers"][1]["recipients"] == variables["consumerRecipients"]

    sent = sorted((n.recipient_id, n.channel, n.address, n.status) for n in notifications(real_engine)
                  if n.campaign_id is not None)  # the notices; the authority's report is an e-mail of its own
    assert sent == [
        ("CUST-881", "email", "ada@example.com", "sent"),
        ("CUST-881", "sms", "+4915112345678", "sent"),
        ("GLN-D1", "email", "recalls@nordlicht.example", "sent"),
    ]  # GLN-R1 has no address: counted unreachable, not sent
    run.complete("publish_public_warning", {"noticeUrl": "https://loopline.example/recalls/kettle-2",
                                            "publishedOn": "2026-01-06", "authoritiesInformed": True})
    with real_engine.db.reading() as session:
        trade = session.scalar(select(Campaign).where(Campaign.instance_id == run.id,
                                                      Campaign.template == "recall_notice_partner"))
    assert (trade.recipient_count, trade.unreachable_count) == (2, 1)
    assert run.variables["partnerCampaignId"] == trade.id  # the follow-up polls the real campaign
    assert real_engine.queries.open_incidents(ADMIN) == []


def _notified(engine) -> Run:
    run = Run.start(engine, "recall", SIGNAL, business_key="RC-L-7-FOLLOW-UP")
    run.run_jobs("open_recall_case")
    evaluate_hazard(run)
    run.complete("decide_recall", {"recallClass": "I", "decisionRationale": "Burns are likely"})
    run.run_jobs("compute_scope")
    strategy(run)
    run.complete("approve_strategy", {"strategyApproved": True})
    assert sorted(element for element, *_ in run.run_jobs()) == ["notify_authority", "notify_consumers",
                                                                 "notify_partners"]
    run.complete("publish_public_warning", {"noticeUrl": "https://loopline.example/recalls/kettle-2",
                                            "publishedOn": "2026-01-06", "authoritiesInformed": True})
    return run


def _acknowledge(engine, recipient_id: str, campaign_id: str) -> None:
    """The recipient answers through the link of their notice."""
    [notice, *_] = notifications(engine, campaign_id=campaign_id, recipient_id=recipient_id)
    settings = engine.integration_settings.notify
    with engine.db.transaction() as session:
        record_acknowledgement(session, ack_token(settings, notice.id, engine.now), "refund", 1,
                               settings=settings, now=engine.now)


def _sent_by(engine, run: Run, element: str) -> list[tuple[str, str, str]]:
    """What the (one) job of `element` sent: (recipient, channel, address) per message of its campaign."""
    [job] = [j for j in jobs(engine, run.id) if j.element_id == element]
    with engine.db.reading() as session:
        [campaign] = session.scalars(select(Campaign.id).where(Campaign.instance_id == run.id,
                                                               Campaign.name == job.input["campaign"]))
    return sorted((n.recipient_id, n.channel, n.address) for n in notifications(engine, campaign_id=campaign))


def test_non_responders_of_each_campaign_are_reminded_through_the_real_notify_connectors(real_engine, clock):
    """The distributor acknowledges, the consumer does not: the trade reminders go only to the retailer
    without an address (nothing to send), the consumer gets two e-mails and then an SMS."""
    run = _notified(real_engine)
    trade, consumers = run.variables["partnerCampaignId"], run.variables["consumerCampaignId"]
    _acknowledge(real_engine, "GLN-D1", trade)
    sent = []
    for _ in range(3):
        clock.advance(days=3, seconds=1)
        assert real_engine.timers.fire_due_timers() == [run.id]
        ran = run.run_jobs()
        assert [outcome for *_, outcome in ran] == ["completed"] * 4, ran
        sent.append({element: job_input for element, _, job_input, _ in ran})
    assert real_engine.queries.open_incidents(ADMIN) == []
    assert [sorted(round_jobs) for round_jobs in sent] == [
        ["check_acknowledgements", "check_consumer_acknowledgements", "remind_consumer_non_responders",
         "remind_non_responders"],
        ["check_acknowledgements", "check_consumer_acknowledgements", "remind_consumer_non_responders",
         "remind_non_responders"],
        ["check_acknowledgements", "check_consumer_acknowledgements", "escalate_consumer_non_responders",
         "escalate_non_responders"],
    ]
    for round_jobs, trade_step, consumer_step in (
            (sent[0], "remind_non_responders", "remind_consumer_non_responders"),
            (sent[1], "remind_non_responders", "remind_consumer_non_responders"),
            (sent[2], "escalate_non_responders", "escalate_consumer_non_responders")):
        assert round_jobs[trade_step]["onlyNonRespondersOf"] == trade
        assert round_jobs[consumer_step]["onlyNonRespondersOf"] == consumers

    # the last round: the retailer has no phone either, so only the consumer is texted
    assert _sent_by(real_engine, run, "escalate_non_responders") == []
    assert _sent_by(real_engine, run, "escalate_consumer_non_responders") == [("CUST-881", "sms", ADA["phone"])]
    reminders = sorted((n.recipient_id, n.channel) for n in notifications(real_engine)
                       if n.campaign_id is not None and n.campaign_id not in (trade, consumers))
    assert reminders == [("CUST-881", "email"), ("CUST-881", "email"), ("CUST-881", "sms")]  # never GLN-D1
    with real_engine.db.reading() as session:
        counts = sorted((c.name.split(" QMS-")[0], c.recipient_count, c.unreachable_count) for c in session.scalars(
            select(Campaign).where(Campaign.instance_id == run.id, Campaign.template == "recall_reminder")))
    assert counts == [
        ("Recall reminder (consumers)", 1, 0),
        ("Recall reminder (consumers)", 1, 0),
        ("Recall reminder (consumers, SMS)", 1, 0),
        ("Recall reminder (trade)", 1, 1),  # GLN-R1 alone, and unreachable by e-mail
        ("Recall reminder (trade)", 1, 1),
        ("Recall reminder (trade, SMS)", 1, 1),
    ]
    assert run.open_task_ids() == ["call_non_responders"]
    run.complete("call_non_responders", {"partnersReached": 1, "stillUnreachable": 0})
    variables = run.variables
    assert (variables["partnersAcknowledged"], variables["consumersAcknowledged"]) == (1, 0)
    assert (variables["consumersReminded"], variables["consumersTexted"]) == (1, 1)
    assert run.row.next_timer_at == clock.now() + timedelta(days=7)  # both follow-ups done: status reports
    assert real_engine.queries.open_incidents(ADMIN) == []



def test_an_acknowledgement_through_a_reminder_link_counts_for_the_notice(real_engine, clock):
    run = _notified(real_engine)
    consumers = run.variables["consumerCampaignId"]
    clock.advance(days=3, seconds=1)
    assert real_engine.timers.fire_due_timers() == [run.id]
    run.run_jobs()
    [reminder] = [n for n in notifications(real_engine, recipient_id="CUST-881") if n.campaign_id != consumers]
    _acknowledge(real_engine, "CUST-881", reminder.campaign_id)  # Ada answers the reminder e-mail
    clock.advance(days=3, seconds=1)
    assert real_engine.timers.fire_due_timers() == [run.id]
    ran = [element for element, *_ in run.run_jobs()]
    assert "remind_consumer_non_responders" not in ran  # she has answered: no second reminder
