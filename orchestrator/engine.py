"""The engine core: every command locks one instance, runs SpiffWorkflow, writes all effects, commits once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway, ParallelGateway
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.task import TaskState
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from integrations.config import IntegrationSettings
from integrations.registry import ConnectorRegistry, IntegrationContext, default_registry
from orchestrator.actors import Actor
from orchestrator.breaker import Breakers
from orchestrator.call_activities import RESOLVER_ATTRIBUTE
from orchestrator.called_processes import CalledProcesses
from orchestrator.case_metrics import keep_metrics, keep_status
from orchestrator.clock import Clock, SystemClock, using_clock
from orchestrator.compensation import LOG_KEY
from orchestrator.db import Database
from orchestrator.definitions import ModelFile, ParsedProcess, parse_bundle
from orchestrator.effects import all_tasks, apply_effects, json_safe, record_element_changes, snapshot
from orchestrator.element_stats import Pass, record_passes
from orchestrator.errors import Conflict, NotFound, ProcessError
from orchestrator.expressions.script_pool import shared_pool
from orchestrator.history import PendingEvent, append_events
from orchestrator.instance_rows import lock_instance, write_instance, write_rows
from orchestrator.job_bell import JobBell
from orchestrator.leases import Heartbeats
from orchestrator.models import (
    DeploymentResource,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
)
from orchestrator.pruning import PruneWhileRunning, prune_finished_tasks
from orchestrator.script_engine import INSTANCE_ATTRIBUTE, SandboxedScriptEngine
from orchestrator.serialization import StateSerializer
from orchestrator.settings import Settings
from orchestrator.step_state import record_state

log = logging.getLogger(__name__)

JobWaker = Callable[[list[int]], None]


@dataclass
class CommandContext:
    """Everything one command works on; effects and events are flushed by the engine at the end.

    `workflow` and `definition` are None in a command that does not restore the workflow (comments,
    claims, job and incident bookkeeping)."""

    engine: EngineCore
    session: Session
    instance: ProcessInstance
    workflow: BpmnWorkflow | None
    definition: ParsedProcess | None
    actor: Actor
    now: Any
    events: list[PendingEvent] = field(default_factory=list)
    before: dict = field(default_factory=dict)  # task states when the command began, to tell what it finished
    new_job_ids: list[int] = field(default_factory=list)
    passes: list[Pass] = field(default_factory=list)  # the elements this command finished, for their statistics
    initial_status: str | None = None  # the instance's status when the command began; None: a new instance

    def __post_init__(self) -> None:
        if self.instance not in self.session.new:
            self.initial_status = self.instance.status
        if self.workflow is not None:  # what JUEL's execution.getBusinessKey()/getProcessInstanceId() read
            setattr(self.workflow, INSTANCE_ATTRIBUTE, {"id": self.instance.id,
                                                        "business_key": self.instance.business_key})
            if self.definition is not None and self.definition.has_deployed_calls:
                setattr(self.workflow, RESOLVER_ATTRIBUTE, self.engine.called_processes.resolver(self.session))

    def record(self, type: str, element_id: str | None = None, task_id: str | None = None, **payload) -> None:
        self.events.append(PendingEvent(type, self.actor.name, element_id, task_id, json_safe(payload)))

    def wake(self, job_ids: Iterable[int]) -> None:
        """Have workers nudged for these jobs once the command's transaction has committed."""
        self.new_job_ids.extend(job_ids)

    def find_task(self, task_id: str):
        """The workflow's task with this id, or None (finished tasks are pruned from the tree)."""
        try:
            return self.workflow.get_task_from_id(UUID(task_id))
        except TaskNotFoundException:
            return None

    def run_engine(self) -> None:
        """Advance the workflow as far as it goes; a model error aborts the command (nothing changes)."""
        try:
            self.workflow.refresh_timers()
            pruner = PruneWhileRunning(self.workflow, lambda tasks: record_element_changes(self, self.before, tasks))
            self.workflow.do_engine_steps(did_complete_task=pruner)
        except SpiffWorkflowException as exc:
            raise process_error(exc) from exc


def _spiff_message(exc: SpiffWorkflowException) -> str:
    element = _spiff_element(exc)
    where = f"element '{element}': " if element else ""
    notes = " ".join(getattr(exc, "notes", []) or [])
    return f"{where}{exc}{(' ' + notes) if notes else ''}"


def _spiff_element(exc: SpiffWorkflowException) -> str | None:
    return getattr(getattr(getattr(exc, "task", None), "task_spec", None), "bpmn_id", None)


def process_error(exc: SpiffWorkflowException) -> ProcessError:
    """The command's error for a model that could not continue, naming the element where it stopped."""
    return ProcessError(_spiff_message(exc), element_id=_spiff_element(exc))


