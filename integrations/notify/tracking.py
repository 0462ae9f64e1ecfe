"""Delivery tracking: verify provider webhooks, apply their events once, and count a campaign's progress.

Verification is pure (it needs the secret, the request and the clock); applying takes a session and
leaves committing to the caller. Each event is stored under the provider's event id, so a replayed or
retried webhook finds it already there and changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from integrations.notify.acks import (  # noqa: F401  (re-exported: the ack page records through tracking)
    Acknowledgement,
    record_acknowledgement,
    redact_ack_links,
)
from integrations.notify.backends import NOTIFICATION_ARG
from integrations.notify.models import (
    Campaign,
    DeliveryEvent,
    Notification,
    NotificationStatus,
    acknowledged_recipients,
)

FUTURE_SKEW_SECONDS = 60  # clocks differ a little; a timestamp further ahead than this is not SendGrid's
_QUEUED_OR_SENT = (NotificationStatus.QUEUED, NotificationStatus.SENT)
_CHUNK = 500
# provider status → what it means here (None: stored as an event, no change to the notification)
TWILIO_STATUSES: dict[str, str | None] = {
    "accepted": None, "scheduled": None, "queued": None, "sending": "sent", "sent": "sent",
    "delivered": "delivered", "undelivered": "failed", "failed": "failed", "canceled": "failed", "read": "opened",
}
SENDGRID_EVENTS: dict[str, str | None] = {
    "processed": "sent", "delivered": "delivered", "bounce": "bounced", "blocked": "bounced", "dropped": "failed",
    "open": "opened", "click": "clicked", "deferred": None, "spamreport": None, "unsubscribe": None,
    "group_unsubscribe": None, "group_resubscribe": None,
}
TWILIO_FIELDS = ("MessageSid", "MessageStatus", "SmsStatus", "ErrorCode", "ErrorMessage", "To", "From")


class WebhookRejected(Exception):
    """The request is not provably from the provider (signature, timestamp): answer 403, change nothing."""


@dataclass(frozen=True)
class TrackingResult:
    received: int
    applied: int  # events that changed a notification
    duplicates: int  # seen before: ignored
    unmatched: int  # no notification of ours (stored, changes nothing)


def verify_twilio(auth_token: str, url: str, form: Mapping[str, Any], signature: str | None) -> None:
    """Check X-Twilio-Signature over the URL Twilio called and the posted form."""
    if not auth_token:
        raise WebhookRejected("Twilio status callbacks are not configured (TWILIO_AUTH_TOKEN is empty)")
    from twilio.request_validator import RequestValidator  # the SDK loads only when a callback arrives

    if not signature or not RequestValidator(auth_token).validate(url, form, signature):
        raise WebhookRejected("X-Twilio-Signature does not match")


def verify_sendgrid(public_key: str, raw_body: bytes, signature: str | None, timestamp: str | None, *,
                    now: datetime, max_age_seconds: int) -> None:
    """Check SendGrid's ECDSA signature over timestamp + raw body, and that the timestamp is fresh."""
    if not public_key:
        raise WebhookRejected("the SendGrid event webhook is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY is empty)")
    if not signature or not timestamp:
        raise WebhookRejected("the signature or timestamp header is missing")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejected("the timestamp header is not a number") from None
    age = now.timestamp() - sent_at
    if age > max_age_seconds:
        raise WebhookRejected(f"the timestamp is {int(age)} s old (at most {max_age_seconds} s)")
    if age < -FUTURE_SKEW_SECONDS:
        raise WebhookRejected("the timestamp is in the future")
    from sendgrid.helpers.eventwebhook import EventWebhook  # the SDK loads only when an event arrives

    try:
        body = raw_body.decode("utf-8")
        base64.b64decode(signature, validate=True)
        valid = EventWebhook(public_key).verify_signature(body, signature, timestamp)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        valid = False
    if not valid:
        raise WebhookRejected("the event webhook signature does not match")


def apply_transition(notification: Notification, kind: str, at: datetime, *, error_code: str | None = None,
                     error: str | None = None) -> bool:
    """Move a notification forward (queued → sent → delivered / failed / bounced; opened, clicked)."""
    changed = False
    if kind == "sent":
        changed = _set_first(notification, "sent_at", at)
        if notification.status == NotificationStatus.QUEUED:
            notification.status, changed = NotificationStatus.SENT.value, True
    elif kind == "delivered" and notification.status in _QUEUED_OR_SENT:
        notification.status = NotificationStatus.DELIVERED.value
        notification.delivered_at = at
        _set_first(notification, "sent_at", at)
        changed = True
    elif kind in ("failed", "bounced") and notification.status in _QUEUED_OR_SENT:
        notification.status = kind
        notification.failed_at = at
        notification.error_code = error_code or notification.error_code
        notification.error = error or notification.error
        changed = True
    elif kind == "opened":
        changed = _set_first(notification, "opened_at", at)
    elif kind == "clicked":
        changed = _set_first(notification, "clicked_at", at) | _set_first(notification, "opened_at", at)
    return changed


