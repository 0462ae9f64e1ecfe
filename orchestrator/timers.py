"""Timer sweep: fire due timers one instance per transaction, and start an instance for each due occurrence
of a timer start event (see orchestrator.timer_starts), one per transaction; cost follows what is due, not
what waits."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from orchestrator.actors import Actor
from orchestrator.engine import CommandGroup
from orchestrator.errors import EngineError
from orchestrator.models import Incident, InstanceStatus, ProcessDefinition, ProcessInstance, StartTimer
from orchestrator.timer_starts import following_occurrence

TIMER = Actor.system("timer")
log = logging.getLogger(__name__)


class Timers(CommandGroup):
    def due_instances_query(self, now: datetime, exclude: set[str] | None = None):
        """Running instances whose earliest timer is due: a range scan on ix_process_instance_due_timer."""
        query = (
            select(ProcessInstance.id)
            .where(ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.next_timer_at <= now)
            .order_by(ProcessInstance.next_timer_at)
            .limit(1)
        )
        if exclude:
            query = query.where(ProcessInstance.id.not_in(exclude))
        if self.core.db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        return query

    def fire_due_timers(self, limit: int | None = None) -> list[str]:
        """Fire every due timer (up to `limit` instances), then start an instance for each due timer start
        event (up to `limit`): the ids of the instances fired, then of those started. Sweeps on several
        machines skip each other's rows."""
        limit = limit or self.core.settings.timer_batch_size
        fired = self._fire_instance_timers(limit)
        return fired + self.start_due_instances(limit)

    def _fire_instance_timers(self, limit: int) -> list[str]:
        fired: list[str] = []
        seen: set[str] = set()
        while len(seen) < limit:
            now = self.core.now()
            instance_id = None
            try:
                with self.core.db.transaction() as session:
                    instance_id = session.scalar(self.due_instances_query(now, seen))
                    if instance_id is None:
                        break
                    seen.add(instance_id)
                    with self.core.command(instance_id, TIMER, session=session) as ctx:
                        ctx.run_engine()
            except EngineError as exc:
                # recorded after the failed transaction is rolled back: it held the lock the record needs
                self._park_failed_timer(instance_id, exc.message, exc.details.get("element_id"))
                continue
            except Exception as exc:  # e.g. a stored model that no longer loads: park it, keep sweeping the rest
                if instance_id is None:  # the database itself failed: the scheduler loop retries
                    raise
                log.exception("timer of instance %s failed", instance_id)
                self._park_failed_timer(instance_id, f"{type(exc).__name__}: {exc}", None)
                continue
            fired.append(instance_id)
        return fired

    def _park_failed_timer(self, instance_id: str, message: str, element_id: str | None) -> None:
        """A timer whose path fails (a crashing script, a bad value) opens an incident and stops firing,
        so the sweep neither spins on it nor repeats the failure; retrying the incident fires it again."""
        with self.core.command(instance_id, TIMER, statuses=None, restore=False) as ctx:
            ctx.instance.next_timer_at = None
            ctx.record("timer_failed", element_id, error=message)
            already_open = ctx.session.scalar(select(Incident.id).where(
                Incident.instance_id == instance_id, Incident.job_id.is_(None), Incident.resolved_at.is_(None)))
            if already_open is None:
                incident = Incident(instance_id=instance_id, element_id=element_id, message=message,
                                    created_at=ctx.now)
                ctx.session.add(incident)
                ctx.session.flush()
                ctx.record("incident_opened", element_id, incident_id=incident.id, message=message)

    def due_start_timers_query(self, now: datetime):
        """The earliest due timer start schedule, locked; a range scan on ix_start_timer_next_due_at. On
        PostgreSQL a schedule another sweep is starting right now is skipped, never waited for or started twice."""
        query = (select(StartTimer).where(StartTimer.next_due_at <= now)
                 .order_by(StartTimer.next_due_at, StartTimer.id).limit(1))
        if self.core.db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        return query

    def start_due_instances(self, limit: int | None = None) -> list[str]:
        """Start one instance per due timer start occurrence (up to `limit`), each in its own transaction with
        the schedule moved on to its next occurrence (occurrences missed meanwhile fire once)."""
        limit = limit or self.core.settings.timer_batch_size
        started: list[str] = []
        for _ in range(limit):
            now = self.core.now()
            schedule_id = None
            try:
                with self.core.db.transaction() as session:
                    schedule = session.scalars(self.due_start_timers_query(now)).first()
                    if schedule is None:
                        break
                    schedule_id = schedule.id
                    definition = session.get(ProcessDefinition, schedule.definition_id)
                    row = self.core.instances.start_in(session, definition, TIMER, None, {}, None,
                                                       timer_start=schedule.element_id)
                    _move_on(session, schedule, now)
                    instance_id = row.id
            except EngineError as exc:
                self._skip_failed_start(schedule_id, exc.message, now)
                continue
            except Exception as exc:  # e.g. a stored model that no longer loads: skip it, keep sweeping the rest
                if schedule_id is None:  # the database itself failed: the scheduler loop retries
                    raise
                log.exception("timer start schedule %s failed", schedule_id)
                self._skip_failed_start(schedule_id, f"{type(exc).__name__}: {exc}", now)
                continue
            started.append(instance_id)
        return started

    def _skip_failed_start(self, schedule_id: int | None, message: str, now: datetime) -> None:
        """An occurrence whose start fails (a crashing first step) starts nothing: the schedule keeps the
        error and moves on, so the sweep neither spins on it nor repeats the failure at once."""
        if schedule_id is None:
            raise AssertionError("a start failed before its schedule was claimed")
        log.warning("timer start schedule %s started no instance: %s", schedule_id, message)
        with self.core.db.transaction() as session:
            query = select(StartTimer).where(StartTimer.id == schedule_id, StartTimer.next_due_at <= now)
            schedule = session.scalars(query.with_for_update() if self.core.db.is_postgres else query).first()
            if schedule is not None:
                schedule.last_error = message[:4000]
                _move_on(session, schedule, now)

    def next_due_at(self) -> datetime | None:
        """When the earliest running timer or timer start is due, so a sweep loop can sleep exactly until then."""
        with self.core.db.transaction() as session:
            instance_due = session.scalar(
                select(func.min(ProcessInstance.next_timer_at)).where(ProcessInstance.status == InstanceStatus.RUNNING)
            )
            start_due = session.scalar(select(func.min(StartTimer.next_due_at)))
        return min((due for due in (instance_due, start_due) if due is not None), default=None)


def _move_on(session, schedule: StartTimer, now: datetime) -> None:
    """Move a schedule whose occurrence fired to its next occurrence, or remove it when none is left."""
    following = following_occurrence(schedule, now)
    if following is None:
        session.delete(schedule)
        return
    schedule.next_due_at = following.next_due_at
    schedule.remaining = following.remaining
