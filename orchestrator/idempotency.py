"""Idempotency keys: the record that a keyed command happened commits in that command's own transaction.

A request that carries a key runs its command inside `claiming(...)`. The first write transaction it opens
inserts the key's row before the command writes anything (`Database.transaction` asks for it), so the row
commits or rolls back together with the command: whatever is lost after the COMMIT (the answer, the
connection), a retry finds the row and never runs the command twice. The answer is added to the row once
the command committed (`remember_answer`); a retry hears it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, delete, event, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.db import Database, UTCDateTime, transaction_opening
from orchestrator.errors import Conflict
from orchestrator.models import IdempotencyRecord

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 200


class KeyInUse(Conflict):
    """A request with the same key is still running: the client waits and sends it again."""


class KeyRecorded(Conflict):
    """A request with the same key committed while this one was on its way: replay its answer."""


@dataclass(frozen=True)
class KeyedRequest:
    """A command as its sender identified it: keys are scoped to the caller and the route."""

    caller: str
    route: str
    key: str
    fingerprint: str  # of what the request asks for, so a reused key cannot mean another command

    @property
    def lock_id(self) -> int:
        """A 64-bit number for PostgreSQL's advisory lock held while the command with this key runs."""
        digest = hashlib.sha256(f"{self.caller}\0{self.route}\0{self.key}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


class Claim:
    """The key's row, to be inserted by the first write transaction of the request; `recorded` once that
    transaction committed (a transaction that rolled back leaves the claim for the next one)."""

    def __init__(self, request: KeyedRequest, now: datetime):
        self.request = request
        self.now = now
        self.recorded = False

    def __call__(self, session: Session) -> None:
        if self.recorded:
            return  # the command committed already; a later transaction of the request is not the command
        _insert_record(session, self.request, self.now)

        @event.listens_for(session, "after_commit", once=True)
        def _committed(_session):
            self.recorded = True


@contextmanager
def claiming(request: KeyedRequest, now: datetime) -> Iterator[Claim]:
    """Have the command run inside this block record `request` in its transaction."""
    claim = Claim(request, now)
    token = transaction_opening.set(claim)
    try:
        yield claim
    finally:
        transaction_opening.reset(token)


def _insert_record(session: Session, request: KeyedRequest, now: datetime) -> None:
    """Insert the key's row as the transaction's first statement. On PostgreSQL the same statement takes an
    advisory lock for the transaction, so a second request with the key hears 409 at once instead of waiting."""
    values = select(literal(request.caller), literal(request.route), literal(request.key),
                    literal(request.fingerprint), literal(now, UTCDateTime()))
    if session.get_bind().dialect.name == "postgresql":
        values = values.where(func.pg_try_advisory_xact_lock(literal(request.lock_id, BigInteger())))
    columns = ["caller", "route", "key", "fingerprint", "created_at"]
    try:
        inserted = session.execute(insert(IdempotencyRecord.__table__).from_select(columns, values)
                                   .returning(IdempotencyRecord.id)).first()
    except IntegrityError:
        raise KeyRecorded(f"a request with Idempotency-Key '{request.key}' has already been done") from None
    if inserted is None:
        raise KeyInUse(f"a request with Idempotency-Key '{request.key}' is still running; send it again later")


def _scoped(request: KeyedRequest):
    return (IdempotencyRecord.caller == request.caller, IdempotencyRecord.route == request.route,
            IdempotencyRecord.key == request.key)


def find_record(db: Database, request: KeyedRequest, now: datetime) -> IdempotencyRecord | None:
    """The caller's live record of this key on this route; an expired one is deleted and not returned."""
    with db.reading() as session:
        record = session.scalars(select(IdempotencyRecord).where(*_scoped(request))).first()
    if record is not None and record.created_at <= now - KEY_LIFETIME:
        with db.statement() as connection:
            connection.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
        return None
    return record


def remember_answer(db: Database, request: KeyedRequest, status: int, body: str, now: datetime) -> None:
    """Store the answer of the committed command for retries, and drop keys that expired (one statement
    each, outside the command: the command's record is already safe)."""
    with db.statement() as connection:
        connection.execute(update(IdempotencyRecord).where(*_scoped(request)).values(status=status, body=body))
    with db.statement() as connection:
        connection.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= now - KEY_LIFETIME))
