"""Case repair: a process owner changes a stuck case's variables, saying why, so that a retry goes on.

The change is one command through the engine's write path: the data of every task holding a token changes
(SpiffWorkflow keeps data per task, and a waiting task hands its data on), the input of the case's jobs not
yet taken by a worker is worked out again from it, and the history gets a `variables_edited` event with the
actor, the comment and each variable's old and new value (the write path then records the new state)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import InclusiveGateway, ParallelGateway
from SpiffWorkflow.task import TaskState
from sqlalchemy import select, update

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.clock import using_clock
from orchestrator.effects import all_tasks, job_input
from orchestrator.engine import CommandContext, CommandGroup, EngineCore, current_variables
from orchestrator.errors import Conflict, InvalidInput
from orchestrator.instances import VARIABLE_NAME, check_variables
from orchestrator.messages import Correlation, Messages
from orchestrator.models import (
    MESSAGE_WAIT,
    InstanceStatus,
    Job,
    JobStatus,
    MessageSubscription,
    ProcessInstance,
)
from orchestrator.parser import extensions_of
from orchestrator.queries import readable_instance
from orchestrator.token_moves import MoveChoice, TokenMove, checked_move, completed_elements, move_choices
from orchestrator.token_moves import move_token as _move_token

VARIABLES_EDITED = "variables_edited"
MAX_COMMENT = 4000
MAX_VALUE_CHARS = 100_000  # one variable's value as JSON text
MAX_DEPTH = 64
LARGEST_NUMBER = 2**53 - 1
_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
_REWORKED_JOBS = (JobStatus.PENDING, JobStatus.INCIDENT)  # a RUNNING job's worker has its input already


@dataclass(frozen=True)
class VariableEdit:
    """What to change: `values` set (added or changed), `remove` deleted, and why (`comment`, required)."""

    comment: str
    values: dict[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()


def text_problem(text: str) -> str | None:
    """Why a text cannot be stored (a database takes UTF-8 without NUL), or None. JSON's `\\ud800` escape
    reads as a lone surrogate, which no UTF-8 encoder takes."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (\\ud800-\\udfff): not UTF-8 text"
    return None


def json_value_problem(value: Any, depth: int = 0) -> str | None:
    """Why a value cannot be a process variable (stored and read back as the same JSON), or None."""
    if depth > MAX_DEPTH:
        return f"is nested deeper than {MAX_DEPTH} levels"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return "is not a finite number"
        return None if abs(value) <= LARGEST_NUMBER else f"is a number beyond ±{LARGEST_NUMBER} (send it as text)"
    if isinstance(value, list):
        return next((p for item in value if (p := json_value_problem(item, depth + 1))), None)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            return "has a key that is not text"
        if problem := next((p for key in value if (p := text_problem(key))), None):
            return f"has a key that {problem}"
        return next((p for item in value.values() if (p := json_value_problem(item, depth + 1))), None)
    return "is not a JSON value"


def checked_edit(edit: VariableEdit) -> VariableEdit:
    """The edit with its comment trimmed; InvalidInput naming every field at fault, before anything is read."""
    errors: dict[str, str] = {}
    comment = (edit.comment or "").strip()
    if not comment:
        errors["comment"] = "is required: say why the case's data is changed"
    elif len(comment) > MAX_COMMENT or text_problem(comment):
        errors["comment"] = f"at most {MAX_COMMENT} characters of UTF-8 text, no NUL"
    try:
        values = check_variables(edit.values, "values")
    except InvalidInput as exc:
        errors.update(exc.errors)
        values = {}
    for name, value in values.items():
        problem = json_value_problem(value)
        if problem is None and len(json.dumps(value)) > MAX_VALUE_CHARS:
            problem = f"is longer than {MAX_VALUE_CHARS} characters as JSON"
        if problem:
            errors[f"values.{name}"] = problem
    remove = tuple(dict.fromkeys(edit.remove or ()))
    for name in remove:
        if not isinstance(name, str) or not VARIABLE_NAME.match(name):
            errors[f"remove.{name}"] = "is not a valid variable name (letters, digits, _; starts with a letter)"
        elif name in values:
            errors[f"remove.{name}"] = "is both set and removed"
    if not values and not remove and "values" not in errors:
        errors.setdefault("values", "name at least one variable to set or remove")
    if errors:
        raise InvalidInput("the case's variables were not changed", errors)
    return VariableEdit(comment, dict(values), remove)


def _holders(workflow) -> list:
    """The tasks whose data the case goes on with: those holding a token, and what a join waits with."""
    live = [task for task in all_tasks(workflow) if task.state & _LIVE]
    joined = [task.parent for task in live if isinstance(task.task_spec, ParallelGateway | InclusiveGateway)
              and task.state == TaskState.WAITING and task.parent is not None]
    return live + joined


def _write(ctx: CommandContext, values: dict[str, Any], remove: tuple[str, ...]) -> None:
    for task in _holders(ctx.workflow):
        task.data.update(values)
        for name in remove:
            task.data.pop(name, None)
    for name in (*values, *remove):  # a variable the workflow itself holds (a data object)
        if name in ctx.workflow.data:
            if name in values:
                ctx.workflow.data[name] = values[name]
            else:
                del ctx.workflow.data[name]


def _rework_job_inputs(ctx: CommandContext) -> list[int]:
    """Work out again the input of the case's jobs that wait or stopped at an incident; the changed jobs' ids.
    An input that cannot be worked out any more refuses the command, naming its element."""
    changed = []
    jobs = ctx.session.scalars(select(Job).where(Job.instance_id == ctx.instance.id,
                                                 Job.status.in_(_REWORKED_JOBS)).order_by(Job.id))
    for job in jobs:
        task = ctx.find_task(job.task_id)
        if task is None or task.state != TaskState.STARTED:
            continue
        new_input = job_input(ctx, task, extensions_of(task.task_spec))
        if new_input != job.input:
            job.input = new_input
            changed.append(job.id)
    return changed


