"""Batch operations: cancel, retry the incidents of, or migrate a fixed list of cases, with progress.

A batch's cases are fixed when it is created (from a case-list filter or a selection). The background sweep
(`loopline beat`, or the embedded mode's loop) works on it in rounds: a round leases the batch, handles its
cases in order — each case its own transaction through the engine's commands — and counts each one done or
failed with the reason. A migration counts a case in the same transaction that moves it; cancel and retry
count it right after, and a case found already cancelled (or without an open incident left) after a crash is
counted done, not done again. A process killed mid-round leaves its lease to expire; the next round resumes at
the next case.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, defer

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.batch_models import BatchKind, BatchOperation, BatchStatus
from orchestrator.case_migration import CaseMigration, checked_mapping
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import EngineError, InvalidInput, NotFound
from orchestrator.instances import Instances, latest_definition
from orchestrator.jobs import Jobs
from orchestrator.models import Incident, InstanceStatus, ProcessDefinition, ProcessInstance
from orchestrator.query_filters import InstanceFilter, instance_conditions

log = logging.getLogger(__name__)

MAX_CASES = 100_000
ROUND_SIZE = 200
ROUND_SECONDS = 0.5  # a sweep round gives timers their turn again after this long
LEASE = timedelta(seconds=60)
MAX_REASON = 4000
MAX_LISTED_FAILURES = 1000  # failures kept with their reason; the count goes on past them
ACTIVE = (BatchStatus.QUEUED, BatchStatus.RUNNING)
_WITHOUT_CASES = defer(BatchOperation.instance_ids)  # views show counts, not the (long) list of cases


@dataclass(frozen=True)
class BatchRequest:
    """What to do (`kind`, `parameters`) to which cases: the ids given, or every case matching `criteria`."""

    kind: str
    parameters: dict[str, Any] = field(default_factory=dict)
    instance_ids: list[str] | None = None
    criteria: InstanceFilter | None = None


@dataclass(frozen=True)
class BatchView:
    id: int
    kind: str
    parameters: dict[str, Any]
    status: str
    total: int
    done: int
    failed: int
    failures: dict[str, str]
    requested_by: str
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, row: BatchOperation) -> BatchView:
        parameters = {k: v for k, v in (row.parameters or {}).items() if not k.startswith("_")}
        return cls(row.id, row.kind, parameters, row.status, row.total, row.done, row.failed,
                   dict(row.failures or {}), row.requested_by, row.created_at, row.finished_at)

    @property
    def handled(self) -> int:
        return self.done + self.failed

    @property
    def finished(self) -> bool:
        return self.status in (BatchStatus.DONE, BatchStatus.FAILED)


@dataclass(frozen=True)
class Round:
    batch_id: int | None
    handled: int
    more: bool  # work is left (in this batch or another)


def matching_instance_ids(session: Session, actor: Actor, criteria: InstanceFilter) -> list[str]:
    """Every case the actor may read that the case list's filter matches (no paging), oldest first."""
    query = (select(ProcessInstance.id).join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .order_by(ProcessInstance.started_at, ProcessInstance.id).limit(MAX_CASES + 1))
    return list(session.scalars(query.where(*instance_conditions(actor, criteria))))


