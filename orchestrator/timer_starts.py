"""Timer start events, as in Camunda 7: deploying a process schedules them, each due occurrence starts a new
instance through the timer start event, and the schedule moves on to the next occurrence.

A schedule row (`StartTimer`) belongs to one process version. Deploying a new version of the process removes
the schedules of the older versions (Camunda deletes their timer start jobs) and adds the new version's; a
redeploy of unchanged content stores nothing, so the schedule keeps its place. timeDate and timeDuration fire
once; an ISO cycle `R[n]/…` fires n times (without n: for as long as it has an occurrence within the timer
horizon); a cron cycle fires while it has a fire time within the horizon. Occurrences missed while no sweep ran
fire once, and the schedule resumes at the next occurrence after now.

The timer value is computed when the process is deployed, with no variables (as Camunda does): an expression
that needs a variable is refused at deploy, naming the start event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import TaskState
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from orchestrator.effects import all_tasks
from orchestrator.engine import process_error
from orchestrator.errors import InvalidModel
from orchestrator.expressions import ExpressionError
from orchestrator.models import ProcessDefinition, StartTimer
from orchestrator.timer_values import (
    MAX_TIMER_HORIZON,
    TimerValueError,
    cron_first,
    cron_next,
    date_due,
    duration_due,
    is_cron,
    parse_cycle,
    skip_missed,
)


@dataclass(frozen=True)
class Occurrence:
    """A schedule's state: when it is next due, how many occurrences are left (-1: until the horizon), and
    how it repeats (`{"interval": seconds}` for an ISO cycle, `{"cron": text}` for a cron, None: once)."""

    next_due_at: datetime
    remaining: int
    cycle: dict | None


def timer_start_events(spec) -> list:
    """The top-level process's start events with a timer, in element id order (event subprocesses have
    their own specs and keep their timers inside the instance)."""
    return sorted((task_spec for task_spec in spec.task_specs.values()
                   if isinstance(task_spec, StartEvent) and _is_timer(task_spec)), key=lambda s: s.bpmn_id)


def _is_timer(task_spec) -> bool:
    return isinstance(getattr(task_spec, "event_definition", None), TimerEventDefinition)


def first_occurrence(definition, value, now: datetime) -> Occurrence | None:
    """The schedule of a timer start event whose expression evaluated to `value` at deploy time `now`."""
    if isinstance(definition, CycleTimerEventDefinition):
        if is_cron(value):
            return Occurrence(cron_first(value, now), -1, {"cron": value.strip()})
        cycle = parse_cycle(value, now)
        if cycle.repetitions == 0:
            return None
        return Occurrence(cycle.start, cycle.repetitions, {"interval": cycle.interval.total_seconds()})
    if isinstance(definition, DurationTimerEventDefinition):
        return Occurrence(duration_due(value, now), 1, None)
    if isinstance(definition, TimeDateEventDefinition):
        return Occurrence(date_due(value, now), 1, None)
    raise TimerValueError(f"{type(definition).__name__} is not a timer Loopline can schedule")


def following_occurrence(row: StartTimer, now: datetime) -> Occurrence | None:
    """The schedule after the occurrence due at `row.next_due_at` fires at `now` (missed ones fire once);
    None when nothing is left within the horizon."""
    cycle = row.cycle or {}
    if "cron" in cycle:
        following = cron_next(cycle["cron"], max(now, row.next_due_at))
        return None if following is None else Occurrence(following, -1, cycle)
    if "interval" not in cycle:
        return None
    interval = cycle["interval"]
    due, remaining = skip_missed(row.next_due_at, interval, row.remaining, now)
    if remaining > 0:
        remaining -= 1
        if remaining == 0:
            return None
    following = due + timedelta(seconds=interval)
    if following - now > MAX_TIMER_HORIZON:
        return None
    return Occurrence(following, remaining, cycle)


def schedule_timer_starts(session: Session, definition: ProcessDefinition, spec, evaluate, now: datetime) -> None:
    """Replace the timer start schedules of `definition.key`'s older versions with this version's.

    `evaluate(expression)` computes a timer expression without variables; a value that cannot be computed
    or scheduled refuses the deployment naming the start event."""
    older = select(ProcessDefinition.id).where(ProcessDefinition.key == definition.key,
                                               ProcessDefinition.id != definition.id)
    session.execute(delete(StartTimer).where(StartTimer.definition_id.in_(older)))
    problems = []
    for task_spec in timer_start_events(spec):
        event = task_spec.event_definition
        try:
            occurrence = first_occurrence(event, evaluate(event.expression), now)
        except (TimerValueError, ExpressionError) as exc:
            problems.append(f"element '{task_spec.bpmn_id}': the timer start event cannot be scheduled when "
                            f"the process is deployed (no variables exist yet): {exc}")
            continue
        if occurrence is not None:
            session.add(StartTimer(definition_id=definition.id, element_id=task_spec.bpmn_id,
                                   next_due_at=occurrence.next_due_at, remaining=occurrence.remaining,
                                   cycle=occurrence.cycle, created_at=now))
    if problems:
        raise InvalidModel(problems)


def enter_start_events(workflow, timer_start: str | None) -> None:
    """Choose the start event a new instance enters through, before the engine runs it.

    Started by a schedule (`timer_start` names the element), the instance enters through that timer start
    event at once and every other start event is cancelled. Started by a person or a call, a process with a
    timer start event enters through its other start events (its timers belong to the schedule), or, when
    it has only timer start events, through the first of them at once (Camunda's initial start event)."""
    timers = {spec.bpmn_id for spec in timer_start_events(workflow.spec)}
    if not timers:
        return
    try:
        _enter(workflow, timers, timer_start)
    except SpiffWorkflowException as exc:
        raise process_error(exc) from exc


def _enter(workflow, timers: set[str], timer_start: str | None) -> None:
    if timer_start is None:
        others = any(isinstance(spec, StartEvent) and not _is_timer(spec) for spec in workflow.spec.task_specs.values())
        if others:
            _cancel_starts(workflow, keep=None, only=timers)
            return
        timer_start = min(timers)
    _run_to_start_events(workflow)
    _cancel_starts(workflow, keep=timer_start, only=None)
    for task in _top_start_tasks(workflow):
        if task.task_spec.bpmn_id == timer_start and task.state == TaskState.WAITING:
            task._set_internal_data(event_fired=True)
            if not task.children:  # SpiffWorkflow predicts no outputs for a cycle timer: add them once
                task._sync_children(task.task_spec.outputs, TaskState.FUTURE)
            task.task_spec._update(task)


def _run_to_start_events(workflow) -> None:
    """Run the structural tasks before the start events, so that the start events are reached."""
    progressed = True
    while progressed:
        progressed = False
        for task in workflow.get_tasks(state=TaskState.READY):
            if not isinstance(task.task_spec, StartEvent):
                task.run()
                progressed = True


def _cancel_starts(workflow, keep: str | None, only: set[str] | None) -> None:
    if only is not None:
        _run_to_start_events(workflow)
    for task in _top_start_tasks(workflow):
        bpmn_id = task.task_spec.bpmn_id
        if bpmn_id == keep or (only is not None and bpmn_id not in only):
            continue
        if not task.has_state(TaskState.FINISHED_MASK):
            task.cancel()


def _top_start_tasks(workflow) -> list:
    return [task for task in list(all_tasks(workflow))
            if task.workflow is workflow and isinstance(task.task_spec, StartEvent)
            and task.task_spec.name in workflow.spec.task_specs]
