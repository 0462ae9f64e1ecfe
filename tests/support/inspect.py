"""Read-side helpers for tests: what the database says about an instance."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.models import HistoryEvent, HumanTask, HumanTaskState, Job, JobStatus, ProcessInstance
from orchestrator.service import Engine


def instance(engine: Engine, instance_id: str) -> ProcessInstance:
    with engine.db.transaction() as session:
        return session.get(ProcessInstance, instance_id)


def open_tasks(engine: Engine, instance_id: str) -> list[HumanTask]:
    with engine.db.transaction() as session:
        return list(session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.state == HumanTaskState.READY)))


def jobs(engine: Engine, instance_id: str, status: str | None = None) -> list[Job]:
    with engine.db.transaction() as session:
        query = select(Job).where(Job.instance_id == instance_id).order_by(Job.id)
        if status:
            query = query.where(Job.status == status)
        return list(session.scalars(query))


def history(engine: Engine, instance_id: str) -> list[HistoryEvent]:
    with engine.db.transaction() as session:
        return list(session.scalars(
            select(HistoryEvent).where(HistoryEvent.instance_id == instance_id).order_by(HistoryEvent.seq)))


def completed_elements(engine: Engine, instance_id: str) -> list[str]:
    """The path taken: element ids in completion order."""
    return [e.element_id for e in history(engine, instance_id) if e.type == "element_completed"]


def run_pending_jobs(engine: Engine, instance_id: str | None = None, worker: str = "test-worker") -> list[str]:
    """Run every due pending job once, as a worker would; returns the outcomes."""
    with engine.db.transaction() as session:
        query = select(Job.id).where(Job.status == JobStatus.PENDING)
        if instance_id:
            query = query.where(Job.instance_id == instance_id)
        ids = list(session.scalars(query.order_by(Job.id)))
    return [engine.jobs.run_job(job_id, worker) for job_id in ids]
