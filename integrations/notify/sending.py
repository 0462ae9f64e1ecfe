"""Sending stored notifications: each claimed on its own before the provider call, answers written in batches;
and settling the ones an earlier sender left `sending`, by asking the provider what became of them.

A claim is a committed `queued` → `sending` change guarded by the status, so exactly one sender ever calls the
provider for a row. A row stays `sending` until its answer is written; if the sender dies or the answer is
lost, only the provider can tell whether the message went out, and it is asked once its answer could have
come (`timeout`) and its records can show the message (`lookup_delay`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update

from integrations.notify.backends import AnswerLost, Backend, LookupUnavailable, Receipt, RecipientRejected
from integrations.notify.models import Notification, NotificationStatus
from integrations.registry import BusinessError, IntegrationContext, TransientError

if TYPE_CHECKING:
    from integrations.notify.dispatch import Pending

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5  # answers wait at most this long to be written, so progress on the case page keeps up
_TABLE = Notification.__table__
_CLAIM = (update(_TABLE)
          .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.status == NotificationStatus.QUEUED.value)
          .values(status=NotificationStatus.SENDING.value, claim_token=bindparam("token"),
                  claimed_at=bindparam("now", type_=_TABLE.c.claimed_at.type),
                  updated_at=bindparam("now", type_=_TABLE.c.updated_at.type),
                  send_attempts=_TABLE.c.send_attempts + 1))


def write_answers(context: IntegrationContext, changes: list[dict[str, Any]]) -> None:
    """Write what became of `sending` rows; a row another sender has claimed since (a new token) is left
    alone. Each change is {"row_id", "token", column: value…}; one executemany per set of columns."""
    if not changes:
        return
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        columns = tuple(sorted(key for key in change if key not in ("row_id", "token")))
        groups.setdefault(columns, []).append(
            {"row_id": change["row_id"], "token": change["token"], **{f"v_{c}": change[c] for c in columns}})
    with context.sessions() as session, session.begin():
        for columns, rows in groups.items():
            statement = (update(_TABLE)
                         .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.claim_token == bindparam("token"),
                                _TABLE.c.status == NotificationStatus.SENDING.value)
                         .values({c: bindparam(f"v_{c}", type_=_TABLE.c[c].type) for c in columns}))
            session.execute(statement, rows)


def sent(row: Pending, receipt: Receipt, token: str | None, at: datetime, now: datetime) -> dict[str, Any]:
    row.outcome.status = NotificationStatus.SENT.value
    row.outcome.provider_message_id, row.outcome.error_code, row.outcome.error = receipt.message_id, None, None
    return {"row_id": row.message.notification_id, "token": token, "status": row.outcome.status,
            "provider": receipt.provider, "provider_message_id": receipt.message_id, "sent_at": at,
            "updated_at": now, "error_code": None, "error": None}


def requeued(row: Pending, token: str | None, error: str, now: datetime) -> dict[str, Any]:
    """The provider never took it: back to `queued`, to be claimed and sent again."""
    row.outcome.status = NotificationStatus.QUEUED.value
    row.claim_token = row.claimed_at = None
    return {"row_id": row.message.notification_id, "token": token, "status": row.outcome.status,
            "claim_token": None, "claimed_at": None, "error": error[:2000], "updated_at": now}


class _Answers:
    """Answers waiting to be written, shared by the sending threads: written every `batch_size` answers or
    FLUSH_SECONDS, and at the end."""

    def __init__(self, context: IntegrationContext, batch_size: int):
        self.context, self.batch_size = context, batch_size
        self._lock = threading.Lock()
        self._changes: list[dict[str, Any]] = []
        self._written_at = time.monotonic()

    def add(self, change: dict[str, Any]) -> None:
        with self._lock:
            self._changes.append(change)
            if len(self._changes) < self.batch_size and time.monotonic() - self._written_at < FLUSH_SECONDS:
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            changes, self._changes = self._changes, []
            self._written_at = time.monotonic()
        # unwritten answers are not lost: their rows stay `sending` and are settled by asking the provider
        write_answers(self.context, changes)


class _Run:
    """What the sending threads share: the rows still to take, and the first reason to stop."""

    def __init__(self, rows: list[Pending]):
        self._rows: Iterator[Pending] = iter(rows)
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def next_row(self) -> Pending | None:
        with self._lock:
            return None if self.stop.is_set() else next(self._rows, None)

    def fail(self, error: BaseException) -> None:
        with self._lock:
            self.error = self.error or error
        self.stop.set()


class Sender:
    """Claims and sends queued rows on `concurrency` connections at once."""

    def __init__(self, context: IntegrationContext, backend: Backend, batch_size: int):
        self.context, self.backend, self.batch_size = context, backend, batch_size

    def send(self, rows: list[Pending], token: str, claim_lost: threading.Event, *, concurrency: int = 1,
             stop_on_rejection: bool = False) -> None:
        """Send every row it can claim; stops at the first error (raised once the answers so far are
        written), at a refusal with `stop_on_rejection`, or when the job's claim is lost."""
        if not rows:
            return
        run, answers = _Run(rows), _Answers(self.context, self.batch_size)
        threads = [threading.Thread(target=self._work, args=(run, answers, token, claim_lost, stop_on_rejection),
                                    name=f"loopline-send-{i}", daemon=True)
                   for i in range(1, min(concurrency, len(rows)))]
        for thread in threads:
            thread.start()
        self._work(run, answers, token, claim_lost, stop_on_rejection)
        for thread in threads:
            thread.join()
        answers.flush()
        if run.error is not None:
            raise run.error

    def _work(self, run: _Run, answers: _Answers, token: str, claim_lost: threading.Event,
              stop_on_rejection: bool) -> None:
        try:
            with self.context.sessions() as session:
                while (row := run.next_row()) is not None:
                    if claim_lost.is_set():  # another worker may be sending the rest now: never send twice
                        run.fail(TransientError("the job was handed to another worker while it was sending"))
                        return
                    if not self._claim(session, row, token):
                        continue  # taken by another sender meanwhile
                    change, error = self._send_one(row, token)
                    answers.add(change)
                    if error is not None:
                        run.fail(error)
                    elif stop_on_rejection and row.outcome.status == NotificationStatus.FAILED:
                        run.stop.set()
        except Exception as exc:  # e.g. the database went away: rows claimed so far are settled later
            run.fail(exc)

    def _claim(self, session, row: Pending, token: str) -> bool:
        now = self.context.now()
        with session.begin():
            taken = session.execute(_CLAIM, {"row_id": row.message.notification_id, "token": token,
                                             "now": now}).rowcount == 1
        if taken:
            row.outcome.status, row.claim_token, row.claimed_at = NotificationStatus.SENDING.value, token, now
        return taken

    def _send_one(self, row: Pending, token: str) -> tuple[dict[str, Any], BaseException | None]:
        """Call the provider for one claimed row: the change to write, and the error that stops the run."""
        message, outcome = row.message, row.outcome
        try:
            receipt = self.backend.send(message)
        except RecipientRejected as exc:
            now = self.context.now()
            outcome.status, outcome.error_code, outcome.error = NotificationStatus.FAILED.value, exc.code, exc.message
            log.info("notification %s refused by the provider: %s", message.notification_id, exc.code)
            return {"row_id": message.notification_id, "token": token, "status": outcome.status,
                    "error_code": exc.code, "error": exc.message, "failed_at": now, "updated_at": now}, None
        except AnswerLost as exc:  # it may have gone out: stays `sending` until the provider is asked
            return self._note(row, token, str(exc)), exc
        except (TransientError, BusinessError) as exc:  # the provider answered and took nothing
            return requeued(row, token, f"{type(exc).__name__}: {exc}", self.context.now()), exc
        except Exception as exc:  # unforeseen: whether it went out is unknown, so it is settled like a lost answer
            log.exception("sending notification %s failed", message.notification_id)
            return self._note(row, token, f"{type(exc).__name__}: {exc}"), exc
        return sent(row, receipt, token, self.context.now(), self.context.now()), None

    def _note(self, row: Pending, token: str, error: str) -> dict[str, Any]:
        row.outcome.error = error
        return {"row_id": row.message.notification_id, "token": token, "error": error[:2000],
                "updated_at": self.context.now()}


