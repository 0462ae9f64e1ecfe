"""Acknowledgement links: a signed, expiring token per notification, and recording the recipient's answer.

The token carries only the notification id; the signature (itsdangerous, keyed by the ack secret) makes
it unforgeable, and its timestamp is checked against the injected clock so expiry can be tested.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.config import NotifySettings
from integrations.notify.models import Campaign, Notification, campaign_family

ACK_SALT = "loopline.notify.ack"
REMEDIES = ("repair", "replace", "refund")
MAX_QUANTITY = 1_000_000
DEFAULT_ACK_MESSAGE = "RecallAcknowledged"
_ACK_PATH = re.compile(r"/ack/[A-Za-z0-9_.\-]+")


class AckLinkInvalid(Exception):
    """The link was altered, signed with another secret, or names no notification."""


class AckLinkExpired(AckLinkInvalid):
    """The link was genuine but is older than `ack_ttl_days`."""


class AckInputInvalid(ValueError):
    """The form's answer is not acceptable; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class _ClockSigner(TimestampSigner):
    """A timestamp signer reading the injected clock instead of time.time()."""

    def __init__(self, *args: Any, clock: Callable[[], datetime], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())


def _serializer(settings: NotifySettings, now: Callable[[], datetime]) -> URLSafeTimedSerializer:
    if not settings.ack_secret:
        raise AckLinkInvalid("acknowledgement links are not configured (LOOPLINE_ACK_SECRET is empty)")
    return URLSafeTimedSerializer(settings.ack_secret, salt=ACK_SALT, signer=_ClockSigner,
                                  signer_kwargs={"clock": now})


def ack_token(settings: NotifySettings, notification_id: str, now: Callable[[], datetime]) -> str:
    """Sign a token for one notification."""
    return _serializer(settings, now).dumps({"n": notification_id})


def ack_url(settings: NotifySettings, token: str) -> str:
    return f"{settings.ack_base_url.rstrip('/')}/ack/{token}"


def redact_ack_links(text: str) -> str:
    """The text with every acknowledgement link's token replaced: a link answers for its recipient, like a password."""
    return _ACK_PATH.sub("/ack/[token]", text)


def notification_id_of(settings: NotifySettings, token: str, now: Callable[[], datetime]) -> str:
    """The notification a token names; AckLinkExpired / AckLinkInvalid otherwise."""
    try:
        payload = _serializer(settings, now).loads(token, max_age=settings.ack_ttl_days * 86400)
    except SignatureExpired:
        raise AckLinkExpired("this acknowledgement link has expired") from None
    except BadSignature:
        raise AckLinkInvalid("this acknowledgement link is not valid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("n"), str):
        raise AckLinkInvalid("this acknowledgement link is not valid")
    return payload["n"]


@dataclass(frozen=True)
class Acknowledgement:
    """What the process needs to hear about an acknowledgement, and whether it was the recipient's first."""

    notification_id: str
    campaign_id: str | None
    campaign_name: str | None
    instance_id: str | None
    business_key: str | None
    recipient_id: str
    recipient_name: str
    message_name: str
    remedy: str | None
    quantity: int | None
    acknowledged_at: datetime | None
    language: str | None = None  # the language the notice was written in: the page answers in it
    first: bool = False  # this call recorded it (False: it was already recorded, nothing changed)
    forwarded: bool = False  # the process has been told (or nothing was waiting)

    def message_variables(self) -> dict[str, Any]:
        return {"recipientId": self.recipient_id, "remedy": self.remedy, "quantityOnHand": self.quantity,
                "campaignId": self.campaign_id, "recipientLanguage": self.language}


def check_answer(remedy: Any, quantity: Any) -> tuple[str, int]:
    """A remedy of REMEDIES and a whole, non-negative quantity on hand."""
    errors = {}
    remedy = str(remedy or "").strip().lower()
    if remedy not in REMEDIES:
        errors["remedy"] = f"choose one of {', '.join(REMEDIES)}"
    try:
        count = int(str(quantity).strip())
        if not 0 <= count <= MAX_QUANTITY:
            raise ValueError
    except (TypeError, ValueError):
        errors["quantity"] = f"enter a whole number from 0 to {MAX_QUANTITY}"
        count = 0
    if errors:
        raise AckInputInvalid(errors)
    return remedy, count


def lookup_acknowledgement(session: Session, token: str, *, settings: NotifySettings,
                           now: Callable[[], datetime]) -> Acknowledgement:
    """What the ack page shows for a link: the recipient, and the answer if one is already recorded."""
    notification = _notification(session, notification_id_of(settings, token, now), lock=False)
    return _describe(session, notification, _recorded(session, notification, lock=False))


def record_acknowledgement(session: Session, token: str, remedy: Any, quantity: Any, *,
                           settings: NotifySettings, now: Callable[[], datetime]) -> Acknowledgement:
    """Store the recipient's answer once; a second answer from the same recipient changes nothing."""
    notification = _notification(session, notification_id_of(settings, token, now), lock=True)
    recorded = _recorded(session, notification, lock=True)
    if recorded is not None:
        return _describe(session, notification, recorded)
    remedy, quantity = check_answer(remedy, quantity)
    notification.acknowledged_at = now()
    notification.ack_remedy = remedy
    notification.ack_quantity = quantity
    notification.updated_at = notification.acknowledged_at
    return _describe(session, notification, notification, first=True)


def mark_forwarded(session: Session, notification_id: str, when: datetime) -> None:
    """Remember that the process heard about the acknowledgement, so a second answer does not tell it again."""
    notification = session.get(Notification, notification_id, with_for_update=True)
    if notification is not None and notification.ack_forwarded_at is None:
        notification.ack_forwarded_at = when


def _notification(session: Session, notification_id: str, *, lock: bool) -> Notification:
    notification = session.get(Notification, notification_id, with_for_update=lock)
    if notification is None or notification.ack_message is None:
        raise AckLinkInvalid("this acknowledgement link is not valid")
    return notification


def _recorded(session: Session, notification: Notification, *, lock: bool) -> Notification | None:
    """The recipient's recorded acknowledgement: one per recipient, whichever channel, notice or reminder."""
    if notification.campaign_id is None:
        return notification if notification.acknowledged_at is not None else None
    campaign = session.get(Campaign, notification.campaign_id)
    notice = campaign.follows_campaign_id or campaign.id  # a reminder's answer is the notice's answer
    query = (select(Notification)
             .where(Notification.campaign_id.in_(campaign_family(notice)),
                    Notification.recipient_id == notification.recipient_id)
             .order_by(Notification.id))
    siblings = list(session.scalars(query.with_for_update() if lock else query))
    return next((n for n in siblings if n.acknowledged_at is not None), None)


def _describe(session: Session, notification: Notification, recorded: Notification | None, *,
              first: bool = False) -> Acknowledgement:
    campaign = session.get(Campaign, notification.campaign_id) if notification.campaign_id else None
    source = recorded or notification
    return Acknowledgement(
        notification_id=source.id, campaign_id=notification.campaign_id,
        campaign_name=campaign.name if campaign else None, instance_id=notification.instance_id,
        business_key=notification.business_key, recipient_id=notification.recipient_id,
        recipient_name=notification.recipient_name, message_name=notification.ack_message or DEFAULT_ACK_MESSAGE,
        remedy=source.ack_remedy if recorded else None, quantity=source.ack_quantity if recorded else None,
        acknowledged_at=source.acknowledged_at if recorded else None, language=notification.language,
        first=first,
        forwarded=bool(recorded and recorded.ack_forwarded_at is not None and not first),
    )
