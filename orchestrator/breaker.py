"""Circuit breakers per outside system: after N transient failures in a row its jobs pause, a probe
decides when the system is back, and then the paused jobs drain."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.db import Database
from orchestrator.models import CircuitBreaker, CircuitState, Job, JobStatus


class Breakers:
    def __init__(self, db: Database, threshold: int, cooldown_seconds: float,
                 wake_after_commit: Callable[[Session, list[int]], None]):
        self.db = db
        self.wake_after_commit = wake_after_commit  # released jobs are woken the one way: after the commit
        self.threshold = threshold
        self.cooldown = timedelta(seconds=cooldown_seconds)

    def _row(self, session: Session, system: str, now: datetime) -> CircuitBreaker:
        row = session.get(CircuitBreaker, system, with_for_update=True)
        if row is None:
            row = CircuitBreaker(system=system, state=CircuitState.CLOSED, consecutive_failures=0, updated_at=now)
            session.add(row)
        return row

    def _unlocked(self, system: str) -> CircuitBreaker | None:
        """The breaker as last committed, read without a lock: the jobs of one system, which nearly always
        find it closed, never queue on its row; only a change of the breaker takes the row's lock."""
        with self.db.reading() as session:
            return session.get(CircuitBreaker, system)

    def allow(self, system: str, now: datetime) -> tuple[bool, datetime | None]:
        """May a job call `system` now? When open, one probe is let through once the cool-down is over."""
        seen = self._unlocked(system)
        if seen is None or seen.state == CircuitState.CLOSED:
            return True, None
        with self.db.transaction() as session:
            row = session.get(CircuitBreaker, system, with_for_update=True)
            if row is None or row.state == CircuitState.CLOSED:
                return True, None
            if row.probe_at is not None and now >= row.probe_at:
                row.state = CircuitState.HALF_OPEN
                row.probe_at = now + self.cooldown  # if the probe hangs, another is allowed after this
                row.updated_at = now
                return True, None
            return False, row.probe_at

    def record_failure(self, system: str, now: datetime, error: str) -> None:
        with self.db.transaction() as session:
            row = self._row(session, system, now)
            row.consecutive_failures += 1
            row.last_error = error[:2000]
            row.updated_at = now
            if row.state == CircuitState.HALF_OPEN or row.consecutive_failures >= self.threshold:
                if row.state != CircuitState.OPEN:
                    row.opened_at = now
                row.state = CircuitState.OPEN
                row.probe_at = now + self.cooldown

    def record_success(self, system: str, now: datetime) -> list[int]:
        """Close the breaker; the paused jobs are released to run now and woken once that commits."""
        seen = self._unlocked(system)
        if seen is None or (seen.state == CircuitState.CLOSED and seen.consecutive_failures == 0):
            return []
        with self.db.transaction() as session:
            row = session.get(CircuitBreaker, system, with_for_update=True)
            if row is None or (row.state == CircuitState.CLOSED and row.consecutive_failures == 0):
                return []
            row.state = CircuitState.CLOSED
            row.consecutive_failures = 0
            row.probe_at = None
            row.updated_at = now
            released = list(session.scalars(select(Job.id).where(Job.paused_system == system,
                                                                 Job.status == JobStatus.PENDING)))
            if released:
                session.execute(update(Job).where(Job.id.in_(released))
                                .values(paused_system=None, next_attempt_at=now, enqueued_at=now))
                self.wake_after_commit(session, released)
            return released

    def states(self) -> list[CircuitBreaker]:
        with self.db.reading() as session:
            return list(session.scalars(select(CircuitBreaker).order_by(CircuitBreaker.system)))
