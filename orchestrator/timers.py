"""Timer sweep: fire due timers one instance per transaction; cost follows what is due, not what waits."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select

from orchestrator.actors import Actor
from orchestrator.engine import CommandGroup
from orchestrator.errors import EngineError
from orchestrator.models import Incident, InstanceStatus, ProcessInstance

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
        """Fire every due timer (up to `limit` instances); sweeps on several machines skip each other's rows."""
        limit = limit or self.core.settings.timer_batch_size
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

    def next_due_at(self) -> datetime | None:
        """When the earliest running timer is due, so a sweep loop can sleep exactly until then."""
        with self.core.db.transaction() as session:
            return session.scalar(
                select(func.min(ProcessInstance.next_timer_at)).where(ProcessInstance.status == InstanceStatus.RUNNING)
            )
