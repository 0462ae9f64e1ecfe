"""Instance commands: start (also by message), cancel, suspend, resume."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import (
    MessageEventDefinition as SpiffMessageEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import TaskState
from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.clock import using_clock
from orchestrator.effects import all_tasks
from orchestrator.engine import CommandContext, CommandGroup
from orchestrator.errors import Conflict, InvalidInput, NotFound, ProcessError
from orchestrator.forms import FormValidationError, check_start_variables
from orchestrator.models import InstanceStatus, Job, JobStatus, ProcessDefinition, ProcessInstance
from orchestrator.parser import MessageEventDefinition
from orchestrator.timer_starts import enter_start_events

VARIABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")


def check_variables(variables: Any, field: str = "variables") -> dict[str, Any]:
    """Variables must be a JSON object whose keys expressions can name."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise InvalidInput(f"{field} must be an object", {field: "must be an object"})
    bad = {f"{field}.{k}": "is not a valid variable name (letters, digits, _; starts with a letter)"
           for k in variables if not isinstance(k, str) or not VARIABLE_NAME.match(k)}
    if bad:
        raise InvalidInput("invalid variable names", bad)
    return variables


def _start_by_message(ctx: CommandContext, name: str, payload: dict[str, Any]) -> None:
    """Enter through the message start event only: other start events (a manual one) are cancelled."""
    workflow = ctx.workflow
    progressed = True
    while progressed:  # run the structural start tasks until the start events themselves are reached
        progressed = False
        for task in workflow.get_tasks(state=TaskState.READY):
            if not isinstance(task.task_spec, StartEvent):
                task.run()
                progressed = True
    for task in list(all_tasks(workflow)):
        definition = getattr(task.task_spec, "event_definition", None)
        matches = isinstance(definition, SpiffMessageEventDefinition) and definition.name == name
        if isinstance(task.task_spec, StartEvent) and not matches and not task.has_state(TaskState.FINISHED_MASK):
            task.cancel()
    try:
        workflow.send_event(BpmnEvent(MessageEventDefinition(name), {"payload": payload}))
    except WorkflowException as exc:
        raise ProcessError(f"the process cannot be started by message '{name}': {exc}") from exc
    ctx.record("message_correlated", message_name=name, variables=payload, started=True)
    ctx.run_engine()


# Built once (every start reads it); plain rows, as a start only reads the definition's columns.
_DEFINITIONS = ProcessDefinition.__table__
_LATEST = (select(_DEFINITIONS).where(_DEFINITIONS.c.key == bindparam("key"))
           .order_by(_DEFINITIONS.c.version.desc()).limit(1))
_VERSION = select(_DEFINITIONS).where(_DEFINITIONS.c.key == bindparam("key"),
                                      _DEFINITIONS.c.version == bindparam("version"))


def latest_definition(session: Session, key: str, version: int | None = None) -> Row:
    """The latest (or given) version of a deployed process, as a row of its columns; NotFound otherwise."""
    if version is None:
        definition = session.execute(_LATEST, {"key": key}).first()
    else:
        definition = session.execute(_VERSION, {"key": key, "version": version}).first()
    if definition is None:
        suffix = f" version {version}" if version is not None else ""
        raise NotFound(f"process definition '{key}'{suffix} is not deployed")
    return definition


