"""Signed audit checkpoints: every case's chain head and length at one moment.

A signed head shows a case whose newest events were cut; it cannot show a case deleted whole (its row, its
events and its signature go together). A checkpoint lists every case with its head and event count, signed
with the audit key, so `loopline audit verify` finds each case it lists, with a chain at least as long that
passes through the head it recorded.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from orchestrator.db import Database
from orchestrator.models import AuditCheckpoint, ProcessInstance


@dataclass(frozen=True)
class CheckpointEntry:
    instance_id: str
    business_key: str | None
    count: int
    head: str | None


@dataclass(frozen=True)
class Checkpoint:
    id: int
    created_at: datetime
    entries: tuple[CheckpointEntry, ...]
    digest: str
    signature: str

    def is_authentic(self, key: bytes) -> bool:
        """Whether the entries hash to the stored digest and the digest carries the key's signature."""
        return (hmac.compare_digest(entries_digest(self.entries), self.digest)
                and hmac.compare_digest(sign_checkpoint(key, self.created_at, self.digest), self.signature))


def entries_digest(entries: tuple[CheckpointEntry, ...] | list[CheckpointEntry]) -> str:
    """SHA-256 over one line per case, "id TAB business key TAB count TAB head LF", in the given (id) order."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(f"{entry.instance_id}\t{entry.business_key or ''}\t{entry.count}\t{entry.head or ''}\n"
                      .encode())
    return digest.hexdigest()


def sign_checkpoint(key: bytes, created_at: datetime, digest: str) -> str:
    """HMAC-SHA256 of "created_at ISO 8601 LF digest"."""
    return hmac.new(key, f"{created_at.isoformat()}\n{digest}".encode(), hashlib.sha256).hexdigest()


def write_checkpoint(connection: Connection, key: bytes, now: datetime) -> Checkpoint:
    """Record every case's head and count as they are now (one consistent read), signed."""
    return _store(connection, key, now, _current_entries(connection))


def checkpoint_if_changed(db: Database, key: bytes, now: datetime) -> Checkpoint | None:
    """The sweep loop's checkpoint: written only when some case's head moved (or a case came or went) since
    the last one, so a quiet system does not store the same list every hour."""
    with db.engine.begin() as connection:
        entries = _current_entries(connection)
        last = last_checkpoint(connection)
        if last is not None and last.digest == entries_digest(entries):
            return None
        return _store(connection, key, now, entries)


def _current_entries(connection: Connection) -> tuple[CheckpointEntry, ...]:
    instances = ProcessInstance.__table__.c
    rows = connection.execute(select(instances.id, instances.business_key, instances.history_count,
                                     instances.history_head).order_by(instances.id))
    return tuple(CheckpointEntry(id_, key_, count or 0, head) for id_, key_, count, head in rows)


def _store(connection: Connection, key: bytes, now: datetime, entries: tuple[CheckpointEntry, ...]) -> Checkpoint:
    digest = entries_digest(entries)
    signature = sign_checkpoint(key, now, digest)
    checkpoint_id = connection.execute(
        insert(AuditCheckpoint.__table__).returning(AuditCheckpoint.__table__.c.id),
        {"created_at": now, "entries": [[e.instance_id, e.business_key, e.count, e.head] for e in entries],
         "digest": digest, "signature": signature}).scalar_one()
    return Checkpoint(checkpoint_id, now, entries, digest, signature)


def last_checkpoint(connection: Connection) -> Checkpoint | None:
    """The newest checkpoint, or None before the first."""
    table = AuditCheckpoint.__table__
    row = connection.execute(select(table).order_by(table.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    entries = tuple(CheckpointEntry(*entry) for entry in row.entries)
    return Checkpoint(row.id, row.created_at, entries, row.digest, row.signature)
