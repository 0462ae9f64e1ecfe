"""Read-only queries: nothing here locks or changes state."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.engine import EngineCore
from orchestrator.errors import NotFound
from orchestrator.history import verify_chain
from orchestrator.models import HistoryEvent, HumanTask, HumanTaskState, Incident, Job, ProcessInstance


class Queries(EngineCore):
    def get_instance(self, instance_id: str) -> ProcessInstance:
        with self.db.transaction() as session:
            row = session.get(ProcessInstance, instance_id)
            if row is None:
                raise NotFound(f"process instance '{instance_id}' does not exist")
            return row

    def open_human_tasks_for(self, instance_id: str) -> list[HumanTask]:
        with self.db.transaction() as session:
            return list(session.scalars(
                select(HumanTask)
                .where(HumanTask.instance_id == instance_id, HumanTask.state == HumanTaskState.READY)
                .order_by(HumanTask.created_at)
            ))

    def jobs_of(self, instance_id: str | None = None, status: str | None = None, limit: int = 500) -> list[Job]:
        with self.db.transaction() as session:
            query = select(Job).order_by(Job.id).limit(limit)
            if instance_id:
                query = query.where(Job.instance_id == instance_id)
            if status:
                query = query.where(Job.status == status)
            return list(session.scalars(query))

    def open_incidents(self, limit: int = 500) -> list[Incident]:
        with self.db.transaction() as session:
            return list(session.scalars(
                select(Incident).where(Incident.resolved_at.is_(None)).order_by(Incident.id).limit(limit)
            ))

    def history_of(self, instance_id: str) -> list[HistoryEvent]:
        with self.db.transaction() as session:
            return list(session.scalars(
                select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.seq)
            ))

    def verify_history(self, instance_id: str) -> int | None:
        """The seq of the first tampered event of an instance, or None when its chain is intact."""
        with self.db.transaction() as session:
            return verify_chain(session, instance_id)
