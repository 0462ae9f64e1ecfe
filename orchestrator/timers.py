"""Timer sweep: fire due timers in batches of instances, one transaction a batch, several batches at once on
PostgreSQL; and start an instance for each due occurrence of a timer start event (see
orchestrator.timer_starts), one per transaction. Cost follows what is due, not what waits."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
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
    def due_instances_query(self, now: datetime, exclude: set[str] | None = None, limit: int = 1):
        """The `limit` running instances whose earliest timer is due first: a range scan on
        ix_process_instance_due_timer. On PostgreSQL they are locked, and rows another sweep holds are skipped."""
        query = (
            select(ProcessInstance.id)
            .where(ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.next_timer_at <= now)
            .order_by(ProcessInstance.next_timer_at)
            .limit(limit)
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

    def fire_due_instance_timers(self, limit: int | None = None) -> list[str]:
        """Fire due instance timers only (up to `limit` instances): what a helper sweep process does."""
        return self._fire_instance_timers(limit or self.core.settings.timer_batch_size)

    def _fire_instance_timers(self, limit: int) -> list[str]:
        """Fire due instances in batches, one transaction per batch; on PostgreSQL, while a batch comes back
        full, more threads claim batches of their own (SKIP LOCKED keeps them apart) so one fire's database
        round trips overlap another's engine work. SQLite has one writer: one thread."""
        sweep = _Sweep(limit)
        self._fire_batches(sweep, once=True)
        threads = self.core.settings.timer_sweep_threads if self.core.db.is_postgres else 1
        if sweep.more_due and threads > 1:
            with ThreadPoolExecutor(threads - 1, thread_name_prefix="loopline-timers") as pool:
                helpers = [pool.submit(self._fire_batches, sweep) for _ in range(threads - 1)]
                self._fire_batches(sweep)
                for helper in helpers:
                    helper.result()  # a database error in any thread reaches the scheduler loop, which retries
        elif sweep.more_due:
            self._fire_batches(sweep)
        return sweep.fired

    def _fire_batches(self, sweep: _Sweep, once: bool = False) -> None:
        """Claim and fire batches until nothing more is due or the sweep's limit is reached."""
        while True:
            size = sweep.reserve(self.core.settings.timer_fires_per_transaction)
            if not size:
                return
            fired = self._fire_batch(sweep, size)
            if once or not sweep.more_due or not fired:
                return

    def _fire_batch(self, sweep: _Sweep, size: int) -> int:
        """Claim up to `size` due instances and fire them all in one transaction; if one fails, roll the batch
        back and fire its instances one per transaction, parking the failing one. The number claimed.

        No savepoint per instance: it cost a quarter of the sweep's throughput, and a failing timer is rare."""
        now = self.core.now()
        fired: list[tuple[str, datetime | None]] = []
        try:
            with self.core.db.transaction() as session:
                claimed = session.scalars(self.due_instances_query(now, sweep.due_again(), size)).all()
                sweep.claimed(size, len(claimed))
                try:
                    for instance_id in claimed:
                        with self.core.command(instance_id, TIMER, session=session) as ctx:
                            ctx.run_engine()
                        fired.append((instance_id, ctx.instance.next_timer_at))
                except Exception as exc:
                    raise _BatchFailed(claimed) from exc
        except _BatchFailed as failed:
            for instance_id in failed.claimed:
                self._fire_alone(sweep, instance_id, now)
            return len(failed.claimed)
        for instance_id, next_timer_at in fired:
            sweep.record_fire(instance_id, next_timer_at, now)
        return len(claimed)

    def _fire_alone(self, sweep: _Sweep, instance_id: str, now: datetime) -> None:
        """Fire one instance of a failed batch in a transaction of its own, if it is still due and no other
        sweep holds it; a timer whose path fails is parked."""
        claimed = False
        try:
            with self.core.db.transaction() as session:
                if session.scalar(self._still_due_query(instance_id, now)) is None:
                    return  # fired by another sweep since the batch rolled back, or being fired right now
                claimed = True
                with self.core.command(instance_id, TIMER, session=session) as ctx:
                    ctx.run_engine()
        except EngineError as exc:
            # recorded after the failed transaction is rolled back: it held the lock the record needs
            self._park_failed_timer(instance_id, exc.message, exc.details.get("element_id"))
            return
        except Exception as exc:  # e.g. a stored model that no longer loads: park it, keep sweeping the rest
            if not claimed:  # the database itself failed: the scheduler loop retries
                raise
            log.exception("timer of instance %s failed", instance_id)
            self._park_failed_timer(instance_id, f"{type(exc).__name__}: {exc}", None)
            return
        sweep.record_fire(instance_id, ctx.instance.next_timer_at, now)

    def _still_due_query(self, instance_id: str, now: datetime):
        query = select(ProcessInstance.id).where(ProcessInstance.id == instance_id,
                                                 ProcessInstance.status == InstanceStatus.RUNNING,
                                                 ProcessInstance.next_timer_at <= now)
        return query.with_for_update(skip_locked=True) if self.core.db.is_postgres else query

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

    def next_due_at(self, starts: bool = True) -> datetime | None:
        """When the earliest running timer (or, with `starts`, timer start) is due, so a sweep loop can sleep
        exactly until then. A plain read: on SQLite it does not take the write lock."""
        with self.core.db.reading() as session:
            instance_due = session.scalar(
                select(func.min(ProcessInstance.next_timer_at)).where(ProcessInstance.status == InstanceStatus.RUNNING)
            )
            start_due = session.scalar(select(func.min(StartTimer.next_due_at))) if starts else None
        return min((due for due in (instance_due, start_due) if due is not None), default=None)


def _move_on(session, schedule: StartTimer, now: datetime) -> None:
    """Move a schedule whose occurrence fired to its next occurrence, or remove it when none is left."""
    following = following_occurrence(schedule, now)
    if following is None:
        session.delete(schedule)
        return
    schedule.next_due_at = following.next_due_at
    schedule.remaining = following.remaining


class _BatchFailed(Exception):
    """A fire in a batch failed: the batch's transaction is rolled back and its instances fired one by one."""

    def __init__(self, claimed: list[str]):
        super().__init__(f"a timer of {len(claimed)} claimed instances failed")
        self.claimed = claimed


class _Sweep:
    """What the threads of one sweep share: how many instances they may still claim, what they fired, and the
    instances fired this sweep whose next timer is already due again (left to the next sweep, so an instance
    whose timer does not move on cannot keep a sweep busy)."""

    def __init__(self, limit: int):
        self.remaining = limit
        self.more_due = True
        self.fired: list[str] = []
        self._again: set[str] = set()
        self._lock = threading.Lock()

    def reserve(self, batch_size: int) -> int:
        """Take up to `batch_size` of the remaining budget (0 once it is spent or nothing more is due)."""
        with self._lock:
            size = min(batch_size, self.remaining) if self.more_due else 0
            self.remaining -= size
            return size

    def claimed(self, reserved: int, claimed: int) -> None:
        """Give back what a batch did not claim; a batch that came back short means nothing more is due now."""
        with self._lock:
            self.remaining += reserved - claimed
            if claimed < reserved:
                self.more_due = False

    def due_again(self) -> set[str]:
        with self._lock:
            return set(self._again)

    def record_fire(self, instance_id: str, next_timer_at: datetime | None, now: datetime) -> None:
        with self._lock:
            self.fired.append(instance_id)
            if next_timer_at is not None and next_timer_at <= now:
                self._again.add(instance_id)
