"""bpmn/recall.bpmn on the built-in connectors: the scope comes from recorded trace events and the
notices go out through the real notify.campaign (outbox backend), so the shapes the script task reads
are the ones the real connectors return — not a stub's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from integrations.config import IntegrationSettings, NotifySettings
from integrations.db import IntegrationsBase
from integrations.notify.models import Campaign
from integrations.traceability.models import TraceEvent
from tests.integrations.helpers import notifications
from tests.processes.driver import Run, deploy_models
from tests.processes.test_recall import SIGNAL, evaluate_hazard, strategy

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
    assert real_engine.open_incidents() == []

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
    campaigns = {element: (topic, job_input, outcome)
                 for element, topic, job_input, outcome in run.run_jobs("notify_partners", "notify_consumers")}
    assert {element: (topic, outcome) for element, (topic, _, outcome) in campaigns.items()} == {
        "notify_partners": ("notify.campaign", "completed"),
        "notify_consumers": ("notify.campaign", "completed"),
    }
    assert campaigns["notify_partners"][1]["recipients"] == variables["partnerRecipients"]
    assert campaigns["notify_consumers"][1]["recipients"] == variables["consumerRecipients"]

    sent = sorted((n.recipient_id, n.channel, n.address, n.status) for n in notifications(real_engine))
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
    assert real_engine.open_incidents() == []