def _set_first(notification: Notification, column: str, at: datetime) -> bool:
    if getattr(notification, column) is not None:
        return False
    setattr(notification, column, at)
    return True


def apply_twilio_status(session: Session, form: Mapping[str, Any], now: datetime) -> TrackingResult:
    """Apply one verified Twilio status callback; the same MessageSid + status twice counts once."""
    sid, status = str(form.get("MessageSid") or ""), str(form.get("MessageStatus") or form.get("SmsStatus") or "")
    if not sid or not status:
        raise ValueError("MessageSid and MessageStatus are required")
    event_id = f"{sid}:{status}"
    if _known_event_ids(session, "twilio", [event_id]):
        return TrackingResult(1, 0, 1, 0)
    notification = session.scalar(select(Notification).where(Notification.provider_message_id == sid)
                                  .with_for_update())
    kind = TWILIO_STATUSES.get(status)
    applied = False
    if notification is not None and kind:
        code = str(form.get("ErrorCode") or "") or None
        applied = apply_transition(notification, kind, now, error_code=f"TWILIO_{code}" if code else None,
                                   error=form.get("ErrorMessage") or (f"Twilio error {code}" if code else None))
        if applied:
            notification.updated_at = now
    payload = {name: str(form[name]) for name in TWILIO_FIELDS if form.get(name)}
    _store_events(session, [dict(provider="twilio", provider_event_id=event_id,
                                 notification_id=notification.id if notification else None,
                                 type=kind or status, at=now, received_at=now, payload=payload)])
    return TrackingResult(1, int(applied), 0, int(notification is None))


def parse_sendgrid_events(raw_body: bytes) -> list[dict[str, Any]]:
    """The Event Webhook body: a JSON array of event objects."""
    events = json.loads(raw_body.decode("utf-8"))
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValueError("the body must be a JSON array of event objects")
    return events


def apply_sendgrid_events(session: Session, events: list[dict[str, Any]], now: datetime) -> TrackingResult:
    """Apply a verified batch of SendGrid events; events seen before (by sg_event_id) are ignored."""
    keyed = [(_sendgrid_event_id(event), event) for event in events]
    seen = _known_event_ids(session, "sendgrid", [key for key, _ in keyed])
    fresh: dict[str, dict[str, Any]] = {}
    for key, event in keyed:
        if key not in seen and key not in fresh:
            fresh[key] = event
    by_id, by_message = _sendgrid_targets(session, fresh.values())
    rows, applied, unmatched = [], 0, 0
    for key, event in fresh.items():
        notification = by_id.get(str(event.get(NOTIFICATION_ARG) or "")) or by_message.get(_message_id(event))
        kind = SENDGRID_EVENTS.get(str(event.get("event") or ""))
        at = _event_time(event, now)
        if notification is None:
            unmatched += 1
        elif kind and apply_transition(notification, kind, at, error_code=_sendgrid_code(event),
                                       error=_sendgrid_reason(event)):
            notification.updated_at = now
            applied += 1
        rows.append(dict(provider="sendgrid", provider_event_id=key,
                         notification_id=notification.id if notification else None,
                         type=kind or str(event.get("event") or "unknown")[:30], at=at, received_at=now,
                         payload=_redacted(event)))
    _store_events(session, rows)
    return TrackingResult(len(events), applied, len(events) - len(fresh), unmatched)


def _sendgrid_event_id(event: dict[str, Any]) -> str:
    if event.get("sg_event_id"):
        return str(event["sg_event_id"])[:200]
    return f"{event.get('sg_message_id')}:{event.get('event')}:{event.get('timestamp')}"[:200]


def _message_id(event: dict[str, Any]) -> str:
    """SendGrid's sg_message_id is the X-Message-Id we stored, followed by '.filter…'."""
    return str(event.get("sg_message_id") or "").split(".")[0]


