"""Tables of notifications: one row per recipient per message, campaigns, and the delivery events seen."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from integrations.db import IntegrationsBase, UTCDateTime


class NotificationStatus(enum.StrEnum):
    QUEUED = "queued"  # stored, not yet handed to a provider
    # claimed by one sender and handed to the provider, answer not yet stored: never sent again unless the
    # provider, asked later, has no record of it
    SENDING = "sending"
    # the answer was lost and the provider could not be asked: a person decides (sent, or send again)
    UNKNOWN = "unknown"
    SENT = "sent"  # accepted by the provider (or stored by the outbox)
    DELIVERED = "delivered"
    FAILED = "failed"  # refused by the provider or undeliverable
    BOUNCED = "bounced"  # e-mail the receiving server refused



class Channel(enum.StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Campaign(IntegrationsBase):
    """One message to many recipients (a recall notice); the job's key makes a retried job reuse it."""

    __tablename__ = "notification_campaign"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(10))
    ack_message: Mapped[str | None] = mapped_column(String(200))
    # a reminder follows the notice it reminds of (onlyNonRespondersOf): an answer to either counts for both
    follows_campaign_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # recipients as given, and those of them with no usable address (they get no notification row)
    recipient_count: Mapped[int] = mapped_column(Integer)
    unreachable_count: Mapped[int] = mapped_column(Integer, default=0)
    instance_id: Mapped[str | None] = mapped_column(String(64), index=True)
    business_key: Mapped[str | None] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(IntegrationsBase):
    """One message to one recipient on one channel, with what was sent and what became of it."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_campaign_recipient", "campaign_id", "recipient_id"),
                      Index("ix_notification_campaign_status", "campaign_id", "status"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # job key + recipient id + channel: the same job never creates (or sends) it twice
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("notification_campaign.id"))
    instance_id: Mapped[str | None] = mapped_column(String(64), index=True)
    business_key: Mapped[str | None] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    recipient_id: Mapped[str] = mapped_column(String(200))
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(10))
    template: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    send_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # who holds the message while it is `sending` (job id:attempt) and since when: only that sender calls the
    # provider; after the provider's answer could have come, anyone may ask the provider what became of it
    claim_token: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error_code: Mapped[str | None] = mapped_column(String(60))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the message name an acknowledgement is correlated as; None: the message carries no ack link
    ack_message: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_remedy: Mapped[str | None] = mapped_column(String(20))
    ack_quantity: Mapped[int | None] = mapped_column(Integer)
    # when the acknowledgement reached the process (or nothing was waiting): a failed hand-over is retried
    ack_forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeliveryEvent(IntegrationsBase):
    """A provider's webhook event as received; its unique id makes a replayed event change nothing."""

    __tablename__ = "notification_delivery_event"
    __table_args__ = (UniqueConstraint("provider", "provider_event_id", name="uq_notification_delivery_event"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    # SendGrid's sg_event_id; Twilio sends none, so MessageSid:MessageStatus stands in for it
    provider_event_id: Mapped[str] = mapped_column(String(200))
    notification_id: Mapped[str | None] = mapped_column(ForeignKey("notification.id"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


def campaign_family(campaign_id: str):
    """The campaign and the reminders that follow it: an acknowledgement to any of them answers the notice."""
    return select(Campaign.id).where(or_(Campaign.id == campaign_id, Campaign.follows_campaign_id == campaign_id))


def acknowledged_recipients(campaign_id: str):
    """SELECT of the recipients who acknowledged the campaign or one of its reminders."""
    return select(Notification.recipient_id).where(Notification.campaign_id.in_(campaign_family(campaign_id)),
                                                   Notification.acknowledged_at.is_not(None))