class Settler:
    """Finds out what became of rows left `sending`: the provider's record makes one `sent`, no record puts
    it back in the queue, a provider that cannot say leaves it `unknown` for a person."""

    def __init__(self, context: IntegrationContext, backend: Backend):
        self.context, self.backend = context, backend
        notify = context.settings.notify
        self.wait = timedelta(seconds=notify.timeout + notify.lookup_delay)

    def due(self, row: Pending) -> datetime:
        """When the provider can first be asked about the row: its sender's call is over by then, and the
        provider's records show what it took."""
        return (row.claimed_at or self.context.now()) + self.wait

    def settle(self, rows: list[Pending]) -> None:
        now, changes = self.context.now(), []
        for row in rows:
            if self.due(row) > now:
                continue  # its sender may still be waiting for the answer
            try:
                receipt = self.backend.lookup(row.message, row.claimed_at or now)
            except LookupUnavailable as exc:
                changes.append(self._unknown(row, str(exc), now))
                continue
            except TransientError as exc:  # asked again at the job's next run
                log.info("could not ask about notification %s yet: %s", row.message.notification_id, exc)
                continue
            token = row.claim_token
            if receipt is not None:
                changes.append(sent(row, receipt, token, row.claimed_at or now, now))
            else:
                changes.append(requeued(row, token, "the provider has no record of it: sending again", now))
        write_answers(self.context, changes)

    def _unknown(self, row: Pending, reason: str, now: datetime) -> dict[str, Any]:
        row.outcome.status = NotificationStatus.UNKNOWN.value
        row.outcome.error = f"the answer was lost and the provider cannot say whether it went out ({reason})"
        return {"row_id": row.message.notification_id, "token": row.claim_token, "status": row.outcome.status,
                "error": row.outcome.error[:2000], "updated_at": now}
