"""Store, then send, each message at most once: the notification row is the record of what went out.

A job first writes one row per recipient and channel (keyed by job key + recipient + channel, so a retry finds
them again). Each row is then claimed on its own (`queued` → `sending`, committed) before the provider is
called, so no second sender can take it; the provider's answer is written in batches. A row left `sending`
(its sender died, or the answer was lost on the way) is never sent blindly again: once the answer could
have come, the provider is asked whether it took the message; if the provider cannot say, a person decides.
A campaign sends on several connections at once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from integrations.notify.acks import ack_token, ack_url
from integrations.notify.backends import AnswerLost, Backend, OutgoingMessage
from integrations.notify.models import Notification, NotificationStatus
from integrations.notify.sending import Sender, Settler
from integrations.notify.templates import TemplateProblem, render
from integrations.registry import BusinessError, IntegrationContext, JobContext, NeedsDecision, RetryLater

log = logging.getLogger(__name__)
BATCH_SIZE = 100  # outcomes written per transaction; bounds what a hard crash could leave unrecorded
_KEY_CHUNK = 500  # keys per IN (…) query
STORE_CHUNK = 1000  # messages stored per transaction
MIN_RETRY_SECONDS = 1.0  # a message waiting for the provider is asked about no more often than this


@dataclass(frozen=True)
class Planned:
    """One message to write: who, on which channel, with which template and values."""

    recipient_id: str
    recipient_name: str
    channel: str
    address: str
    template: str
    language: str | None
    variables: dict[str, Any]
    rejected: str | None = None  # a reason known before sending (an address that cannot work)


@dataclass
class Outcome:
    """What became of one planned message (as stored; a retried job reads it back)."""

    notification_id: str
    recipient_id: str
    channel: str
    status: str
    provider_message_id: str | None = None
    error_code: str | None = None
    error: str | None = None


@dataclass
class Pending:
    """A stored notification: the message as written, its outcome so far and, while `sending`, its claim."""

    message: OutgoingMessage
    outcome: Outcome
    claim_token: str | None = None
    claimed_at: datetime | None = None


def _pending(row: dict[str, Any]) -> Pending:
    """A row just written, as the sender needs it."""
    message = OutgoingMessage(row["id"], row["channel"], row["address"], row["recipient_name"], row["subject"],
                              row["body"], row["html"])
    return Pending(message, Outcome(row["id"], row["recipient_id"], row["channel"], row["status"], None,
                                    row["error_code"], row["error"]))


def notification_key(job: JobContext, recipient_id: str, channel: str) -> str:
    return f"{job.idempotency_key}:{recipient_id}:{channel}"


def claim_token(job: JobContext) -> str:
    """Who holds a message while it is sent: this job and attempt (a worker that lost the job stops)."""
    return f"job:{job.job_id}:{job.attempt}"


class Dispatcher:
    """Writes notification rows for a job and sends the ones not yet accepted."""

    def __init__(self, context: IntegrationContext, backend: Backend, batch_size: int = BATCH_SIZE):
        self.context = context
        self.backend = backend
        self.batch_size = batch_size

    def deliver(self, job: JobContext, planned: list[Planned], *, campaign_id: str | None = None,
                ack_message: str | None = None, stop_on_rejection: bool = False,
                concurrency: int = 1) -> list[Outcome]:
        """Store the messages (once), settle what an earlier attempt left `sending`, send what is queued;
        returns one outcome per planned message. Raises RetryLater while a message's fate cannot be known yet
        and NeedsDecision when only a person can tell it."""
        rows = self._store(job, planned, campaign_id, ack_message)
        settler = Settler(self.context, self.backend)
        settler.settle([row for row in rows if row.outcome.status == NotificationStatus.SENDING])
        queued = [row for row in rows if row.outcome.status == NotificationStatus.QUEUED]
        try:
            Sender(self.context, self.backend, self.batch_size).send(
                queued, claim_token(job), job.claim_lost, concurrency=concurrency,
                stop_on_rejection=stop_on_rejection)
        except AnswerLost:
            pass  # that message waits below until the provider can be asked about it
        waiting = [row for row in rows if row.outcome.status == NotificationStatus.SENDING]
        if waiting:
            after = min(settler.due(row) for row in waiting) - self.context.now()
            raise RetryLater(f"{len(waiting)} message(s) handed to the provider without an answer: asking the "
                             "provider about them once its records can show them",
                             max(after.total_seconds(), MIN_RETRY_SECONDS))
        unknown = [row for row in rows if row.outcome.status == NotificationStatus.UNKNOWN]
        if unknown:
            raise NeedsDecision(f"{len(unknown)} message(s) may or may not have gone out and the provider cannot "
                                "say: mark each as sent or send it again in the outbox, then retry")
        return [row.outcome for row in rows]

    def _store(self, job: JobContext, planned: list[Planned], campaign_id: str | None,
               ack_message: str | None) -> list[Pending]:
        """The rows of the planned messages, written where missing: a chunk per transaction, so a sender that
        dies while storing a large campaign leaves what it stored for the next attempt."""
        keys = [notification_key(job, p.recipient_id, p.channel) for p in planned]
        stored: dict[str, Pending] = {}
        for start in range(0, len(keys), STORE_CHUNK):
            chunk = list(zip(keys[start:start + STORE_CHUNK], planned[start:start + STORE_CHUNK], strict=True))
            with self.context.sessions() as session, session.begin():
                existing = self._existing(session, [key for key, _ in chunk])
                now = self.context.now()
                new_rows = [self._new_row(job, key, plan, campaign_id, ack_message, now)
                            for key, plan in chunk if key not in existing]
                if new_rows:
                    session.execute(insert(Notification), new_rows)
            stored.update(existing)
            stored.update((row["idempotency_key"], _pending(row)) for row in new_rows)
        return [stored[key] for key in keys]

    def _existing(self, session, keys: list[str]) -> dict[str, Pending]:
        found: dict[str, Pending] = {}
        columns = (Notification.idempotency_key, Notification.id, Notification.recipient_id, Notification.channel,
                   Notification.address, Notification.recipient_name, Notification.subject, Notification.body,
                   Notification.html, Notification.status, Notification.provider_message_id,
                   Notification.error_code, Notification.error, Notification.claim_token, Notification.claimed_at)
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[start:start + _KEY_CHUNK]
            for row in session.execute(select(*columns).where(Notification.idempotency_key.in_(chunk))):
                message = OutgoingMessage(row.id, row.channel, row.address, row.recipient_name, row.subject,
                                          row.body, row.html)
                outcome = Outcome(row.id, row.recipient_id, row.channel, row.status, row.provider_message_id,
                                  row.error_code, row.error)
                found[row.idempotency_key] = Pending(message, outcome, row.claim_token, row.claimed_at)
        return found

    def _new_row(self, job: JobContext, key: str, plan: Planned, campaign_id: str | None,
                 ack_message: str | None, now) -> dict[str, Any]:
        notification_id = uuid.uuid4().hex
        variables = {**plan.variables, "recipientId": plan.recipient_id}
        if plan.recipient_name:
            variables["name"] = plan.recipient_name
        if ack_message:
            token = ack_token(self.context.settings.notify, notification_id, self.context.now)
            variables["ackUrl"] = ack_url(self.context.settings.notify, token)
        try:
            rendered = render(plan.template, plan.language, plan.channel, variables)
        except TemplateProblem as exc:
            raise BusinessError("E_INVALID_INPUT", str(exc)) from None
        row = {
            "id": notification_id, "idempotency_key": key, "campaign_id": campaign_id,
            "instance_id": job.instance_id, "business_key": job.business_key, "channel": plan.channel,
            "recipient_id": plan.recipient_id, "recipient_name": plan.recipient_name, "address": plan.address,
            "language": rendered.language, "template": plan.template, "subject": rendered.subject,
            "body": rendered.text, "html": rendered.html, "status": NotificationStatus.QUEUED.value,
            "send_attempts": 0, "ack_message": ack_message, "created_at": now, "updated_at": now,
            "provider": None, "provider_message_id": None, "error_code": None, "error": None, "failed_at": None,
        }
        if plan.rejected:
            row.update(status=NotificationStatus.FAILED.value, error_code="E_INVALID_RECIPIENT",
                       error=plan.rejected, failed_at=now)
        return row

