"""The notify.* connectors: one SMS, one e-mail, a campaign to many recipients, and a campaign's counts.

Input is checked here (a modelling mistake becomes E_INVALID_INPUT, which a boundary event can catch);
storing and sending is the dispatcher's job, so every connector gets the never-twice guarantee.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from integrations.notify.acks import DEFAULT_ACK_MESSAGE
from integrations.notify.backends import INVALID_RECIPIENT, Backend
from integrations.notify.dispatch import Dispatcher, Outcome, Planned
from integrations.notify.models import Campaign, Channel, NotificationStatus, acknowledged_recipients
from integrations.notify.templates import TemplateProblem, check_kind
from integrations.notify.tracking import campaign_counts
from integrations.registry import BusinessError, IntegrationContext, JobContext

PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164, as Twilio wants it
EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
MAX_RECIPIENTS = 50_000


def _invalid(topic: str, problems: list[str]) -> BusinessError:
    return BusinessError("E_INVALID_INPUT", f"{topic}: " + "; ".join(problems))


def _text(value: Any, limit: int = 200) -> str:
    return "" if value is None else str(value).strip()[:limit]


def _template(topic: str, variables: dict[str, Any]) -> str:
    template = variables.get("template")
    try:
        check_kind(template)
    except TemplateProblem as exc:
        raise _invalid(topic, [str(exc)]) from None
    return template


def _values(topic: str, value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(topic, [f"{name} must be an object"])
    return value


def _ack_message(context: IntegrationContext, value: Any) -> str | None:
    """`ackMessage`: true (→ RecallAcknowledged) or the message name the answer is correlated as."""
    if value in (None, False, "", "false"):
        return None
    if not context.settings.notify.ack_secret:
        raise BusinessError("E_NOTIFY_CONFIG", "acknowledgement links need LOOPLINE_ACK_SECRET")
    return DEFAULT_ACK_MESSAGE if value in (True, "true") else _text(value)


def address_problem(channel: str, address: str) -> str | None:
    """Why the address cannot work on the channel, or None."""
    if channel == Channel.SMS and not PHONE.match(address):
        return "not a phone number in E.164 form (+<country><number>)"
    if channel == Channel.EMAIL and not EMAIL.match(address):
        return "not an e-mail address"
    return None


class SingleMessageConnector:
    """notify.sms / notify.email: one templated message to one recipient."""

    channel: str

    def __init__(self, context: IntegrationContext, dispatcher: Dispatcher):
        self.context = context
        self.dispatcher = dispatcher
        self.timeout = context.settings.notify.timeout

    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        """Send (once) and return the notification's id, status and provider message id."""
        template = _template(self.topic, variables)
        to = _text(variables.get("to"), 320)
        if not to:
            raise _invalid(self.topic, ["to is required"])
        plan = Planned(
            recipient_id=_text(variables.get("recipientId")) or to, recipient_name=_text(variables.get("name")),
            channel=self.channel, address=to, template=template, language=_text(variables.get("language"), 10) or None,
            variables=_values(self.topic, variables.get("variables"), "variables"),
            rejected=address_problem(self.channel, to))
        ack = _ack_message(self.context, variables.get("ackMessage"))
        (outcome,) = self.dispatcher.deliver(context, [plan], ack_message=ack, stop_on_rejection=True)
        if outcome.status == NotificationStatus.FAILED:
            raise BusinessError(outcome.error_code or INVALID_RECIPIENT, outcome.error or "the recipient was refused",
                                {"notificationId": outcome.notification_id})
        return {"notificationId": outcome.notification_id, "channel": self.channel, "status": outcome.status,
                "providerMessageId": outcome.provider_message_id}


class SmsConnector(SingleMessageConnector):
    topic, system, channel = "notify.sms", "sms", Channel.SMS.value


class EmailConnector(SingleMessageConnector):
    topic, system, channel = "notify.email", "email", Channel.EMAIL.value


@dataclass(frozen=True)
class CampaignPlan:
    name: str
    template: str
    language: str
    ack_message: str | None
    planned: list[Planned]
    recipients: int
    unreachable: int


