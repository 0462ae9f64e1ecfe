"""Outbox relay: re-enqueue jobs whose broker message was lost and reclaim jobs of dead workers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, or_, select, update

from orchestrator.actors import Actor
from orchestrator.engine import CommandContext, CommandGroup
from orchestrator.jobs import add_incident
from orchestrator.models import InstanceStatus, Job, JobStatus, ProcessInstance

RELAY = Actor.system("relay")


class Relay(CommandGroup):
    def relay_jobs(self, limit: int = 500) -> list[int]:
        """Release expired leases, then enqueue due pending jobs not enqueued recently; returns their ids."""
        self._release_expired_leases(limit)
        now = self.core.now()
        stale = now - timedelta(seconds=self.core.settings.relay_stale_after)
        with self.core.db.transaction() as session:
            job_ids = list(session.scalars(
                select(Job.id)
                .where(
                    Job.status == JobStatus.PENDING,
                    Job.next_attempt_at <= now,
                    or_(Job.enqueued_at.is_(None), Job.enqueued_at < stale),
                    Job.topic.not_in(tuple(self.core.settings.external_topics)),  # fetched by outside clients
                    exists().where(ProcessInstance.id == Job.instance_id,
                                   ProcessInstance.status == InstanceStatus.RUNNING),
                )
                .order_by(Job.next_attempt_at)
                .limit(limit)
            ))
            if job_ids:
                session.execute(update(Job).where(Job.id.in_(job_ids)).values(enqueued_at=now))
            self.core.wake_after_commit(session, job_ids)
        return job_ids

    def _release_expired_leases(self, limit: int) -> None:
        """A worker that died mid-job leaves it RUNNING; after its lease the job is pending again, unless
        that was its last attempt: a job that kills every worker becomes an incident, not a loop."""
        now = self.core.now()
        with self.core.db.transaction() as session:
            expired = list(session.scalars(
                select(Job).where(Job.status == JobStatus.RUNNING, Job.locked_until < now).limit(limit)
            ))
            for job in expired:
                with self.core.command(job.instance_id, RELAY, session=session, statuses=None, restore=False) as ctx:
                    session.refresh(job)
                    if job.status != JobStatus.RUNNING or job.locked_until >= now:
                        continue
                    job.locked_by = None
                    job.locked_until = None
                    ctx.record("job_lease_expired", job.element_id, job.task_id, job_id=job.id, attempt=job.attempts)
                    if job.attempts >= self.core.settings.retry_policy(job.topic).max_attempts:
                        _park_poison_job(ctx, job)
                    else:
                        job.status = JobStatus.PENDING
                        job.enqueued_at = None
                        job.last_error = "worker lost (lease expired); job released for another attempt"


def _park_poison_job(ctx: CommandContext, job: Job) -> None:
    """Every attempt lost its worker: open an incident so the job is not handed to the next worker."""
    job.status = JobStatus.INCIDENT
    job.finished_at = ctx.now
    job.last_error = (f"worker lost on each of {job.attempts} attempts (lease expired every time); "
                      "not retried so it cannot take down more workers")
    add_incident(ctx, job, job.last_error)
