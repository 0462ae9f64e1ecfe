"""Timer sweep: fire due timers one instance per transaction; cost follows what is due, not what waits."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from orchestrator.actors import Actor
from orchestrator.engine import EngineCore
from orchestrator.errors import EngineError
from orchestrator.history import PendingEvent, append_events
from orchestrator.models import InstanceStatus, ProcessInstance

TIMER = Actor.system("timer")


class TimerCommands(EngineCore):
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
        if self.db.is_postgres:
            query = query.with_for_update(skip_locked=True)
        return query

    def fire_due_timers(self, limit: int | None = None) -> list[str]:
        """Fire every due timer (up to `limit` instances); sweeps on several machines skip each other's rows."""
        limit = limit or self.settings.timer_batch_size
        fired: list[str] = []
        seen: set[str] = set()
        while len(seen) < limit:
            now = self.now()
            try:
                with self.db.transaction() as session:
                    instance_id = session.scalar(self.due_instances_query(now, seen))
                    if instance_id is None:
                        break
                    seen.add(instance_id)
                    with self._command(instance_id, TIMER, session=session) as ctx:
                        ctx.run_engine()
            except EngineError as exc:
                # recorded after the failed transaction is rolled back: it held the lock the record needs
                self._record_timer_failure(instance_id, exc)
                continue
            fired.append(instance_id)
            self._wake(ctx.new_job_ids)
        return fired

    def _record_timer_failure(self, instance_id: str, exc: EngineError) -> None:
        """A timer whose path fails is pushed back a minute and recorded, so the sweep does not spin on it."""
        with self.db.transaction() as session:
            row = session.get(ProcessInstance, instance_id, with_for_update=True)
            row.next_timer_at = self.now() + timedelta(minutes=1)
            row.version += 1
            append_events(session, instance_id, self.now(),
                          [PendingEvent("timer_failed", TIMER.name, payload={"error": exc.message})])

    def next_due_at(self) -> datetime | None:
        """When the earliest running timer is due, so a sweep loop can sleep exactly until then."""
        with self.db.transaction() as session:
            return session.scalar(
                select(func.min(ProcessInstance.next_timer_at)).where(ProcessInstance.status == InstanceStatus.RUNNING)
            )
