"""A person's decision on a message whose fate nobody can tell (`unknown`): it went out, or send it again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from integrations.notify.models import Notification, NotificationStatus


class NotUndecided(Exception):
    """The message is not (or no longer) waiting for a person's decision."""


def decide(session: Session, notification_id: str, *, went_out: bool, by: str, now: datetime) -> None:
    """`went_out`: the person confirmed the message reached the recipient (counted as sent, never resent);
    otherwise it goes back to the queue, and the job's retry sends it. Only an `unknown` row changes."""
    note = f"{'confirmed sent' if went_out else 'sent again'} by {by}"
    values = ({"status": NotificationStatus.SENT.value, "sent_at": now} if went_out
              else {"status": NotificationStatus.QUEUED.value, "claim_token": None, "claimed_at": None})
    changed = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.UNKNOWN.value)
        .values(**values, error=note, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise NotUndecided(f"notification {notification_id} is not waiting for a decision")
