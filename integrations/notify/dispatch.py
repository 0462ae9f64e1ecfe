"""Store, then send, each message at most once: the notification row is the record of what went out.

A job first writes one row per recipient and channel (keyed by job key + recipient + channel, so a
retry finds them again), then sends only the rows still `queued`. Outcomes are written in batches, and
always before an error leaves the job, so a retry after a 500 or a 429 resends only what was not accepted.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from integrations.notify.acks import ack_token, ack_url
from integrations.notify.backends import Backend, OutgoingMessage, RecipientRejected
from integrations.notify.models import Notification, NotificationStatus
from integrations.notify.templates import TemplateProblem, render
from integrations.registry import BusinessError, IntegrationContext, JobContext, TransientError

log = logging.getLogger(__name__)
BATCH_SIZE = 100  # outcomes written per transaction; bounds what a hard crash could leave unrecorded
_KEY_CHUNK = 500  # keys per IN (…) query


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
class _Pending:
    """A stored notification: the message as written, and its outcome so far."""

    message: OutgoingMessage
    attempts: int
    outcome: Outcome


def notification_key(job: JobContext, recipient_id: str, channel: str) -> str:
    return f"{job.idempotency_key}:{recipient_id}:{channel}"


class Dispatcher:
    """Writes notification rows for a job and sends the ones not yet accepted."""

    def __init__(self, context: IntegrationContext, backend: Backend, batch_size: int = BATCH_SIZE):
        self.context = context
        self.backend = backend
        self.batch_size = batch_size

    def deliver(self, job: JobContext, planned: list[Planned], *, campaign_id: str | None = None,
                ack_message: str | None = None, stop_on_rejection: bool = False) -> list[Outcome]:
        """Store the messages (once), send what is still queued; returns one outcome per planned message."""
        rows = self._store(job, planned, campaign_id, ack_message)
        pending = [row for row in rows if row.outcome.status == NotificationStatus.QUEUED]
        self._send(pending, stop_on_rejection, job.claim_lost)
        return [row.outcome for row in rows]

    def _store(self, job: JobContext, planned: list[Planned], campaign_id: str | None,
               ack_message: str | None) -> list[_Pending]:
        keys = [notification_key(job, p.recipient_id, p.channel) for p in planned]
        with self.context.sessions() as session, session.begin():
            existing = self._existing(session, keys)
            now = self.context.now()
            new_rows = []
            for key, plan in zip(keys, planned, strict=True):
                if key not in existing:
                    new_rows.append(self._new_row(job, key, plan, campaign_id, ack_message, now))
            if new_rows:
                session.execute(insert(Notification), new_rows)
                existing.update(self._existing(session, [row["idempotency_key"] for row in new_rows]))
        return [existing[key] for key in keys]

    def _existing(self, session, keys: list[str]) -> dict[str, _Pending]:
        found: dict[str, _Pending] = {}
        columns = (Notification.idempotency_key, Notification.id, Notification.recipient_id, Notification.channel,
                   Notification.address, Notification.recipient_name, Notification.subject, Notification.body,
                   Notification.html, Notification.status, Notification.provider_message_id,
                   Notification.error_code, Notification.error, Notification.send_attempts)
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[start:start + _KEY_CHUNK]
            for row in session.execute(select(*columns).where(Notification.idempotency_key.in_(chunk))):
                message = OutgoingMessage(row.id, row.channel, row.address, row.recipient_name, row.subject,
                                          row.body, row.html)
                outcome = Outcome(row.id, row.recipient_id, row.channel, row.status, row.provider_message_id,
                                  row.error_code, row.error)
                found[row.idempotency_key] = _Pending(message, row.send_attempts or 0, outcome)
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

    def _send(self, pending: list[_Pending], stop_on_rejection: bool, claim_lost: threading.Event) -> None:
        changes: list[dict[str, Any]] = []
        try:
            for item in pending:
                if claim_lost.is_set():  # another worker may be sending the rest now: stop, never send twice
                    raise TransientError("the job was handed to another worker while it was sending")
                changes.append(self._send_one(item))
                if item.outcome.status == NotificationStatus.FAILED and stop_on_rejection:
                    break
                if len(changes) >= self.batch_size:
                    self._write(changes)
                    changes = []
        finally:
            self._write(changes)

    def _send_one(self, item: _Pending) -> dict[str, Any]:
        """Send one message; its change is queued for writing before any error leaves this method."""
        message, outcome = item.message, item.outcome
        attempts = item.attempts + 1
        try:
            receipt = self.backend.send(message)
        except RecipientRejected as exc:
            now = self.context.now()
            outcome.status, outcome.error_code, outcome.error = NotificationStatus.FAILED.value, exc.code, exc.message
            log.info("notification %s refused by the provider: %s", message.notification_id, exc.code)
            return {"id": message.notification_id, "status": outcome.status, "error_code": exc.code,
                    "error": exc.message, "failed_at": now, "updated_at": now, "send_attempts": attempts}
        except Exception as exc:
            self._pending_error(message.notification_id, attempts, f"{type(exc).__name__}: {exc}")
            raise
        now = self.context.now()
        outcome.status, outcome.provider_message_id = NotificationStatus.SENT.value, receipt.message_id
        return {"id": message.notification_id, "status": outcome.status, "provider": receipt.provider,
                "provider_message_id": receipt.message_id, "sent_at": now, "updated_at": now,
                "send_attempts": attempts, "error_code": None, "error": None}

    def _pending_error(self, notification_id: str, attempts: int, error: str) -> None:
        """Note a failed attempt on a still-queued row, so the outbox page shows why it waits."""
        now = self.context.now()
        self._write([{"id": notification_id, "error": error[:2000], "send_attempts": attempts, "updated_at": now}])

    def _write(self, changes: list[dict[str, Any]]) -> None:
        if not changes:
            return
        with self.context.sessions() as session, session.begin():
            # ORM bulk UPDATE by primary key: one executemany per set of changed columns
            by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
            for change in changes:
                by_columns.setdefault(frozenset(change), []).append(change)
            for group in by_columns.values():
                session.execute(update(Notification), group)
