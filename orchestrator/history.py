"""Append-only, hash-chained history: written in the command's own transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from orchestrator.models import HistoryEvent, ProcessInstance

GENESIS = "0" * 64
# built once: its cache key and compiled form are reused by every command
_INSERT_EVENTS = insert(HistoryEvent.__table__)


@dataclass
class PendingEvent:
    """An event a command has decided to record; flushed together with the instance state."""

    type: str
    actor: str
    element_id: str | None = None
    task_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def event_hash(prev_hash: str, instance_id: str, at: datetime, event: PendingEvent) -> str:
    """Hash over the previous hash and the event's content, so an edited row breaks the chain."""
    return chain_hash(prev_hash, instance_id, at, event.type, event.actor, event.element_id, event.task_id,
                      event.payload)


def chain_hash(prev_hash: str, instance_id: str, at: datetime, type_: str, actor: str, element_id: str | None,
               task_id: str | None, payload: dict[str, Any]) -> str:
    """SHA-256 of the compact JSON array of the fields in this order (README, "Audit"): what any tool recomputes."""
    body = json.dumps([prev_hash, instance_id, at.isoformat(), type_, actor, element_id, task_id, payload],
                      sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def sign_head(key: bytes, instance_id: str, count: int, head: str | None) -> str:
    """HMAC-SHA256 of "id\ncount\nhead": without the key, a cut chain cannot be given a matching head."""
    message = f"{instance_id}\n{count}\n{head or ''}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def head_is_signed(key: bytes, instance: ProcessInstance) -> bool:
    """Whether the instance row's head, count and signature belong together (no history read)."""
    if instance.history_signature is None:
        return False
    expected = sign_head(key, instance.id, instance.history_count or 0, instance.history_head)
    return hmac.compare_digest(expected, instance.history_signature)


def append_events(session: Session, instance_id: str, at: datetime, events: list[PendingEvent], *,
                  signing_key: bytes, instance: ProcessInstance | None = None) -> None:
    """Write events after the instance's last one, in bulk, chaining hashes from the head kept on the
    instance row (which the command holds locked); the new head, count and signature are written with the
    instance row."""
    if not events:
        return
    if instance is None:
        instance = session.get(ProcessInstance, instance_id)  # the command loaded it: no query
    prev = (instance.history_head if instance is not None else _last_hash(session, instance_id)) or GENESIS
    rows = []
    for event in events:
        digest = event_hash(prev, instance_id, at, event)
        rows.append(dict(instance_id=instance_id, at=at, type=event.type, actor=event.actor,
                         element_id=event.element_id, task_id=event.task_id, payload=event.payload,
                         prev_hash=prev, hash=digest))
        prev = digest
    if instance is not None:
        count = (instance.history_count or 0) + len(rows)
        instance.history_head, instance.history_count = prev, count
        instance.history_signature = sign_head(signing_key, instance_id, count, prev)
    # one executemany INSERT of the table (seq follows the rows' order; the statement is compiled once per
    # process, not once per command as a multi-VALUES literal would be; PostgreSQL gets it as one multi-row
    # INSERT, see db.make_engine); it flushes nothing, so the instance row with its new head is still written
    # once, by the command
    session.connection().execute(_INSERT_EVENTS, rows)


def _last_hash(session: Session, instance_id: str) -> str | None:
    return session.scalar(
        select(HistoryEvent.hash).where(HistoryEvent.instance_id == instance_id)
        .order_by(HistoryEvent.seq.desc()).limit(1)
    )


def verify_chain(session: Session, instance_id: str) -> int | None:
    """Return the seq of the first event that does not match its hash chain, or None if intact."""
    prev = GENESIS
    rows = session.scalars(
        select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.seq)
    )
    for row in rows:
        event = PendingEvent(row.type, row.actor, row.element_id, row.task_id, row.payload)
        if row.prev_hash != prev or event_hash(prev, instance_id, row.at, event) != row.hash:
            return row.seq
        prev = row.hash
    return None