class BatchOperations(CommandGroup):
    def __init__(self, core: EngineCore, instances: Instances, jobs: Jobs, migration: CaseMigration):
        super().__init__(core)
        self.instances = instances
        self.jobs = jobs
        self.migration = migration

    # -- asking ------------------------------------------------------------------------------------------
    def create_batch(self, request: BatchRequest, *, actor: Actor) -> BatchView:
        """Queue a batch over the given cases or every case the filter matches now; the sweep runs it."""
        require(actor, Permission.MANAGE_INSTANCES)
        if request.kind == BatchKind.RETRY:
            require(actor, Permission.RETRY_INCIDENTS)
        if request.kind not in tuple(BatchKind):
            raise InvalidInput("unknown batch kind", {"kind": f"must be one of {', '.join(BatchKind)}"})
        if (request.instance_ids is None) == (request.criteria is None):
            raise InvalidInput("name the cases", {"instance_ids": "give either instance ids or a filter"})
        with self.core.db.transaction() as session:
            if request.criteria is not None:
                ids = matching_instance_ids(session, actor, request.criteria)
            else:
                ids = list(dict.fromkeys(request.instance_ids))
            if not ids:
                raise InvalidInput("no case to apply it to", {"instance_ids": "no case matches"})
            if len(ids) > MAX_CASES:
                raise InvalidInput("too many cases", {"instance_ids": f"at most {MAX_CASES} cases in one batch"})
            parameters = self._checked_parameters(session, request, ids)
            parameters["_roles"] = sorted(actor.roles)
            row = BatchOperation(kind=request.kind, parameters=parameters, instance_ids=ids, requested_by=actor.name,
                                 created_at=self.core.now(), status=BatchStatus.QUEUED, total=len(ids), position=0,
                                 done=0, failed=0, failures={})
            session.add(row)
            session.flush()
            return BatchView.of(row)

    def _checked_parameters(self, session: Session, request: BatchRequest, ids: list[str]) -> dict[str, Any]:
        given = dict(request.parameters or {})
        if request.kind == BatchKind.CANCEL:
            reason = str(given.get("reason") or "").strip()
            if not reason or len(reason) > MAX_REASON or "\x00" in reason:
                raise InvalidInput("say why the cases are cancelled",
                                   {"parameters.reason": f"is required, at most {MAX_REASON} characters"})
            return {"reason": reason}
        if request.kind == BatchKind.RETRY:
            return {}
        key = given.get("process_key") or (request.criteria.definition_key if request.criteria else None)
        if not key:
            keys = set(session.scalars(select(ProcessDefinition.key).join(
                ProcessInstance, ProcessInstance.definition_id == ProcessDefinition.id)
                .where(ProcessInstance.id.in_(ids[:1000]))))
            if len(keys) != 1:
                raise InvalidInput("a migration moves cases of one process",
                                   {"parameters.process_key": "name the process whose cases move"})
            key = keys.pop()
        to_version = given.get("to_version")
        if not isinstance(to_version, int) or isinstance(to_version, bool):
            raise InvalidInput("name the version to move to", {"parameters.to_version": "is required (a number)"})
        try:
            target = latest_definition(session, key, to_version)
        except NotFound as exc:
            raise InvalidInput(exc.message, {"parameters.to_version": "is not deployed"}) from exc
        mapping = given.get("mapping") or {}
        if not isinstance(mapping, dict):
            raise InvalidInput("the mapping is {old element id: new element id}", {"parameters.mapping": "not an object"})
        from_version = given.get("from_version")
        if from_version is not None:
            old = self.core.definitions.get(session, latest_definition(session, key, from_version).id)
            mapping = checked_mapping(mapping, old, self.core.definitions.get(session, target.id))
        return {"process_key": key, "from_version": from_version, "to_version": to_version, "mapping": mapping,
                "_definition_id": target.id}

    def get_batch(self, batch_id: int, *, actor: Actor) -> BatchView:
        require(actor, Permission.MANAGE_INSTANCES)
        with self.core.db.reading() as session:
            row = session.get(BatchOperation, batch_id, options=[_WITHOUT_CASES])
            if row is None:
                raise NotFound(f"batch {batch_id} does not exist")
            return BatchView.of(row)

    def list_batches(self, *, actor: Actor, limit: int = 50, offset: int = 0) -> list[BatchView]:
        """The newest batches first."""
        require(actor, Permission.MANAGE_INSTANCES)
        with self.core.db.reading() as session:
            rows = session.scalars(select(BatchOperation).options(_WITHOUT_CASES).order_by(BatchOperation.id.desc())
                                   .limit(min(limit, 200)).offset(offset))
            return [BatchView.of(row) for row in rows]

    # -- running -------------------------------------------------------------------------------------------
    def run_round(self, limit: int = ROUND_SIZE, seconds: float | None = ROUND_SECONDS) -> Round:
        """Lease the oldest batch with work left and handle up to `limit` of its cases (or for `seconds`)."""
        batch_id = self._lease()
        if batch_id is None:
            return Round(None, 0, False)
        with self.core.db.reading() as session:
            row = session.get(BatchOperation, batch_id)
            kind, parameters, ids, position = row.kind, dict(row.parameters), list(row.instance_ids), row.position
            requested_by = row.requested_by
        actor = Actor(requested_by, roles=frozenset(parameters.get("_roles") or ()))
        started = time.monotonic()
        handled = 0
        while position < len(ids) and handled < limit:
            if seconds is not None and handled and time.monotonic() - started > seconds:
                break
            self._handle(batch_id, kind, parameters, ids[position], position, actor)
            position += 1
            handled += 1
        finished = position >= len(ids)
        with self.core.db.transaction() as session:
            values: dict[str, Any] = {"locked_until": None}
            if finished:
                done, failed = session.execute(select(BatchOperation.done, BatchOperation.failed)
                                               .where(BatchOperation.id == batch_id)).one()
                values.update(status=BatchStatus.FAILED if failed and not done else BatchStatus.DONE,
                              finished_at=self.core.now())
            session.execute(update(BatchOperation).where(BatchOperation.id == batch_id).values(**values))
        return Round(batch_id, handled, not finished or self.has_work())

    def has_work(self) -> bool:
        with self.core.db.reading() as session:
            return session.scalar(select(BatchOperation.id).where(BatchOperation.status.in_(ACTIVE)).limit(1)) \
                is not None

    def _lease(self) -> int | None:
        now = self.core.now()
        free = or_(BatchOperation.locked_until.is_(None), BatchOperation.locked_until < now)
        with self.core.db.reading() as session:  # every sweep asks: without a batch, no write transaction
            batch_id = session.scalar(select(BatchOperation.id).where(BatchOperation.status.in_(ACTIVE), free)
                                      .order_by(BatchOperation.id).limit(1))
        if batch_id is None:
            return None
        with self.core.db.transaction() as session:
            claimed = session.execute(update(BatchOperation).where(BatchOperation.id == batch_id, free)
                                      .values(locked_until=now + LEASE, status=BatchStatus.RUNNING)).rowcount
        return batch_id if claimed else None

    def _handle(self, batch_id: int, kind: str, parameters: dict, instance_id: str, position: int,
                actor: Actor) -> None:
        try:
            if kind == BatchKind.MIGRATE:
                with self.core.db.transaction() as session:  # the move and its count commit together
                    self._migrate(session, parameters, instance_id, actor)
                    self._count(session, batch_id, position, instance_id, None)
                return
            if kind == BatchKind.CANCEL:
                self._cancel(parameters, instance_id, actor)
            else:
                self._retry(instance_id, actor)
            reason = None
        except EngineError as exc:
            reason = exc.message
        except Exception as exc:  # noqa: BLE001 - one case's unexpected error must not stop the batch
            log.exception("batch %s: case %s failed", batch_id, instance_id)
            reason = f"unexpected error: {exc}"
        with self.core.db.transaction() as session:
            self._count(session, batch_id, position, instance_id, reason)

    def _count(self, session: Session, batch_id: int, position: int, instance_id: str, reason: str | None) -> None:
        """Count one case done or failed, once: a case counted already (its position passed) is left alone. The
        row's case list is not read (it may hold 100,000 ids)."""
        table = BatchOperation
        values: dict[str, Any] = {"position": position + 1, "locked_until": self.core.now() + LEASE}
        if reason is None:
            values["done"] = table.done + 1
        else:
            values["failed"] = table.failed + 1
            failed = session.scalar(select(table.failed).where(table.id == batch_id))
            if (failed or 0) < MAX_LISTED_FAILURES:  # beyond, counted only: the row stays small
                failures = session.scalar(select(table.failures).where(table.id == batch_id).with_for_update())
                values["failures"] = {**(failures or {}), instance_id: reason[:MAX_REASON]}
        session.execute(update(table).where(table.id == batch_id, table.position == position).values(**values))

    def _migrate(self, session: Session, parameters: dict, instance_id: str, actor: Actor) -> None:
        definition_id = parameters["_definition_id"]
        current = session.scalar(select(ProcessInstance.definition_id).where(ProcessInstance.id == instance_id))
        if current == definition_id:
            return  # moved already (by an earlier round or by hand)
        self.migration.migrate_to(instance_id, definition_id, parameters.get("mapping") or {}, actor=actor,
                                  session=session)

    def _cancel(self, parameters: dict, instance_id: str, actor: Actor) -> None:
        with self.core.db.reading() as session:
            status = session.scalar(select(ProcessInstance.status).where(ProcessInstance.id == instance_id))
        if status == InstanceStatus.CANCELLED:
            return  # cancelled already: the batch's aim holds
        self.instances.cancel_instance(instance_id, actor=actor, reason=parameters["reason"])

    def _retry(self, instance_id: str, actor: Actor) -> None:
        with self.core.db.reading() as session:
            incidents = list(session.scalars(select(Incident.id).where(
                Incident.instance_id == instance_id, Incident.resolved_at.is_(None)).order_by(Incident.id)))
            retried = session.scalar(select(Incident.id).where(
                Incident.instance_id == instance_id, Incident.resolved_by == actor.name).limit(1))
        if not incidents:
            if retried is not None:
                return  # retried already, before a crash
            raise InvalidInput("the case has no open incident to retry")
        for incident_id in incidents:
            self.jobs.retry_incident(incident_id, actor=actor)
