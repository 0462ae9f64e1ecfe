"""Derive what a command changed in the workflow and write it as rows, in the command's transaction.

After SpiffWorkflow has run as far as it can, the instance's outward state is read off the task tree:
inbox rows for READY user tasks, job rows for STARTED external service tasks, message subscriptions,
the earliest timer, and element-level history events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.manual_task import ManualTask
from SpiffWorkflow.bpmn.specs.mixins.none_task import NoneTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState
from sqlalchemy import delete, insert, select
from sqlalchemy.orm.util import identity_key

from orchestrator import local_io
from orchestrator.element_stats import Pass, since_of, source_element, stamp_live
from orchestrator.errors import ProcessError
from orchestrator.forms import describe_form
from orchestrator.history import PendingEvent
from orchestrator.models import (
    MESSAGE_WAIT,
    SIGNAL_WAIT,
    HumanTask,
    HumanTaskGroup,
    HumanTaskState,
    InstanceStatus,
    Job,
    JobStatus,
    MessageSubscription,
)
from orchestrator.parser import extensions_of
from orchestrator.pending_rows import insert_later
from orchestrator.timer_values import TimerValueError, due_from

if TYPE_CHECKING:
    from orchestrator.engine import CommandContext

JOB_MARK = "loopline_job"
# built once, so its cache key is not computed again for every command
_INSERT_JOBS = insert(Job.__table__).returning(Job.__table__.c.id, sort_by_parameter_order=True)
FINISHED_STATES = {TaskState.COMPLETED: "element_completed", TaskState.CANCELLED: "element_cancelled",
                   TaskState.ERROR: "element_failed"}


def all_tasks(workflow) -> Iterator:
    """Every task of the instance, subprocesses included (get_tasks skips some, see notes bug 8)."""
    yield from workflow.tasks.values()
    for subprocess in workflow.subprocesses.values():
        yield from subprocess.tasks.values()


def snapshot(workflow) -> dict:
    return {task.id: task.state for task in all_tasks(workflow)}


def is_human(task) -> bool:
    spec = task.task_spec
    return isinstance(spec, UserTask | ManualTask) or (
        isinstance(spec, NoneTask) and getattr(spec, "bpmn_id", None) is not None
    )


def json_safe(data: dict[str, Any]) -> dict[str, Any]:
    """Task data as plain JSON (values JSON cannot hold become their text)."""
    return json.loads(json.dumps(data, default=str))


@dataclass
class NewJob:
    """A job row a command decided to create; inserted once the instance row exists (see insert_jobs)."""

    values: dict[str, Any]
    event: PendingEvent  # its job_created event, which gets the job's id


def apply_effects(ctx: CommandContext, before: dict) -> list[NewJob]:
    """Write every row the workflow's new state implies; record element-level history. Returns the new
    jobs, for the caller to insert with `insert_jobs` once the instance row is written.

    Only what changed since ``before`` is touched: an inbox row, job or subscription of a task that did
    not change state needs no statement, and tables the definition cannot use are not queried at all."""
    record_element_changes(ctx, before)
    current = {task.id: task for task in all_tasks(ctx.workflow)}
    stamp_live(current.values(), ctx.now)
    with ctx.session.no_autoflush:  # the instance row is written once, by the caller, after this
        _sync_human_tasks(ctx, before, current)
        new_jobs = _sync_jobs(ctx, before, current) if ctx.definition.has_service_tasks else []
        ended = ctx.instance.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED)
        if ctx.definition.has_message_catches:
            _sync_subscriptions(ctx, before, current, ended)
    ctx.instance.next_timer_at = None if ended else next_timer_at(ctx.workflow)
    return new_jobs


def _left_state(before: dict, current: dict, state: TaskState, kind) -> set[str]:
    """Ids of tasks that were in `state` when the command began and no longer are: those still in the tree
    if `kind(task)` holds, and those pruned from it (whatever they were)."""
    left = set()
    for task_id, old_state in before.items():
        if old_state != state:
            continue
        task = current.get(task_id)
        if task is None or (task.state != state and kind(task)):
            left.add(str(task_id))
    return left


def record_element_changes(ctx: CommandContext, before: dict, tasks: Iterable | None = None) -> None:
    """Record each element that finished since ``before`` (of ``tasks``, by default of the whole tree)."""
    changed = [
        task
        for task in (all_tasks(ctx.workflow) if tasks is None else tasks)
        if task.state in FINISHED_STATES and before.get(task.id) != task.state
        and getattr(task.task_spec, "bpmn_id", None)
    ]
    changed.sort(key=lambda t: t.last_state_change or 0)
    for task in changed:
        if task.state == TaskState.COMPLETED:
            ctx.passes.append(_pass(ctx, task))
        ctx.record(
            FINISHED_STATES[task.state],
            element_id=task.task_spec.bpmn_id,
            task_id=str(task.id),
            name=task.task_spec.bpmn_name,
            element_type=task.task_spec.__class__.__name__,
        )


def _pass(ctx: CommandContext, task) -> Pass:
    """A finished element as its statistics see it: waiting since, due date (inbox tasks), where it came from."""
    row = ctx.session.identity_map.get(identity_key(HumanTask, str(task.id))) if is_human(task) else None
    return Pass(task.task_spec.bpmn_id, source_element(task), since_of(task), row.due_at if row is not None else None)


def _sync_human_tasks(ctx: CommandContext, before: dict, current: dict) -> None:
    """Inbox rows for user tasks that became READY; tasks that stopped being READY leave the inbox.

    An inbox row is READY exactly while its task is READY in the stored state, so only the tasks whose
    state changed are looked at; a row this command already closed (the completed task) is not read again."""
    ready = {str(t.id): t for t in current.values() if t.state == TaskState.READY and is_human(t)}
    was_ready = {str(task_id) for task_id, state in before.items() if state == TaskState.READY}
    for task_id, task in ready.items():
        if task_id not in was_ready:
            row = _new_human_task(ctx, task)
            # inserted after the instance row (which a starting command writes last), without the unit of work
            insert_later(ctx, HumanTask.__table__, [row])
            insert_later(ctx, HumanTaskGroup.__table__,
                         [{"task_id": task_id, "group_name": group} for group in row["candidate_groups"]])
            ctx.record("task_created", element_id=row["element_id"], task_id=task_id, name=row["name"],
                       candidate_groups=row["candidate_groups"], assignee=row["assignee"],
                       due_at=row["due_at"].isoformat() if row["due_at"] else None)
    for row in _rows_by_id(ctx, HumanTask, _left_state(before, current, TaskState.READY, is_human)):
        if row.state == HumanTaskState.READY:
            row.state = HumanTaskState.CANCELLED
            row.completed_at = ctx.now
            ctx.record("task_cancelled", element_id=row.element_id, task_id=row.id)


def _rows_by_id(ctx: CommandContext, model, ids: set[str]) -> list:
    """The rows with these ids that exist: from the session when it holds them, the others in one query."""
    rows, missing = [], []
    for row_id in sorted(ids):
        row = ctx.session.identity_map.get(identity_key(model, row_id))
        if row is None:
            missing.append(row_id)
        else:
            rows.append(row)
    if missing:
        rows.extend(ctx.session.scalars(select(model).where(model.id.in_(missing))))
    return rows


def _new_human_task(ctx: CommandContext, task) -> dict[str, Any]:
    """The inbox row of a task that became READY, as the values of its INSERT."""
    spec = task.task_spec
    ext = extensions_of(spec)
    evaluate = _evaluator(ctx, task)
    groups = _names(evaluate(ext["candidateGroups"]) if ext.get("candidateGroupsIsExpression")
                    else ext.get("candidateGroups"))
    if not groups and getattr(spec, "lane", None):
        groups = [spec.lane]
    assignee = evaluate(ext["assignee"]) if ext.get("assigneeIsExpression") else ext.get("assignee")
    priority = evaluate(ext["priority"]) if ext.get("priorityIsExpression") else ext.get("priority")
    return dict(
        id=str(task.id),
        instance_id=ctx.instance.id,
        element_id=spec.bpmn_id,
        name=spec.bpmn_name or spec.bpmn_id,
        lane=getattr(spec, "lane", None),
        candidate_groups=groups,
        candidate_users=_names(ext.get("candidateUsers")),
        assignee=str(assignee) if assignee else None,
        priority=_int_or(priority, 50),
        due_at=_due(ctx, task, evaluate, "dueDate"),
        follow_up_at=_due(ctx, task, evaluate, "followUpDate"),
        form=describe_form(getattr(spec, "form", None)),
        state=HumanTaskState.READY,
        created_at=ctx.now,
    )


def _evaluator(ctx: CommandContext, task):
    def evaluate(expression: str | None) -> Any:
        if expression is None:
            return None
        return ctx.engine.script_engine.evaluate(task, expression)

    return evaluate


def _names(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, list | tuple | set):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _due(ctx: CommandContext, task, evaluate, attribute: str) -> datetime | None:
    """camunda:dueDate/followUpDate as a bounded moment; a value out of range fails the command naming the task."""
    expression = extensions_of(task.task_spec).get(attribute)
    if not expression:
        return None
    try:
        value = evaluate(expression)
        return None if value in (None, "") else due_from(value, ctx.now)
    except (TimerValueError, SpiffWorkflowException) as exc:
        element = task.task_spec.bpmn_id
        reason = exc.message if isinstance(exc, TimerValueError) else str(exc)
        raise ProcessError(f"element '{element}': camunda:{attribute}: {reason}", element_id=element) from None


def _sync_jobs(ctx: CommandContext, before: dict, current: dict) -> list[NewJob]:
    """New jobs for service tasks that started; open jobs of service tasks that stopped waiting are cancelled.

    A job is open exactly while its task is STARTED, so only tasks that left STARTED are looked up, and not
    those whose job this command already finished (the job being completed or failed)."""
    new_jobs = [_new_job(ctx, task) for task in current.values()
                if isinstance(task.task_spec, ServiceTask) and task.state == TaskState.STARTED
                and JOB_MARK not in task.internal_data]
    left = _left_state(before, current, TaskState.STARTED, lambda task: isinstance(task.task_spec, ServiceTask))
    open_statuses = (JobStatus.PENDING, JobStatus.RUNNING)
    left -= {job.task_id for job in ctx.session.identity_map.values()
             if isinstance(job, Job) and job.instance_id == ctx.instance.id and job.status not in open_statuses}
    if not left:
        return new_jobs
    for job in ctx.session.scalars(select(Job).where(Job.instance_id == ctx.instance.id, Job.task_id.in_(left),
                                                     Job.status.in_(open_statuses))):
        if job.status in open_statuses:
            job.status = JobStatus.CANCELLED
            job.finished_at = ctx.now
            ctx.record("job_cancelled", element_id=job.element_id, task_id=job.task_id, job_id=job.id)
    return new_jobs


def _new_job(ctx: CommandContext, task) -> NewJob:
    ext = extensions_of(task.task_spec)
    variables = job_input(ctx, task, ext)
    values = dict(
        instance_id=ctx.instance.id,
        task_id=str(task.id),
        element_id=task.task_spec.bpmn_id,
        topic=ext["topic"],
        input=variables,
        status=JobStatus.PENDING,
        attempts=0,
        next_attempt_at=ctx.now,
        enqueued_at=ctx.now,  # the engine wakes a worker right after commit; the relay covers a lost wake-up
        idempotency_key=f"{ctx.instance.id}:{task.id}",
        created_at=ctx.now,
    )
    task.internal_data[JOB_MARK] = values["idempotency_key"]  # marks the task as having its job
    ctx.record("job_created", element_id=values["element_id"], task_id=values["task_id"], job_id=None,
               topic=values["topic"])
    return NewJob(values, ctx.events[-1])


def insert_jobs(ctx: CommandContext, jobs: list[NewJob]) -> None:
    """Insert new job rows in one statement; their ids go into their job_created events and the wake-up list."""
    if not jobs:
        return
    ids = ctx.session.connection().execute(_INSERT_JOBS, [job.values for job in jobs]).scalars().all()
    for job, job_id in zip(jobs, ids, strict=True):
        job.event.payload["job_id"] = job_id
    ctx.new_job_ids.extend(ids)


def job_input(ctx: CommandContext, task, ext) -> dict[str, Any]:
    """camunda:inputParameters if the model maps them, otherwise all the task's variables."""
    parameters = ext.get("inputParameters")
    if not parameters:
        return json_safe(task.data)
    evaluate = _evaluator(ctx, task)
    values = {}
    for parameter in parameters:
        expression = parameter["expression"]
        if parameter.get("script") is not None:  # a JavaScript value (local_io computes it as for any activity)
            values[parameter["name"]] = local_io.parameter_value(task, parameter)
        elif isinstance(expression, list):
            values[parameter["name"]] = [evaluate(item) for item in expression]
        elif isinstance(expression, dict):
            values[parameter["name"]] = {key: evaluate(item) for key, item in expression.items()}
        else:
            values[parameter["name"]] = evaluate(expression)
    return json_safe(values)