class CampaignConnector:
    """notify.campaign: one notice to many recipients on each channel they have; counts come back."""

    topic, system = "notify.campaign", "campaign"

    def __init__(self, context: IntegrationContext, dispatcher: Dispatcher):
        self.context = context
        self.dispatcher = dispatcher
        self.timeout = context.settings.notify.campaign_timeout  # its job's lease is never shorter

    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        """Create (or find) the campaign, send what is still unsent, return its per-recipient counts."""
        follows = variables.get("onlyNonRespondersOf")
        plan = self.plan(variables, self._responded(follows))
        campaign_id = self._campaign(plan, context, str(follows) if follows else None)
        outcomes = self.dispatcher.deliver(context, plan.planned, campaign_id=campaign_id, ack_message=plan.ack_message,
                                           concurrency=self.context.settings.notify.concurrency)
        with self.context.sessions() as session:
            counts = campaign_counts(session, campaign_id)
        return {"campaignId": campaign_id, "recipients": counts["recipients"], "sent": counts["sent"],
                "failed": counts["failed"], "unreachable": counts["unreachable"], **_message_counts(outcomes)}

    def _responded(self, campaign_id: Any) -> frozenset[str]:
        """Recipients who acknowledged `campaign_id` or one of its reminders (a reminder goes to the others)."""
        if not campaign_id:
            return frozenset()
        with self.context.sessions() as session:
            if session.get(Campaign, str(campaign_id)) is None:
                raise BusinessError("E_UNKNOWN_CAMPAIGN", f"onlyNonRespondersOf: campaign {campaign_id!r} does not exist")
            return frozenset(session.scalars(acknowledged_recipients(str(campaign_id))))

    def plan(self, variables: dict[str, Any], responded: frozenset[str] = frozenset()) -> CampaignPlan:
        """Check the input and list one message per recipient and channel; `responded` are left out."""
        topic, problems = self.topic, []
        name = _text(variables.get("campaign"))
        template = _template(topic, variables)
        language = _text(variables.get("language"), 10) or "en"
        shared = _values(topic, variables.get("variables"), "variables")
        channels = variables.get("channels") or [Channel.EMAIL.value, Channel.SMS.value]
        recipients = variables.get("recipients")
        if not name:
            problems.append("campaign (its name) is required")
        if not isinstance(channels, list) or not set(channels) <= {c.value for c in Channel}:
            problems.append("channels must be a list of email and/or sms")
        if not isinstance(recipients, list) or not recipients:
            problems.append("recipients must be a non-empty list")
        elif len(recipients) > MAX_RECIPIENTS:
            problems.append(f"at most {MAX_RECIPIENTS} recipients per campaign job")
        if problems:
            raise _invalid(topic, problems)
        recipients = [r for r in recipients if not (isinstance(r, dict) and _text(r.get("id")) in responded)]
        if not recipients:
            raise BusinessError("E_NO_RECIPIENTS", f"{topic}: every recipient has already responded")
        planned, seen, unreachable = [], set(), 0
        for index, recipient in enumerate(recipients):
            if not isinstance(recipient, dict) or not _text(recipient.get("id")):
                problems.append(f"recipients[{index}] needs an id")
                continue
            recipient_id = _text(recipient["id"])
            if recipient_id in seen:
                problems.append(f"recipient id {recipient_id!r} appears twice")
            seen.add(recipient_id)
            values = {**shared, **_values(topic, recipient.get("variables"), f"recipients[{index}].variables")}
            addresses = {Channel.EMAIL.value: _text(recipient.get("email"), 320),
                         Channel.SMS.value: _text(recipient.get("phone"), 32)}
            usable = [c for c in channels if addresses[c]]
            if not usable:
                unreachable += 1
            for channel in usable:
                planned.append(Planned(recipient_id, _text(recipient.get("name")), channel, addresses[channel], template,
                                       _text(recipient.get("language"), 10) or language, values,
                                       rejected=address_problem(channel, addresses[channel])))
        if problems:
            raise _invalid(topic, problems[:20])
        return CampaignPlan(name, template, language, _ack_message(self.context, variables.get("ackMessage")),
                            planned, len(recipients), unreachable)

    def _campaign(self, plan: CampaignPlan, job: JobContext, follows: str | None) -> str:
        """The job's campaign: created by the first attempt, found again by every retry."""
        query = select(Campaign.id).where(Campaign.idempotency_key == job.idempotency_key)
        for _ in range(2):
            with self.context.sessions() as session:
                try:
                    with session.begin():
                        existing = session.scalar(query)
                        if existing is not None:
                            return existing
                        campaign = Campaign(
                            id=uuid.uuid4().hex, idempotency_key=job.idempotency_key, name=plan.name,
                            template=plan.template, language=plan.language, ack_message=plan.ack_message,
                            follows_campaign_id=_notice_of(session, follows),
                            recipient_count=plan.recipients, unreachable_count=plan.unreachable,
                            instance_id=job.instance_id, business_key=job.business_key, created_at=self.context.now())
                        session.add(campaign)
                    return campaign.id
                except IntegrityError:
                    continue  # another attempt created it meanwhile: read it back
        with self.context.sessions() as session:
            return session.scalar(query)


def _notice_of(session, campaign_id: str | None) -> str | None:
    """The original notice a reminder follows (a reminder of a reminder follows the same notice)."""
    if campaign_id is None:
        return None
    campaign = session.get(Campaign, campaign_id)
    return (campaign.follows_campaign_id or campaign.id) if campaign is not None else None


def _message_counts(outcomes: list[Outcome]) -> dict[str, int]:
    failed = sum(1 for o in outcomes if o.status in (NotificationStatus.FAILED, NotificationStatus.BOUNCED))
    return {"messagesSent": len(outcomes) - failed, "messagesFailed": failed}


class CampaignStatusConnector:
    """notify.campaign_status: a campaign's counts for the process (status reports, reminders)."""

    topic, system, timeout = "notify.campaign_status", None, 30.0

    def __init__(self, context: IntegrationContext):
        self.context = context

    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        """Return {campaignStatus: {recipients, sent, delivered, failed, opened, clicked, acknowledged, …}}."""
        campaign_id = _text(variables.get("campaignId"), 32)
        with self.context.sessions() as session:
            try:
                counts = campaign_counts(session, campaign_id)
            except LookupError:
                raise BusinessError("E_UNKNOWN_CAMPAIGN", f"campaign {campaign_id!r} does not exist") from None
        return {"campaignStatus": {"campaignId": campaign_id, **counts}}


def build_connectors(context: IntegrationContext, backend: Backend) -> list[Any]:
    dispatcher = Dispatcher(context, backend)
    return [SmsConnector(context, dispatcher), EmailConnector(context, dispatcher),
            CampaignConnector(context, dispatcher), CampaignStatusConnector(context)]
