"""Job commands: claim, run, complete, fail (transient → retry with backoff, business → BPMN error), incidents."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.task import TaskState
from sqlalchemy import Update, bindparam, case, exists, func, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from integrations.registry import BusinessError, JobContext, NeedsDecision, RetryLater
from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.engine import CommandContext, CommandGroup
from orchestrator.error_events import error_catcher
from orchestrator.errors import Conflict, EngineError, NotFound
from orchestrator.instance_rows import lock_instance
from orchestrator.models import Incident, InstanceStatus, Job, JobStatus, ProcessInstance
from orchestrator.parser import extensions_of
from orchestrator.settings import RetryPolicy
from orchestrator.translation import authored_parameters

log = logging.getLogger(__name__)
WORKER = Actor.system("worker")
ENDED = (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds until `locked_until`; `token` proves it when reporting back."""

    id: int
    token: str
    topic: str
    input: dict[str, Any]
    context: JobContext


def _of_instance(column):
    """A column of the job's instance, as a scalar subquery (SQLite's RETURNING names only the updated table)."""
    return select(column).where(ProcessInstance.id == Job.instance_id).scalar_subquery().label(column.key)


def backoff_delay(attempt: int, policy: RetryPolicy) -> float:
    """Exponential backoff with equal jitter, so retries of many jobs spread out."""
    ceiling = min(policy.backoff_max, policy.backoff_base * (2 ** max(attempt - 1, 0)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@cache
def _claim_statement(lease_topics: tuple[str, ...], external_topics: tuple[str, ...], postgres: bool) -> Update:
    """The claim as one UPDATE … RETURNING, built once per configuration (so its cache key is computed once).
    Parameters: job_id, now, token, locked_until and lease_<n> for the n-th of `lease_topics`.

    On PostgreSQL the claim commits without waiting for its WAL flush (synchronous_commit off for this one
    statement's transaction): a claim lost in a database crash leaves the job pending, to run again with the
    same idempotency key, exactly as when a worker dies holding it; and the durable commit of the job's
    outcome flushes the claim before it. That spares every job one disk flush."""
    when = Job.locked_until.type
    locked_until = bindparam("locked_until", type_=when)
    if lease_topics:
        locked_until = case({topic: bindparam(f"lease_{n}", type_=when) for n, topic in enumerate(lease_topics)},
                            value=Job.topic, else_=locked_until)
    conditions = [Job.id == bindparam("job_id"), Job.status == JobStatus.PENDING,
                  Job.next_attempt_at <= bindparam("now"),
                  exists().where(ProcessInstance.id == Job.instance_id, ProcessInstance.status == InstanceStatus.RUNNING)]
    if external_topics:  # an outside client fetches those
        conditions.append(Job.topic.not_in(external_topics))
    if postgres:  # set for this statement's own transaction only (is_local)
        conditions.append(func.set_config("synchronous_commit", "off", True).is_not(None))
    return (update(Job).where(*conditions)
            .values(status=JobStatus.RUNNING, attempts=Job.attempts + 1,
                    locked_by=bindparam("token", type_=Job.locked_by.type), locked_until=locked_until)
            .returning(Job.instance_id, Job.element_id, Job.topic, Job.input, Job.attempts, Job.idempotency_key,
                       _of_instance(ProcessInstance.business_key), _of_instance(ProcessInstance.definition_id)))


class Jobs(CommandGroup):
    def claim_job(self, job_id: int, worker: str) -> ClaimedJob | None:
        """Take a due, pending job of a running instance; None if someone else has it or it is done."""
        now = self.core.now()
        token = f"{worker}:{job_id}:{now.timestamp()}"
        settings = self.core.settings
        leases = self._longer_leases()
        topics = tuple(sorted(leases))
        # one statement claims the job, if it is still pending and its instance runs, and returns what the
        # connector needs: no ORM rows, nothing read before or after, no transaction around it
        with self.core.db.statement() as connection:
            claimed = connection.execute(_claim_statement(topics, tuple(settings.external_topics),
                                                          connection.dialect.name == "postgresql"), {
                "job_id": job_id, "now": now, "token": token,
                "locked_until": now + timedelta(seconds=settings.default_retry.timeout + settings.job_lease_seconds),
                **{f"lease_{n}": now + timedelta(seconds=leases[topic]) for n, topic in enumerate(topics)},
            }).one_or_none()
        if claimed is None:
            return None
        with self.core.db.reading() as session:  # the definition is cached: a query only on its first use
            authored = self._authored_input(session, claimed.definition_id, claimed.element_id)
        context = JobContext(job_id, claimed.instance_id, claimed.business_key, claimed.element_id, claimed.topic,
                             claimed.attempts, claimed.idempotency_key, authored_input=authored)
        return ClaimedJob(job_id, token, claimed.topic, dict(claimed.input or {}), context)

    def lease_seconds(self, topic: str) -> float:
        """How long a claim holds: the topic's timeout (its retry policy's or its connector's, the longer, so a
        long campaign is not handed to a second worker while it still sends) plus the lease slack."""
        connector = self.core.connectors.connectors.get(topic)
        timeout = max(self.core.settings.retry_policy(topic).timeout, getattr(connector, "timeout", 0) or 0)
        return timeout + self.core.settings.job_lease_seconds

    def _longer_leases(self) -> dict[str, float]:
        """The topics whose lease is not the default one, with theirs."""
        default = self.core.settings.default_retry.timeout + self.core.settings.job_lease_seconds
        topics = {*self.core.settings.topic_retry, *self.core.connectors.connectors}
        return {topic: lease for topic in topics if (lease := self.lease_seconds(topic)) != default}

    def _authored_input(self, session: Session, definition_id: int, element_id: str) -> dict[str, Any]:
        """The task's input parameters as written in the model, so a connector knows its template from data."""
        parsed = self.core.definitions.get(session, definition_id)
        for process in (parsed.spec, *parsed.subprocess_specs.values()):
            for task_spec in process.task_specs.values():
                if getattr(task_spec, "bpmn_id", None) == element_id:
                    return authored_parameters(extensions_of(task_spec).get("inputParameters") or [])
        return {}

    def run_job(self, job_id: int, worker: str) -> str:
        """Claim, run the topic's connector, report the outcome; safe to call twice for the same job."""
        claimed = self.claim_job(job_id, worker)
        if claimed is None:
            return "skipped"
        try:
            connector = self.core.connectors.get(claimed.topic)
        except LookupError as exc:
            return self._report(self.fail_job, claimed, error=str(exc), transient=False)
        system = getattr(connector, "system", None)
        if system:
            try:
                allowed, probe_at = self.core.breakers.allow(system, self.core.now())
            except Exception as exc:  # e.g. the database went away: give the job back now, not after its lease
                return self._report(self.fail_job, claimed, error=f"{type(exc).__name__}: {exc}", transient=True)
            if not allowed:
                return self._until_stored(claimed, lambda: self._pause(claimed, system, probe_at))
        try:
            with self.core.heartbeats.keep(claimed.id, claimed.token, self.lease_seconds(claimed.topic),
                                           claimed.context.claim_lost):
                result = connector.run(claimed.input, claimed.context)
        except BusinessError as exc:
            self._system_answered(system)
            return self._report(self.fail_job, claimed, error=exc.message, code=exc.code, transient=False)
        except RetryLater as exc:
            until, reason = self.core.now() + timedelta(seconds=exc.after), str(exc)
            return self._until_stored(claimed, lambda: self._pause(claimed, None, until, reason=reason))
        except NeedsDecision as exc:
            self._report(self.open_incident, claimed, message=str(exc))
            return "incident"
        except Exception as exc:  # transient by default: timeouts, 5xx, broken connections
            log.info("job %s (%s) failed: %s", job_id, claimed.topic, exc)
            if system:
                self.core.breakers.record_failure(system, self.core.now(), f"{type(exc).__name__}: {exc}")
            return self._report(self.fail_job, claimed, error=f"{type(exc).__name__}: {exc}", transient=True)
        self._system_answered(system)
        return self._report(self.complete_job, claimed, result=result)

    def _system_answered(self, system: str | None) -> None:
        """Any answer from the system (even a business 'no') closes its breaker and releases paused jobs."""
        if system:
            self.core.breakers.record_success(system, self.core.now())

    def _pause(self, claimed: ClaimedJob, system: str | None, until, reason: str | None = None) -> str:
        """Give the job back without spending an attempt; it runs again when the breaker lets it (or, with no
        `system`, at `until`: the connector waits for something outside)."""
        with self.core.db.transaction() as session:
            job = self._job(session, claimed.id)
            with self.core.command(job.instance_id, WORKER, session=session, statuses=None, restore=False) as ctx:
                session.refresh(job)
                if job.status != JobStatus.RUNNING or job.locked_by != claimed.token:
                    return "dropped"
                job.status = JobStatus.PENDING
                job.attempts -= 1
                job.paused_system = system
                job.next_attempt_at = until or ctx.now
                job.locked_until = None
                job.enqueued_at = None
                ctx.record("job_paused", job.element_id, job.task_id, job_id=job.id, system=system,
                           until=(until or ctx.now).isoformat(), **({"reason": reason} if reason else {}))
        return "paused"

    def _report(self, command, claimed: ClaimedJob, **kwargs) -> str:
        try:
            return self._until_stored(claimed, lambda: command(claimed.id, token=claimed.token, **kwargs))
        except EngineError as exc:
            # the process could not continue with this result: park it as an incident, keep the instance
            message = exc.message
            self._until_stored(claimed, lambda: self.open_incident(claimed.id, message, token=claimed.token))
            return "incident"

    def _until_stored(self, claimed: ClaimedJob, report: Callable[[], str | None]) -> str | None:
        """Run `report` (one command), again after a lost database connection, for up to the job's lease
        slack: an outcome that already arrived (a connector's side effect happened) is kept, not thrown away
        to be redone after the lease. A command whose commit was lost is found done by its retry, which
        then drops the result instead of applying it twice."""
        patience = time.monotonic() + self.core.settings.job_lease_seconds
        delay = 0.05
        while True:
            try:
                return report()
            except (OperationalError, InterfaceError) as exc:
                if time.monotonic() + delay > patience:
                    raise
                log.warning("job %s: the database did not answer (%s); reporting again in %.2f s",
                            claimed.id, type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def complete_job(self, job_id: int, *, token: str | None, result: dict[str, Any] | None) -> str:
        """Hand a connector's result to the waiting service task; late or stray results are dropped."""
        if result is not None and not isinstance(result, dict):
            result = {"result": result}
        return self._on_held_task(job_id, token, lambda ctx, job, task: _apply_result(ctx, job, task, result or {}))

    def fail_job(self, job_id: int, *, token: str | None, error: str, code: str | None = None,
                 transient: bool = True, retries_left: int | None = None, retry_delay: float | None = None,
                 variables: dict[str, Any] | None = None) -> str:
        """Transient: retry later or open an incident when attempts run out. Business: throw a BPMN error.

        An external-task client decides itself how many retries are left and when (`retries_left`,
        `retry_delay` in seconds) and may hand `variables` to the error boundary; Loopline's own workers
        follow the topic's retry policy."""
        if transient:
            return self._fail_transient(job_id, token, error, retries_left, retry_delay)
        return self._on_held_task(job_id, token, lambda ctx, job, task: self._throw_bpmn_error(
            ctx, job, task, code, error, variables or {}))

    def _on_held_task(self, job_id: int, token: str | None, apply) -> str:
        """Run `apply(ctx, job, task)` as one command if the job is still this worker's and its task waits."""
        with self.core.db.transaction() as session:
            # lock the job's instance first, then read the job once: it shows what earlier lock holders wrote
            instance = lock_instance(session, job_id, of=Job)
            job = self._job(session, job_id)
            if instance.status in ENDED and self._dropped_for_ended_instance(session, job):
                return "dropped"
            with self.core.command(job.instance_id, WORKER, session=session,
                               statuses=(InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)) as ctx:
                task = self._held_task(ctx, job, token)
                outcome = "dropped" if task is None else apply(ctx, job, task)
        return outcome

    def _throw_bpmn_error(self, ctx: CommandContext, job: Job, task, code: str | None, error: str,
                          variables: dict[str, Any]) -> str:
        """A business rejection: an error boundary event or error event subprocess catches it, as Camunda 7
        looks for one (error_events.error_catcher), or it becomes an incident."""
        boundary = error_catcher(task, code)
        job.last_error = f"{code}: {error}" if code else error
        job.finished_at = ctx.now
        job.locked_until = None
        if boundary is None:
            job.status = JobStatus.INCIDENT
            message = f"BPMN error '{code}' is not caught by a boundary event: {error}" if code else error
            add_incident(ctx, job, message)
            return "incident"
        job.status = JobStatus.FAILED
        boundary.data.update(variables)
        event = BpmnEvent(ErrorEventDefinition(code, code=code), payload={"errorCode": code, "errorMessage": error})
        boundary.task_spec.catch(boundary, event)
        boundary.task_spec._update(boundary)
        ctx.record("job_failed", element_id=job.element_id, task_id=job.task_id, job_id=job.id,
                   error_code=code, error=error, caught_by=boundary.task_spec.bpmn_id,
                   **({"variables": variables} if variables else {}))  # what a re-execution hands the boundary
        ctx.run_engine()
        return "failed"

    def _fail_transient(self, job_id: int, token: str | None, error: str, retries_left: int | None,
                        retry_delay: float | None) -> str:
        with self.core.db.transaction() as session:
            job = self._job(session, job_id)
            with self.core.command(job.instance_id, WORKER, session=session, statuses=None, restore=False) as ctx:
                if _drop_for_ended_instance(ctx, job):
                    return "dropped"
                session.refresh(job)
                if job.status != JobStatus.RUNNING or (token and job.locked_by != token):
                    return "dropped"
                policy = self.core.settings.retry_policy(job.topic)
                job.last_error = error
                job.locked_until = None
                if (job.attempts >= policy.max_attempts) if retries_left is None else (retries_left <= 0):
                    job.status = JobStatus.INCIDENT
                    job.finished_at = ctx.now
                    add_incident(ctx, job, f"gave up after {job.attempts} attempts: {error}")
                    return "incident"
                delay = backoff_delay(job.attempts, policy) if retry_delay is None else retry_delay
                job.status = JobStatus.PENDING
                job.next_attempt_at = ctx.now + timedelta(seconds=delay)
                job.enqueued_at = None
                ctx.record("job_retry_scheduled", job.element_id, job.task_id, job_id=job.id, attempt=job.attempts,
                           delay_seconds=round(delay, 3), error=error,
                           **({} if retries_left is None else {"retries_left": retries_left}))
                return "retry"

    def _dropped_for_ended_instance(self, session: Session, job: Job) -> bool:
        """True (after recording it) when the instance ended while the job ran: the result has nowhere to go."""
        with self.core.command(job.instance_id, WORKER, session=session, statuses=None, restore=False) as ctx:
            return _drop_for_ended_instance(ctx, job)

    def open_incident(self, job_id: int, message: str, *, token: str | None = None) -> None:
        """Park a job whose outcome the process could not take (its instance is left as it was)."""
        with self.core.db.transaction() as session:
            job = self._job(session, job_id)
            with self.core.command(job.instance_id, WORKER, session=session, statuses=None, restore=False) as ctx:
                session.refresh(job)
                if job.status != JobStatus.RUNNING or (token and job.locked_by != token):
                    return
                job.status = JobStatus.INCIDENT
                job.locked_until = None
                job.last_error = message
                add_incident(ctx, job, message)

    def retry_incident(self, incident_id: int, *, actor: Actor) -> Incident:
        """Resolve an incident by running its job again from attempt one."""
        require(actor, Permission.RETRY_INCIDENTS)
        with self.core.db.transaction() as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                raise NotFound(f"incident {incident_id} does not exist")
            with self.core.command(incident.instance_id, actor, session=session, statuses=None, restore=False) as ctx:
                session.refresh(incident)
                if incident.resolved_at is not None:
                    raise Conflict(f"incident {incident_id} is already resolved")
                if incident.job_id is None:  # a timer whose path failed: let the sweep fire it again now
                    _retry_timer_incident(ctx, incident)
                else:
                    self._retry_job_incident(ctx, incident)
        return incident

    def _retry_job_incident(self, ctx: CommandContext, incident: Incident) -> None:
        job = ctx.session.get(Job, incident.job_id)
        if job is None or job.status != JobStatus.INCIDENT:
            raise Conflict(f"incident {incident.id} has no job waiting to be retried")
        job.status = JobStatus.PENDING
        job.attempts = 0
        job.next_attempt_at = ctx.now
        job.enqueued_at = ctx.now
        job.finished_at = None
        incident.resolved_at = ctx.now
        incident.resolved_by = ctx.actor.name
        ctx.record("incident_retried", job.element_id, job.task_id, incident_id=incident.id, job_id=job.id)
        ctx.wake([job.id])

    def _job(self, session: Session, job_id: int) -> Job:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job

    def _held_task(self, ctx: CommandContext, job: Job, token: str | None):
        """The STARTED task a result belongs to, or None after recording why the result is dropped."""
        if job.status != JobStatus.RUNNING or (token and job.locked_by != token):
            ctx.record("job_result_dropped", element_id=job.element_id, task_id=job.task_id, job_id=job.id,
                       reason=f"job is {job.status} and no longer held by this worker")
            return None
        task = ctx.find_task(job.task_id)
        if task is None or task.state != TaskState.STARTED:
            state = TaskState.get_name(task.state) if task is not None else "gone"
            job.status = JobStatus.CANCELLED
            job.finished_at = ctx.now
            job.locked_until = None
            ctx.record("job_result_dropped", element_id=job.element_id, task_id=job.task_id, job_id=job.id,
                       reason=f"task is {state}")
            return None
        return task


def add_incident(ctx: CommandContext, job: Job, message: str) -> None:
    """Open an incident for `job` and record it in the command; the caller sets the job's status."""
    incident = Incident(instance_id=job.instance_id, job_id=job.id, element_id=job.element_id,
                        message=message, created_at=ctx.now)
    ctx.session.add(incident)
    ctx.session.flush()
    ctx.record("incident_opened", job.element_id, job.task_id, incident_id=incident.id, job_id=job.id,
               message=message)


def _drop_for_ended_instance(ctx: CommandContext, job: Job) -> bool:
    """True (after recording it) when the instance ended while the job ran: the result has nowhere to go."""
    if ctx.instance.status not in ENDED:
        return False
    ctx.session.refresh(job)
    if job.status in (JobStatus.RUNNING, JobStatus.PENDING):
        job.status = JobStatus.CANCELLED
        job.finished_at = ctx.now
        job.locked_until = None
    ctx.record("job_result_dropped", job.element_id, job.task_id, job_id=job.id,
               reason=f"instance is {ctx.instance.status}")
    return True


def _retry_timer_incident(ctx: CommandContext, incident: Incident) -> None:
    """Let the sweep fire the failed timer again now."""
    instance = ctx.instance
    if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
        raise Conflict(f"process instance '{instance.id}' is {instance.status}", status=instance.status)
    instance.next_timer_at = ctx.now
    incident.resolved_at = ctx.now
    incident.resolved_by = ctx.actor.name
    ctx.record("incident_retried", incident.element_id, incident_id=incident.id)


def _apply_result(ctx: CommandContext, job: Job, task, result: dict[str, Any]) -> str:
    values = _map_output(ctx, task, result)
    task.data.update(values)
    task.complete()
    job.status = JobStatus.COMPLETED
    job.result = values
    job.finished_at = ctx.now
    job.locked_until = None
    # `received`: the connector's result as it came, when output parameters picked from it (a re-execution
    # maps it again); otherwise `result` is what came
    ctx.record("job_completed", element_id=job.element_id, task_id=job.task_id, job_id=job.id,
               topic=job.topic, attempt=job.attempts, result=values,
               **({} if values is result else {"received": result}))
    ctx.run_engine()
    return "completed"


def _map_output(ctx: CommandContext, task, result: dict[str, Any]) -> dict[str, Any]:
    """camunda:outputParameters pick and rename result values; without them the whole result is merged."""
    parameters = extensions_of(task.task_spec).get("outputParameters")
    if not parameters:
        return result
    names = {**task.data, **result}
    values = {}
    for parameter in parameters:
        expression = parameter.get("expression")
        if isinstance(expression, str):
            values[parameter["name"]] = ctx.engine.script_engine.evaluator.evaluate(expression, names)
    return values