class DefinitionCache:
    """Parsed specs by definition id; deployments are immutable so entries never go stale."""

    def __init__(self, delegates: Callable[[], dict[str, str]] = dict):
        self._delegates = delegates  # Java delegate names → topics, applied as at deploy
        self._parsed: dict[int, ParsedProcess] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, definition_id: int) -> ParsedProcess:
        parsed = self._parsed.get(definition_id)
        if parsed is not None:
            return parsed
        definition = session.get(ProcessDefinition, definition_id)
        if definition is None:
            raise NotFound(f"process definition {definition_id} does not exist")
        files = [
            ModelFile(resource.name, resource.content)
            for resource in session.scalars(
                select(DeploymentResource).where(DeploymentResource.deployment_id == definition.deployment_id)
            )
        ]
        bundle = parse_bundle(files, max_bytes=10**9, delegates=self._delegates())
        with self._lock:
            self._parsed[definition_id] = bundle[definition.key]
        return bundle[definition.key]


class EngineCore:
    """What every command group shares: settings, database, clock, connectors, caches and the one write path
    (`command`) with its wake-after-commit."""

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database | None = None,
        clock: Clock | None = None,
        connectors: ConnectorRegistry | None = None,
        wake: JobWaker | None = None,
        integration_settings: IntegrationSettings | None = None,
    ):
        self.settings = settings
        self.db = db or Database(settings.database_url)
        self.clock = clock or SystemClock()
        self.integration_settings = integration_settings or IntegrationSettings.from_env(home=settings.home)
        self.connectors = connectors or default_registry(
            settings.connector_modules, IntegrationContext(self.integration_settings, self.db.sessions, self.now)
        )
        self.wake = wake
        self.job_bell = JobBell(settings.external_topics, settings.broker_url)  # external topics: no worker
        self.breakers = Breakers(self.db, self.integration_settings.breaker_threshold,
                                 self.integration_settings.breaker_cooldown_seconds, self.wake_after_commit)
        self.heartbeats = Heartbeats(self.db, self.now)  # renews the leases of the jobs this process runs
        self.definitions = DefinitionCache(self.connectors.delegates)
        self.called_processes = CalledProcesses(self.db, self.connectors.delegates)
        self.serializer = StateSerializer(self.called_processes.specs_for)
        self.script_pool = shared_pool(settings.script_processes, settings.script_memory_mb)
        self.script_engine = SandboxedScriptEngine(settings.script_time_limit, pool=self.script_pool)

    def now(self):
        return self.clock.now()

    def known_topics(self) -> Iterable[str]:
        return (*self.connectors.topics(), *self.settings.external_topics)

    @contextmanager
    def command(
        self,
        instance_id: str,
        actor: Actor,
        *,
        statuses: tuple[str, ...] | None = (InstanceStatus.RUNNING,),
        session: Session | None = None,
        restore: bool = True,
    ) -> Iterator[CommandContext]:
        """The one write path: lock the instance, restore its workflow, let the caller change it and record
        events, write every effect (version+1, history, state), wake workers after commit.

        Nothing else bumps an instance's version or appends its history. With `restore=False` the workflow is
        neither loaded nor stored (comments, claims, job and incident bookkeeping) and the command writes
        only if it recorded an event. `statuses=None` accepts any status. With an outer `session` the caller
        commits, and workers are woken after that commit."""
        with self._transaction(session) as tx:
            row = lock_instance(tx, instance_id)
            if row is None:
                raise NotFound(f"process instance '{instance_id}' does not exist")
            if statuses is not None and row.status not in statuses:
                raise Conflict(f"process instance '{instance_id}' is {row.status}", status=row.status)
            if not restore:
                ctx = CommandContext(self, tx, row, None, None, actor, self.now())
                yield ctx
                self._save_record(ctx)
                self.wake_after_commit(tx, ctx.new_job_ids)
                return
            parsed = self.definitions.get(tx, row.definition_id)
            with using_clock(self.clock):
                workflow = self.serializer.loads(row.state, parsed.spec, parsed.subprocess_specs, self.script_engine)
                ctx = CommandContext(self, tx, row, workflow, parsed, actor, self.now())
                before = ctx.before = snapshot(workflow)
                try:
                    yield ctx
                except SpiffWorkflowException as exc:  # raised by task.run()/complete(), e.g. a timer value refused
                    raise process_error(exc) from exc
                self.save(ctx, before)
            self.wake_after_commit(tx, ctx.new_job_ids)

    @contextmanager
    def _transaction(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
        else:
            with self.db.transaction() as tx:
                yield tx

    def save(self, ctx: CommandContext, before: dict, expected_version: int | None = None) -> None:
        """Write state, effects and history; refuse if another command saved the instance meanwhile.
        A model value that cannot be computed here (an assignee, group or priority expression naming a
        missing variable) refuses the command naming the element, like any other model error."""
        try:
            self._save(ctx, before, expected_version)
        except SpiffWorkflowException as exc:
            raise process_error(exc) from exc

    def _save(self, ctx: CommandContext, before: dict, expected_version: int | None) -> None:
        row = ctx.instance
        if row.status == InstanceStatus.RUNNING and ctx.workflow.is_completed():
            # Spiff's task searches stop at depth 1000: a long loop looks completed with a task still live
            _refuse_false_completion(ctx.workflow)
            row.status = InstanceStatus.COMPLETED
            row.ended_at = ctx.now
            ctx.record("instance_completed")
        new_jobs = apply_effects(ctx, before)
        prune_finished_tasks(ctx.workflow)  # after the effects saw every task, before the state is stored
        old_version = row.version if expected_version is None else expected_version
        variables = current_variables(ctx.workflow)
        record_state(ctx, row.variables, variables)
        values = dict(state=self.serializer.dumps(ctx.workflow), version=old_version + 1, variables=variables)
        is_new = write_rows(ctx, values, new_jobs)
        keep_metrics(ctx, row.variables, ctx.initial_status, variables,
                     created=[e.element_id for e in ctx.events if e.type == "task_created"],
                     finished=[p.element_id for p in ctx.passes])
        append_events(ctx.session, row.id, ctx.now, ctx.events, instance=row,  # sets the row's chain head
                      signing_key=self.settings.audit_signing_key)
        write_instance(ctx, values, old_version, is_new)  # state written once, with everything else changed
        record_passes(ctx)

    def _save_record(self, ctx: CommandContext) -> None:
        """Write a command that left the workflow alone: version+1 and its history, if it recorded anything."""
        if ctx.events:
            ctx.instance.version += 1
            append_events(ctx.session, ctx.instance.id, ctx.now, ctx.events,
                          signing_key=self.settings.audit_signing_key)
            keep_status(ctx)

    def wake_after_commit(self, session: Session, job_ids: list[int]) -> None:
        """The one way to wake workers: once the rows are committed, so a worker never misses a job."""
        if not job_ids:
            return
        job_ids, external_topics = self.job_bell.split(session, list(job_ids))

        @event.listens_for(session, "after_commit", once=True)
        def _after_commit(_session):
            self._wake(job_ids)
            self.job_bell.ring(external_topics)

    def _wake(self, job_ids: list[int]) -> None:
        """Nudge workers (only from `wake_after_commit`); a lost nudge is recovered by the relay sweep."""
        if job_ids and self.wake is not None:
            try:
                self.wake(list(job_ids))
            except Exception:  # the outbox row is safe; the relay re-enqueues it
                log.warning("could not enqueue jobs %s; the relay will retry", job_ids, exc_info=True)


class CommandGroup:
    """Commands or queries of one concept (tasks, jobs, timers, ...). Groups hold no state of their own:
    they share the core's unit of work, database, clock and caches, and name the other groups they use."""

    def __init__(self, core: EngineCore):
        self.core = core


def _refuse_false_completion(workflow: BpmnWorkflow) -> None:
    """Raise a ProcessError (the command changes nothing) if a task is still READY, WAITING or STARTED."""
    live = next((t for t in all_tasks(workflow)
                 if t.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED)), None)
    if live is not None:
        element = getattr(live.task_spec, "bpmn_id", None) or live.task_spec.name
        raise ProcessError(
            f"element '{element}' is still {TaskState.get_name(live.state)} although SpiffWorkflow reports the "
            "process as completed: its task tree passed depth 1000 (a loop ran too many times); nothing was "
            "changed", element_id=element)


def current_variables(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The instance's variables as a reader expects them: the data of its active or last tasks."""
    data: dict[str, Any] = {key: value for key, value in workflow.data.items() if key != LOG_KEY}
    active = [t for t in all_tasks(workflow) if t.state in (TaskState.READY, TaskState.STARTED, TaskState.WAITING)
              and getattr(t.task_spec, "bpmn_id", None)]
    if not active and workflow.last_task is not None:
        active = [workflow.last_task]
    for task in active:
        if isinstance(task.task_spec, ParallelGateway | InclusiveGateway) and task.state == TaskState.WAITING \
                and task.parent is not None:
            # a branch waiting at a join holds no data until the join merges: show what it brought
            data.update(task.parent.data)
    for task in active:
        data.update(task.data)
    return json_safe(data)
