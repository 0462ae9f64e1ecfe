"""Camunda 7 external tasks: outside clients fetch, lock and report the jobs of topics in LOOPLINE_EXTERNAL_TOPICS.

An external task is a job row: fetchAndLock takes pending jobs the way a Loopline worker claims one (the lock
is the job's lease, `locked_by` names the client's worker), and complete, failure and bpmnError are the
`Jobs` commands Loopline's own workers use, so history, retries, incidents and BPMN errors are the same.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.camunda_variables import from_camunda, to_camunda
from orchestrator.engine import CommandGroup
from orchestrator.errors import EngineError, Forbidden, InvalidInput, NotFound, ProcessError
from orchestrator.jobs import Jobs
from orchestrator.models import (
    HistoryEvent,
    InstanceStatus,
    Job,
    JobStatus,
    ProcessDefinition,
    ProcessInstance,
)
from orchestrator.parser import extensions_of

MAX_WAIT_SECONDS = 30.0  # asyncResponseTimeout is capped here, so a held request never outlives a proxy
WORKER_ROLES = frozenset({"admin", "system", "integration"})
TOKEN_PREFIX = "external:"
GONE = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class WrongWorker(EngineError):
    """The task is not locked by the worker that reports on it."""

    status = 400


@dataclass(frozen=True)
class TopicRequest:
    """One topic of a fetchAndLock: lock its tasks for `lock_duration` ms, return the `variables` named."""

    name: str
    lock_duration: int
    variables: tuple[str, ...] | None = None
    business_key: str | None = None
    process_definition_keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FetchRequest:
    worker_id: str
    max_tasks: int
    topics: tuple[TopicRequest, ...]
    async_response_timeout: int | None = None  # ms to hold the request while nothing is there


@dataclass(frozen=True)
class LockedTask:
    """What fetchAndLock answers for one task, in Camunda's field names (see `as_camunda`)."""

    id: str
    topic: str
    worker_id: str
    activity_id: str
    execution_id: str
    process_instance_id: str
    process_definition_id: str
    process_definition_key: str
    business_key: str | None
    lock_expiration_time: datetime
    create_time: datetime
    retries: int | None
    error_message: str | None
    variables: dict[str, Any]

    def as_camunda(self) -> dict[str, Any]:
        return {
            "id": self.id, "topicName": self.topic, "workerId": self.worker_id,
            "activityId": self.activity_id, "activityInstanceId": f"{self.activity_id}:{self.execution_id}",
            "executionId": self.execution_id, "processInstanceId": self.process_instance_id,
            "processDefinitionId": self.process_definition_id, "processDefinitionKey": self.process_definition_key,
            "processDefinitionVersionTag": None, "businessKey": self.business_key, "tenantId": None,
            "lockExpirationTime": camunda_time(self.lock_expiration_time), "createTime": camunda_time(self.create_time),
            "retries": self.retries, "errorMessage": self.error_message, "errorDetails": None,
            "priority": 0, "suspended": False, "extensionProperties": {}, "variables": self.variables,
        }