def _rekey_subscriptions(ctx: CommandContext, values: dict[str, Any], remove: tuple[str, ...]) -> None:
    """A message waited for by a variable's value is now waited for by its new value."""
    for name in (*values, *remove):
        key = values.get(name)
        ctx.session.execute(update(MessageSubscription).where(
            MessageSubscription.instance_id == ctx.instance.id, MessageSubscription.correlation_var == name,
        ).values(correlation_key=None if key is None else str(key)))


class CaseRepair(CommandGroup):
    def __init__(self, core: EngineCore, messages: Messages):
        super().__init__(core)
        self.messages = messages

    def edit_variables(self, instance_id: str, edit: VariableEdit, *, actor: Actor) -> ProcessInstance:
        """Set, change or remove top-level variables of a running or suspended case, with a required comment;
        the history records who changed what from which value and why. A change that sets every value as it
        already is, or removes a variable the case does not have, is refused and changes nothing."""
        require(actor, Permission.MANAGE_INSTANCES)
        edit = checked_edit(edit)
        statuses = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
        with self.core.command(instance_id, actor, statuses=statuses) as ctx:
            current = current_variables(ctx.workflow)
            missing = {f"remove.{name}": "is not a variable of this case" for name in edit.remove
                       if name not in current}
            if missing:
                raise InvalidInput("the case's variables were not changed", missing)
            changes = [_change(name, current, value) for name, value in edit.values.items()
                       if name not in current or current[name] != value]
            changes += [{"name": name, "change": "removed", "old": current[name]} for name in edit.remove]
            if not changes:
                raise InvalidInput("the case's variables were not changed",
                                   {"values": "every value is already as given: nothing to change"})
            values = {name: value for name, value in edit.values.items()
                      if name not in current or current[name] != value}
            _write(ctx, values, edit.remove)
            jobs = _rework_job_inputs(ctx) if ctx.definition.has_service_tasks else []
            if ctx.definition.has_message_catches:
                _rekey_subscriptions(ctx, values, edit.remove)
            ctx.record(VARIABLES_EDITED, comment=edit.comment, variables=changes,
                       **({"jobs_updated": jobs} if jobs else {}))
        return ctx.instance

    def move_token(self, instance_id: str, move: TokenMove, *, actor: Actor) -> ProcessInstance:
        """Skip the step a running or suspended case waits in, or send it back to a step it completed, with a
        required comment (see orchestrator/token_moves.py); the history records a `token_moved` event."""
        require(actor, Permission.MANAGE_INSTANCES)
        move = checked_move(move)
        statuses = (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
        with self.core.command(instance_id, actor, statuses=statuses) as ctx:
            _move_token(ctx, move, completed_elements(ctx.session, instance_id))
        return ctx.instance

    def token_move_choices(self, instance_id: str, *, actor: Actor) -> list[MoveChoice]:
        """The steps a running or suspended case waits in, each with the completed steps it can go back to; what
        the case page's "Move the case" form offers. Nothing is changed."""
        require(actor, Permission.MANAGE_INSTANCES)
        with self.core.db.reading() as session:
            instance, _definition = readable_instance(session, actor, instance_id)
            if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
                return []
            row = session.get(ProcessInstance, instance_id)
            parsed = self.core.definitions.get(session, row.definition_id)
            completed = completed_elements(session, instance_id)
            with using_clock(self.core.clock):
                workflow = self.core.serializer.loads(row.state, parsed.spec, parsed.subprocess_specs,
                                                      self.core.script_engine)
        return move_choices(workflow, parsed, completed)

    def deliver_message(self, instance_id: str, name: str, variables: dict[str, Any], *,
                        actor: Actor) -> Correlation:
        """Hand a running case the message one of its catch events waits for, as if the sender had sent it:
        through message correlation, addressed by the case's correlation key or business key, so it can reach
        no other case (a key another waiting case shares too is refused with 409, nothing delivered)."""
        require(actor, Permission.MANAGE_INSTANCES)
        require(actor, Permission.CORRELATE)
        with self.core.db.reading() as session:
            instance, _definition = readable_instance(session, actor, instance_id)
            waits = session.scalars(select(MessageSubscription).where(
                MessageSubscription.instance_id == instance_id, MessageSubscription.message_name == name,
                MessageSubscription.kind == MESSAGE_WAIT)).first()
        if instance.status != InstanceStatus.RUNNING:
            raise Conflict(f"process instance '{instance_id}' is {instance.status}", status=instance.status)
        if waits is None:
            raise Conflict(f"process instance '{instance_id}' is not waiting for message '{name}'")
        if waits.correlation_var:
            if waits.correlation_key is None:
                raise Conflict(f"the case waits for '{name}' by its variable '{waits.correlation_var}', which has no "
                               "value: set it first")
            keys, business_key = {waits.correlation_var: waits.correlation_key}, None
        elif instance.business_key:
            keys, business_key = None, instance.business_key
        else:
            raise Conflict(f"the case has no business key, so message '{name}' cannot be addressed to it alone")
        return self.messages.correlate_message(name, actor=actor, business_key=business_key, correlation_keys=keys,
                                               variables=variables)


def _change(name: str, current: dict[str, Any], value: Any) -> dict[str, Any]:
    if name in current:
        return {"name": name, "change": "changed", "old": current[name], "new": value}
    return {"name": name, "change": "added", "new": value}