def _wait_kind(task) -> str | None:
    """What a waiting catch task subscribes to: a message, a signal, or nothing outside the case."""
    kind = getattr(task.task_spec, "event_definition", None).__class__.__name__
    return {"MessageEventDefinition": MESSAGE_WAIT, "SignalEventDefinition": SIGNAL_WAIT}.get(kind)


def _is_catch(task) -> bool:
    return _wait_kind(task) is not None


def _sync_subscriptions(ctx: CommandContext, before: dict, current: dict, ended: bool) -> None:
    """Subscriptions follow the message and signal catches the instance waits on; rewritten only when those
    changed."""
    arrived = [task for task in current.values() if task.state == TaskState.WAITING
               and before.get(task.id) != TaskState.WAITING and _is_catch(task)]
    left = _left_state(before, current, TaskState.WAITING, _is_catch)
    if not arrived and not left:
        return
    if left:
        ctx.session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == ctx.instance.id))
    if ended:
        return
    arrived_ids = {task.id for task in arrived}
    for task in list(ctx.workflow.event_manager.tasks.values()):
        if not _is_catch(task) or not (left or task.id in arrived_ids):
            continue
        definition = task.task_spec.event_definition
        kind = _wait_kind(task)
        variable = (extensions_of(task.task_spec).get("properties") or {}).get("correlationKey") \
            if kind == MESSAGE_WAIT else None
        key = task.data.get(variable) if variable else ctx.instance.business_key
        ctx.session.add(
            MessageSubscription(
                instance_id=ctx.instance.id,
                message_name=definition.name,
                correlation_var=variable,
                correlation_key=None if key is None or kind == SIGNAL_WAIT else str(key),
                element_id=getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name,
                kind=kind,
            )
        )


def next_timer_at(workflow) -> datetime | None:
    """Earliest due time among the instance's waiting timers."""
    due = [event_due for event_due in map(_timer_due, workflow.waiting_events()) if event_due is not None]
    return min(due) if due else None


def waiting_timers(workflow) -> list[tuple[str, str | None, datetime]]:
    """(element id, name, due) of each timer the instance waits on: reminders, escalations, waits."""
    timers = []
    for task in all_tasks(workflow):
        definition = getattr(task.task_spec, "event_definition", None)
        if task.state != TaskState.WAITING or not isinstance(definition, TimerEventDefinition):
            continue
        due = _timer_due(definition.details(task))
        if due is not None:
            timers.append((task.task_spec.bpmn_id, task.task_spec.bpmn_name, due))
    return sorted(timers, key=lambda timer: timer[2])


def _timer_due(event) -> datetime | None:
    value = event.value
    if "Timer" not in event.event_type or value is None:
        return None
    if isinstance(value, dict):
        if value.get("cycles") == 0 or "next" not in value:
            return None
        value = value["next"]
    try:
        return TimerEventDefinition.get_datetime(str(value))
    except ValueError:
        return None