def camunda_time(moment: datetime) -> str:
    """Camunda's date format: yyyy-MM-dd'T'HH:mm:ss.SSSZ (UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def lock_token(actor: Actor, worker_id: str) -> str:
    """`locked_by` of a task this client holds: the worker id, bound to the API key that fetched it."""
    caller = hashlib.sha256(actor.name.encode("utf-8")).hexdigest()[:12]
    return f"{TOKEN_PREFIX}{caller}:{worker_id}"


def worker_of(token: str | None) -> str | None:
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    return token[len(TOKEN_PREFIX):].split(":", 1)[-1]


class ExternalTasks(CommandGroup):
    def __init__(self, core, jobs: Jobs):
        super().__init__(core)
        self.jobs = jobs

    def fetch_and_lock(self, request: FetchRequest, *, actor: Actor) -> list[LockedTask]:
        """Lock up to max_tasks tasks of the topics; with asyncResponseTimeout, wait until one appears."""
        require_worker(actor)
        self._refuse_unknown_topics(request)
        if request.max_tasks == 0:
            return []
        timeout = min((request.async_response_timeout or 0) / 1000, MAX_WAIT_SECONDS)
        deadline = time.monotonic() + timeout
        bell = self.core.job_bell
        while True:
            mark = bell.mark()  # before reading, so a job committed after the read still wakes the wait
            locked = self._lock(request, actor)
            left = deadline - time.monotonic()
            if locked or left <= 0:
                return locked
            bell.wait(mark, min(left, self._next_due_in(request)))

    def complete(self, task_id: str, worker_id: str, variables: Any, local_variables: Any, *, actor: Actor) -> None:
        """Complete the service task with the client's variables (local ones only feed output mappings)."""
        require_worker(actor)
        values = from_camunda(variables, "variables")
        local = from_camunda(local_variables, "localVariables")
        job = self._held(task_id, actor, worker_id, "completed")
        result = {**local, **values} if local and self._maps_output(job) else values
        self._report(job, "completed", lambda: self.jobs.complete_job(job.id, token=job.locked_by, result=result))

    def failure(self, task_id: str, worker_id: str, error_message: str | None, error_details: str | None,
                retries: int, retry_timeout: int, *, actor: Actor) -> None:
        """Retry after retry_timeout ms while retries are left; at 0 retries the job becomes an incident."""
        require_worker(actor)
        job = self._held(task_id, actor, worker_id, "failed")
        error = error_message or "the external worker reported a failure"
        if error_details:
            error = f"{error}\n{error_details}"
        self._report(job, "failed", lambda: self.jobs.fail_job(
            job.id, token=job.locked_by, error=error, transient=True,
            retries_left=retries, retry_delay=retry_timeout / 1000))

    def bpmn_error(self, task_id: str, worker_id: str, error_code: str, error_message: str | None,
                   variables: Any, *, actor: Actor) -> None:
        """Throw a BPMN error at the task: its boundary event catches it, else it becomes an incident."""
        require_worker(actor)
        values = from_camunda(variables, "variables")
        job = self._held(task_id, actor, worker_id, "reported a BPMN error")
        self._report(job, "reported a BPMN error", lambda: self.jobs.fail_job(
            job.id, token=job.locked_by, error=error_message or error_code, code=error_code, transient=False,
            variables=values))

    def extend_lock(self, task_id: str, worker_id: str, new_duration: int, *, actor: Actor) -> None:
        """Hold the task `new_duration` ms from now; only its worker may, and only while the lock lasts."""
        require_worker(actor)
        job = self._held(task_id, actor, worker_id, "extended")
        now = self.core.now()
        if job.locked_until is None or job.locked_until < now:
            raise WrongWorker(f"Cannot extend a lock that expired: external task {task_id}")
        with self.core.db.transaction() as session:
            changed = session.execute(
                update(Job).where(Job.id == job.id, Job.status == JobStatus.RUNNING, Job.locked_by == job.locked_by)
                .values(locked_until=now + timedelta(milliseconds=new_duration))
                .execution_options(synchronize_session=False)).rowcount
        if changed != 1:
            raise WrongWorker(f"External Task {task_id} cannot be extended by worker '{worker_id}': it was released")

    def unlock(self, task_id: str, *, actor: Actor) -> None:
        """Release the lock without spending an attempt: the task can be fetched again at once."""
        require_worker(actor)
        job_id = self._external_job_id(task_id)
        with self.core.db.transaction() as session:
            job = session.get(Job, job_id)
            with self.core.command(job.instance_id, actor, session=session, statuses=None, restore=False) as ctx:
                session.refresh(job)
                if job.status in GONE:
                    raise NotFound(f"External task with id {task_id} does not exist")
                if job.status != JobStatus.RUNNING:
                    return
                released_from = worker_of(job.locked_by)
                job.status = JobStatus.PENDING
                job.attempts = max(job.attempts - 1, 0)
                job.locked_by = None
                job.locked_until = None
                job.next_attempt_at = ctx.now
                ctx.record("job_unlocked", job.element_id, job.task_id, job_id=job.id, worker=released_from)
                ctx.wake([job.id])

    def _lock(self, request: FetchRequest, actor: Actor) -> list[LockedTask]:
        now = self.core.now()
        token = lock_token(actor, request.worker_id)
        locked: list[LockedTask] = []
        with self.core.db.transaction() as session:
            for topic in request.topics:
                wanted = request.max_tasks - len(locked)
                if wanted <= 0:
                    break
                for job_id in self._candidates(session, topic, now, wanted):
                    task = self._lock_one(session, job_id, topic, token, request.worker_id, now)
                    if task is not None:
                        locked.append(task)
        return locked

    def _candidates(self, session: Session, topic: TopicRequest, now: datetime, limit: int) -> list[int]:
        query = (select(Job.id).join(ProcessInstance, ProcessInstance.id == Job.instance_id)
                 .where(Job.topic == topic.name, Job.status == JobStatus.PENDING, Job.next_attempt_at <= now,
                        ProcessInstance.status == InstanceStatus.RUNNING))
        if topic.business_key is not None:
            query = query.where(ProcessInstance.business_key == topic.business_key)
        if topic.process_definition_keys is not None:
            query = query.join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id).where(
                ProcessDefinition.key.in_(topic.process_definition_keys))
        query = query.order_by(Job.next_attempt_at, Job.id).limit(limit)
        if session.bind.dialect.name == "postgresql":  # concurrent fetches take different rows, not turns
            query = query.with_for_update(of=Job, skip_locked=True)
        return list(session.scalars(query))

    def _lock_one(self, session: Session, job_id: int, topic: TopicRequest, token: str, worker_id: str,
                  now: datetime) -> LockedTask | None:
        """The same conditional claim as a Loopline worker's: whoever updates the pending row first holds it."""
        until = now + timedelta(milliseconds=topic.lock_duration)
        claimed = session.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.PENDING, Job.next_attempt_at <= now)
            .values(status=JobStatus.RUNNING, attempts=Job.attempts + 1, locked_by=token, locked_until=until)
            .execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            return None
        job = session.get(Job, job_id)
        session.refresh(job)
        instance = session.get(ProcessInstance, job.instance_id)
        definition = session.get(ProcessDefinition, instance.definition_id)
        error = job.last_error.split("\n", 1)[0] if job.last_error else None
        return LockedTask(
            id=str(job.id), topic=job.topic, worker_id=worker_id, activity_id=job.element_id,
            execution_id=job.task_id, process_instance_id=instance.id,
            process_definition_id=f"{definition.key}:{definition.version}:{definition.id}",
            process_definition_key=definition.key, business_key=instance.business_key,
            lock_expiration_time=until, create_time=job.created_at,
            retries=self._retries_left(session, job), error_message=error,
            variables=to_camunda(job.input or {}, None if topic.variables is None else list(topic.variables)))

    def _retries_left(self, session: Session, job: Job) -> int | None:
        """What the client last said about retries (Camunda reports null until the first failure)."""
        if job.last_error is None:
            return None
        events = session.scalars(
            select(HistoryEvent.payload).where(HistoryEvent.instance_id == job.instance_id,
                                               HistoryEvent.task_id == job.task_id,
                                               HistoryEvent.type == "job_retry_scheduled")
            .order_by(HistoryEvent.seq.desc()).limit(20))
        for payload in events:
            if payload.get("job_id") == job.id:
                return payload.get("retries_left")
        return None

    def _next_due_in(self, request: FetchRequest) -> float:
        """Seconds until a pending job of these topics comes due (a retry's backoff) or a lock may be released."""
        now = self.core.now()
        names = [topic.name for topic in request.topics]
        with self.core.db.reading() as session:
            due = session.scalar(select(func.min(Job.next_attempt_at)).where(
                Job.topic.in_(names), Job.status == JobStatus.PENDING, Job.next_attempt_at > now))
            lease = session.scalar(select(func.min(Job.locked_until)).where(
                Job.topic.in_(names), Job.status == JobStatus.RUNNING))
        moments = [due] if due else []
        if lease:  # the relay sweep releases expired locks; look again one sweep after this one expires
            moments.append(max(lease, now) + timedelta(seconds=self.core.settings.relay_interval))
        if not moments:
            return MAX_WAIT_SECONDS
        return max((min(moments) - now).total_seconds(), 0.05)

    def _refuse_unknown_topics(self, request: FetchRequest) -> None:
        external = self.core.settings.external_topics
        unknown = [topic.name for topic in request.topics if topic.name not in external]
        if unknown:
            raise InvalidInput(f"topic(s) {', '.join(map(repr, unknown))} are not external: list them in "
                               "LOOPLINE_EXTERNAL_TOPICS (Loopline's own workers serve the others)",
                               {"topics.topicName": "not an external topic: " + ", ".join(unknown)})

    def _external_job_id(self, task_id: str) -> int:
        if not task_id.isdigit() or len(task_id) > 18:
            raise NotFound(f"External task with id {task_id} does not exist")
        with self.core.db.reading() as session:
            topic = session.scalar(select(Job.topic).where(Job.id == int(task_id)))
        if topic is None or topic not in self.core.settings.external_topics:
            raise NotFound(f"External task with id {task_id} does not exist")
        return int(task_id)

    def _held(self, task_id: str, actor: Actor, worker_id: str, verb: str) -> Job:
        """The job, if this worker (with this API key) holds it; Camunda's 404/400 otherwise."""
        job_id = self._external_job_id(task_id)
        with self.core.db.reading() as session:
            job = session.get(Job, job_id)
            session.expunge(job)
        if job.status in GONE:
            raise NotFound(f"External task with id {task_id} does not exist")
        if job.status != JobStatus.RUNNING or job.locked_by != lock_token(actor, worker_id):
            holder = worker_of(job.locked_by) if job.status == JobStatus.RUNNING else None
            raise WrongWorker(f"External Task {task_id} cannot be {verb} by worker '{worker_id}'. "
                              f"It is locked by worker '{holder}'.")
        return job

    def _report(self, job: Job, verb: str, command) -> None:
        """Run one Jobs command; a result the process cannot take parks the job as an incident, as for workers."""
        try:
            outcome = command()
        except ProcessError as exc:
            self.jobs.open_incident(job.id, exc.message, token=job.locked_by)
            raise
        if outcome == "dropped":
            raise NotFound(f"External task with id {job.id} does not exist any more: it could not be {verb}")

    def _maps_output(self, job: Job) -> bool:
        with self.core.db.reading() as session:
            instance = session.get(ProcessInstance, job.instance_id)
            parsed = self.core.definitions.get(session, instance.definition_id)
        for process in (parsed.spec, *parsed.subprocess_specs.values()):
            for task_spec in process.task_specs.values():
                if getattr(task_spec, "bpmn_id", None) == job.element_id:
                    return bool(extensions_of(task_spec).get("outputParameters"))
        return False


def require_worker(actor: Actor) -> None:
    """External-task clients are integrations (API keys with the integration role) or admins."""
    if not actor.roles & WORKER_ROLES:
        raise Forbidden(f"{actor.name} may not fetch or report external tasks: that needs an API key with the "
                        "integration or admin role", permission="EXTERNAL_TASKS", user=actor.name)
