"""Verify every case's history in one pass: chains, signed heads and the last checkpoint.

The events are streamed once, ordered by (instance, seq), on one connection that sees one snapshot, so a
million events cost one query and the hashing, never a query per case.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from orchestrator.checkpoints import Checkpoint, last_checkpoint
from orchestrator.db import Database
from orchestrator.history import GENESIS, chain_hash, sign_head
from orchestrator.models import HistoryEvent, ProcessInstance

_EVENTS = HistoryEvent.__table__.c
_INSTANCES = ProcessInstance.__table__.c
_STREAM_ROWS = 20_000


@dataclass(frozen=True)
class AuditFailure:
    """One check a case failed. `check` is chain, head, count, signature, unsigned, orphaned-events,
    checkpoint-signature, deleted-case, shorter-than-checkpoint or checkpoint-head."""

    check: str
    instance_id: str | None
    business_key: str | None
    seq: int | None
    detail: str


@dataclass
class AuditReport:
    cases: int = 0
    events: int = 0
    checkpoint_id: int | None = None
    failures: list[AuditFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "cases": self.cases, "events": self.events, "checkpoint": self.checkpoint_id,
                "failures": [asdict(failure) for failure in self.failures]}


@dataclass
class _Case:
    business_key: str | None
    head: str | None
    count: int
    signature: str | None


@contextmanager
def snapshot(db: Database) -> Iterator[Connection]:
    """One read-only transaction whose reads all see the same moment (PostgreSQL: REPEATABLE READ; SQLite: a
    deferred transaction in WAL mode), so commands running meanwhile do not look like tampering."""
    options: dict[str, Any] = {"loopline_readonly": True}
    if db.engine.dialect.name == "postgresql":
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with db.engine.connect() as connection:
        connection = connection.execution_options(**options)
        with connection.begin():
            yield connection


def verify_all(db: Database, key: bytes) -> AuditReport:
    """Check every case: its chain recomputed, its row's head and count against its last event, the head's
    signature, and every case of the last checkpoint still there with the chain the checkpoint saw."""
    with snapshot(db) as connection:
        return _Verification(connection, key).run()


class _Verification:
    def __init__(self, connection: Connection, key: bytes):
        self.connection, self.key = connection, key
        self.report = AuditReport()
        self.cases = {row.id: _Case(row.business_key, row.history_head, row.history_count or 0,
                                    row.history_signature)
                      for row in connection.execute(select(_INSTANCES.id, _INSTANCES.business_key,
                                                           _INSTANCES.history_head, _INSTANCES.history_count,
                                                           _INSTANCES.history_signature))}
        self.report.cases = len(self.cases)
        self.checkpoint = last_checkpoint(connection)
        self.expected: dict[str, tuple[int, str | None]] = {}
        if self.checkpoint is not None:
            self.report.checkpoint_id = self.checkpoint.id
            self._check_checkpoint(self.checkpoint)

    def fail(self, check: str, instance_id: str | None, seq: int | None, detail: str,
             business_key: str | None = None) -> None:
        case = self.cases.get(instance_id) if instance_id else None
        self.report.failures.append(AuditFailure(check, instance_id, case.business_key if case else business_key,
                                                 seq, detail))

    def _check_checkpoint(self, checkpoint: Checkpoint) -> None:
        if not checkpoint.is_authentic(self.key):
            self.fail("checkpoint-signature", None, None, f"checkpoint #{checkpoint.id} does not match its signature")
            return
        for entry in checkpoint.entries:
            if entry.instance_id not in self.cases:
                self.fail("deleted-case", entry.instance_id, None,
                          f"in checkpoint #{checkpoint.id} with {entry.count} events; the case is gone",
                          business_key=entry.business_key)
            elif entry.count:
                self.expected[entry.instance_id] = (entry.count, entry.head)

    def run(self) -> AuditReport:
        rows = self.connection.execution_options(stream_results=True, yield_per=_STREAM_ROWS).execute(
            select(_EVENTS.instance_id, _EVENTS.seq, _EVENTS.at, _EVENTS.type, _EVENTS.actor, _EVENTS.element_id,
                   _EVENTS.task_id, _EVENTS.payload, _EVENTS.prev_hash, _EVENTS.hash)
            .order_by(_EVENTS.instance_id, _EVENTS.seq))
        current, prev, count, last_seq, broken, expected = None, GENESIS, 0, None, False, None
        events = 0
        for instance_id, seq, at, type_, actor, element_id, task_id, payload, prev_hash, digest in rows:
            if instance_id != current:
                if current is not None:
                    self._end_of_chain(current, prev, count, last_seq)
                current, prev, count, broken = instance_id, GENESIS, 0, False
                expected = self.expected.get(instance_id)
            count += 1
            events += 1
            if not broken and (prev_hash != prev or chain_hash(prev, instance_id, at, type_, actor, element_id,
                                                               task_id, payload) != digest):
                self.fail("chain", instance_id, seq, "the event does not match its hash or its predecessor's")
                broken = True
            if expected is not None and count == expected[0] and digest != expected[1]:
                self.fail("checkpoint-head", instance_id, seq,
                          f"event {count} is not the head checkpoint #{self.report.checkpoint_id} recorded")
            prev, last_seq = digest, seq
        if current is not None:
            self._end_of_chain(current, prev, count, last_seq)
        for instance_id in list(self.cases):  # cases without a single event
            self._end_of_chain(instance_id, None, 0, None)
        self.report.events = events
        return self.report

    def _end_of_chain(self, instance_id: str, last_hash: str | None, count: int, last_seq: int | None) -> None:
        case = self.cases.get(instance_id)
        if case is None:
            self.fail("orphaned-events", instance_id, last_seq, f"{count} events of a case whose row is gone")
            return
        if case.head != last_hash:
            self.fail("head", instance_id, last_seq,
                      f"the case's head is not its last event's hash ({count} events left)")
        if case.count != count:
            self.fail("count", instance_id, last_seq, f"the case records {case.count} events, {count} are left")
        if case.signature is None:
            if count:
                self.fail("unsigned", instance_id, None, "the case's head carries no signature")
        elif case.signature != sign_head(self.key, instance_id, case.count, case.head):
            self.fail("signature", instance_id, None, "the case's head, count and signature do not belong together")
        expected = self.expected.get(instance_id)
        if expected is not None and count < expected[0]:
            self.fail("shorter-than-checkpoint", instance_id, last_seq,
                      f"{count} events left; checkpoint #{self.report.checkpoint_id} saw {expected[0]}")
        del self.cases[instance_id]


def sign_unsigned_heads(db: Database, key: bytes) -> int:
    """Sign the heads that have no signature yet (cases recorded before heads were signed); returns how many.
    Run `verify_all` first: this vouches for those heads as they are."""
    with db.engine.begin() as connection:
        rows = connection.execute(select(_INSTANCES.id, _INSTANCES.history_count, _INSTANCES.history_head)
                                  .where(_INSTANCES.history_signature.is_(None))).all()
        if rows:
            connection.execute(
                update(ProcessInstance.__table__).where(_INSTANCES.id == bindparam("where_id")),
                [{"where_id": id_, "history_count": count or 0,
                  "history_signature": sign_head(key, id_, count or 0, head)} for id_, count, head in rows])
    return len(rows)