def _sendgrid_targets(session: Session, events: Iterable[dict[str, Any]]
                      ) -> tuple[dict[str, Notification], dict[str, Notification]]:
    events = list(events)
    ids = {str(e[NOTIFICATION_ARG]) for e in events if e.get(NOTIFICATION_ARG)}
    message_ids = {_message_id(e) for e in events if not e.get(NOTIFICATION_ARG) and _message_id(e)}
    by_id = {n.id: n for n in _load(session, Notification.id, ids)}
    by_message = {n.provider_message_id: n for n in _load(session, Notification.provider_message_id, message_ids)}
    return by_id, by_message


def _load(session: Session, column, values: set[str]) -> list[Notification]:
    values_list, found = sorted(values), []
    for start in range(0, len(values_list), _CHUNK):
        query = select(Notification).where(column.in_(values_list[start:start + _CHUNK])).with_for_update()
        found.extend(session.scalars(query))
    return found


def _known_event_ids(session: Session, provider: str, event_ids: list[str]) -> set[str]:
    known: set[str] = set()
    unique = sorted(set(event_ids))
    for start in range(0, len(unique), _CHUNK):
        known.update(session.scalars(select(DeliveryEvent.provider_event_id).where(
            DeliveryEvent.provider == provider, DeliveryEvent.provider_event_id.in_(unique[start:start + _CHUNK]))))
    return known


def _store_events(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(DeliveryEvent), rows)


def _event_time(event: dict[str, Any], now: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(int(event["timestamp"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return now


def _sendgrid_code(event: dict[str, Any]) -> str | None:
    kind = event.get("event")
    return f"SENDGRID_{str(kind).upper()}" if kind in ("bounce", "blocked", "dropped") else None


def _sendgrid_reason(event: dict[str, Any]) -> str | None:
    reason = event.get("reason") or event.get("response")
    return str(reason)[:2000] if reason else None


def _redacted(event: dict[str, Any]) -> dict[str, Any]:
    """The event as stored: a clicked acknowledgement link loses its token (it works like a password)."""
    if isinstance(event.get("url"), str):
        return {**event, "url": redact_ack_links(event["url"])}
    return event


def campaign_counts(session: Session, campaign_id: str) -> dict[str, int]:
    """Per-recipient progress of a campaign: a recipient counts once, on whichever channel reached them."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id!r} does not exist")

    def reached(column) -> Any:
        return func.max(case((column.is_not(None), 1), else_=0))

    per_recipient = (
        select(
            reached(Notification.sent_at).label("sent"),
            reached(Notification.delivered_at).label("delivered"),
            func.min(case((Notification.status.in_([NotificationStatus.FAILED, NotificationStatus.BOUNCED]), 1),
                          else_=0)).label("failed"),
            func.max(case((Notification.status == NotificationStatus.SENDING, 1), else_=0)).label("in_flight"),
            func.max(case((Notification.status == NotificationStatus.UNKNOWN, 1), else_=0)).label("in_doubt"),
            reached(Notification.opened_at).label("opened"),
            reached(Notification.clicked_at).label("clicked"),
            func.max(case((Notification.recipient_id.in_(acknowledged_recipients(campaign_id)), 1), else_=0))
            .label("acknowledged"),
        )
        .where(Notification.campaign_id == campaign_id)
        .group_by(Notification.recipient_id)
        .subquery()
    )
    names = ("sent", "delivered", "failed", "opened", "clicked", "acknowledged")
    c = per_recipient.c
    not_sent = c.sent == 0
    totals = session.execute(select(
        *[func.coalesce(func.sum(c[name]), 0) for name in names],
        # a recipient not reached yet whose message is with the provider right now, or whose fate a person decides
        func.coalesce(func.sum(case((not_sent & (c.in_flight == 1), 1), else_=0)), 0),
        func.coalesce(func.sum(case((not_sent & (c.in_flight == 0) & (c.in_doubt == 1), 1), else_=0)), 0),
    )).one()
    counts = {name: int(value) for name, value in zip((*names, "sending", "unknown"), totals, strict=True)}
    counts["failed"] += campaign.unreachable_count
    return {"recipients": campaign.recipient_count, **counts, "unreachable": campaign.unreachable_count}


@dataclass(frozen=True)
class CampaignProgress:
    campaign_id: str
    name: str
    created_at: datetime
    counts: dict[str, int]


def case_campaigns(session: Session, instance_id: str) -> list[CampaignProgress]:
    """The campaigns a case sent, oldest first, each with its per-recipient progress as the rows say now."""
    rows = session.execute(select(Campaign.id, Campaign.name, Campaign.created_at)
                           .where(Campaign.instance_id == instance_id).order_by(Campaign.created_at)).all()
    return [CampaignProgress(row.id, row.name, row.created_at, campaign_counts(session, row.id)) for row in rows]