class Instances(CommandGroup):
    def start_instance(
        self,
        key: str,
        *,
        actor: Actor,
        business_key: str | None = None,
        variables: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        version: int | None = None,
    ) -> ProcessInstance:
        """Start the latest (or given) version; the same idempotency key returns the same instance."""
        require(actor, Permission.START)
        variables = check_variables(variables)
        return self.start_once(key, idempotency_key, lambda session: self._start_checked(
            session, latest_definition(session, key, version), actor, business_key, variables, idempotency_key))

    def _start_checked(self, session: Session, definition: Row | ProcessDefinition, actor: Actor, business_key: str | None,
                       variables: dict[str, Any], idempotency_key: str | None) -> ProcessInstance:
        """Start with the variables checked by the start event's form (types, required, patterns), as the form
        page checks them; InvalidInput names every missing or invalid variable before anything is stored."""
        parsed = self.core.definitions.get(session, definition.id)
        try:
            variables = check_start_variables(parsed.start_form, variables, now=self.core.now())
        except FormValidationError as exc:
            raise InvalidInput(f"'{definition.key}' cannot start with these variables: {exc}",
                               {f"variables.{name}": problem for name, problem in exc.errors.items()}) from exc
        if not business_key and parsed.business_key_field:  # as the start page does: the case is findable by it
            business_key = str(variables.get(parsed.business_key_field) or "")[:200] or None
            if business_key and running_case_with_key(session, definition.key, business_key):
                raise InvalidInput(f"a running '{definition.key}' case already has the key {business_key}",
                                   {f"variables.{parsed.business_key_field}":
                                    f"{business_key} is already in use by a running case"})
        return self.start_in(session, definition, actor, business_key, variables, idempotency_key)

    def start_once(self, key: str, idempotency_key: str | None,
                   start: Callable[[Session], ProcessInstance]) -> ProcessInstance:
        """Run `start` in a transaction unless the idempotency key already started an instance; when a
        concurrent request with the same key wins the race, return its instance."""
        try:
            with self.core.db.transaction() as session:
                existing = self._by_idempotency_key(session, key, idempotency_key)
                if existing is not None:
                    return existing
                return start(session)
        except IntegrityError:
            with self.core.db.transaction() as session:
                existing = self._by_idempotency_key(session, key, idempotency_key)
                if existing is None:
                    raise
                return existing

    def _by_idempotency_key(self, session: Session, key: str, idempotency_key: str | None):
        if not idempotency_key:
            return None
        existing = session.scalars(
            select(ProcessInstance).where(ProcessInstance.idempotency_key == idempotency_key)
        ).first()
        if existing is not None:
            definition = session.get(ProcessDefinition, existing.definition_id)
            if definition.key != key:
                raise Conflict(f"idempotency key '{idempotency_key}' was already used to start '{definition.key}'")
        return existing

    def start_in(
        self,
        session: Session,
        definition: Row | ProcessDefinition,
        actor: Actor,
        business_key: str | None,
        variables: dict[str, Any],
        idempotency_key: str | None,
        message: tuple[str, dict[str, Any]] | None = None,
        instance_id: str | None = None,
        timer_start: str | None = None,
    ) -> ProcessInstance:
        """Create and run a new instance in the caller's transaction (starts by API, form or message; by the
        timer sweep through the timer start event `timer_start`)."""
        parsed = self.core.definitions.get(session, definition.id)
        if parsed.initiator_variable:
            variables = {**variables, parsed.initiator_variable: actor.name}
        now = self.core.now()
        row = ProcessInstance(
            id=instance_id or str(uuid.uuid4()),
            definition_id=definition.id,
            business_key=business_key,
            status=InstanceStatus.RUNNING,
            version=0,
            state="",
            idempotency_key=idempotency_key or None,
            started_by=actor.name,
            started_at=now,
            variables={},
        )
        session.add(row)
        with using_clock(self.core.clock):
            workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=self.core.script_engine)
            for task in workflow.get_tasks(state=TaskState.READY):
                task.data.update(variables)
            ctx = CommandContext(self.core, session, row, workflow, parsed, actor, now)
            ctx.record("instance_started", timer_start, definition_key=definition.key,
                       definition_version=definition.version, business_key=business_key, variables=variables)
            if message is None:
                enter_start_events(workflow, timer_start)
                ctx.run_engine()
            else:
                _start_by_message(ctx, *message)
            self.core.save(ctx, before={})
        session.flush()
        self.core.wake_after_commit(session, ctx.new_job_ids)
        return row

    def cancel_instance(self, instance_id: str, *, actor: Actor, reason: str = "") -> ProcessInstance:
        """Cancel a running or suspended instance: its open tasks and pending jobs are cancelled."""
        require(actor, Permission.MANAGE_INSTANCES)
        with self.core.command(instance_id, actor, statuses=(InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)) as ctx:
            ctx.workflow.cancel()
            ctx.instance.status = InstanceStatus.CANCELLED
            ctx.instance.ended_at = ctx.now
            ctx.record("instance_cancelled", reason=reason)
        return ctx.instance

    def suspend_instance(self, instance_id: str, *, actor: Actor) -> ProcessInstance:
        """Stop timers firing and jobs starting until resumed; tasks stay where they are."""
        require(actor, Permission.MANAGE_INSTANCES)
        with self.core.command(instance_id, actor, statuses=None, restore=False) as ctx:
            _set_status(ctx, InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
            ctx.record("instance_suspended")
        return ctx.instance

    def resume_instance(self, instance_id: str, *, actor: Actor) -> ProcessInstance:
        require(actor, Permission.MANAGE_INSTANCES)
        with self.core.command(instance_id, actor, statuses=None, restore=False) as ctx:
            _set_status(ctx, InstanceStatus.SUSPENDED, InstanceStatus.RUNNING)
            # jobs that were held back are picked up again by the relay sweep
            ctx.session.execute(
                update(Job)
                .where(Job.instance_id == instance_id, Job.status == JobStatus.PENDING)
                .values(enqueued_at=None)
            )
            ctx.record("instance_resumed")
        return ctx.instance


def _set_status(ctx: CommandContext, expected: str, new: str) -> None:
    row = ctx.instance
    if row.status != expected:
        raise Conflict(f"process instance '{row.id}' is {row.status}, not {expected}", status=row.status)
    row.status = new


def running_case_with_key(session: Session, key: str, business_key: str) -> bool:
    """Whether a running or suspended case of this process has the key: messages correlate by business key, so
    two such cases could never be told apart."""
    return session.scalar(
        select(ProcessInstance.id).join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
        .where(ProcessDefinition.key == key, ProcessInstance.business_key == business_key,
               ProcessInstance.status.in_((InstanceStatus.RUNNING, InstanceStatus.SUSPENDED))).limit(1)
    ) is not None
