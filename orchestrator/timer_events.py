"""SpiffWorkflow timer event definitions that compute their due times through `timer_values`.

The parser installs these in place of SpiffWorkflow's own, so a timer whose expression yields a value
too far ahead or repeating too often fails its command with an error naming the element, instead of
holding the instance lock while SpiffWorkflow counts months or replays a cycle forever.
"""

from __future__ import annotations

from datetime import UTC, datetime

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent, IntermediateCatchEvent
from SpiffWorkflow.util.task import TaskState

from orchestrator.timer_values import (
    TimerValueError,
    cron_first,
    cron_next,
    date_due,
    duration_due,
    is_cron,
    parse_cycle,
    skip_missed,
)


def _now() -> datetime:
    """The time SpiffWorkflow's timers read: the running command's clock (see orchestrator.clock)."""
    return spiff_timer.datetime.now(UTC)


def _due_value(definition, my_task, compute):
    """Evaluate the timer's expression once and store `compute(value, now)`; a bad value names the element."""
    value = my_task.workflow.script_engine.evaluate(my_task, definition.expression)
    try:
        return compute(value, _now())
    except TimerValueError as exc:
        raise WorkflowTaskException(f"timer value {exc.message}", task=my_task) from None


class BoundedDateTimerEventDefinition(TimeDateEventDefinition):
    """timeDate: the value is checked against the horizon and stored as a UTC date-time."""

    def has_fired(self, my_task):
        if my_task._get_internal_data("event_value") is None:
            due = _due_value(self, my_task, date_due)
            my_task._set_internal_data(event_value=due.isoformat())
        return super().has_fired(my_task)


class BoundedDurationTimerEventDefinition(DurationTimerEventDefinition):
    """timeDuration: bounded, then added to now in constant time."""

    def has_fired(self, my_task):
        if my_task._get_internal_data("event_value") is None:
            due = _due_value(self, my_task, duration_due)
            my_task._set_internal_data(event_value=due.isoformat())
        return super().has_fired(my_task)


class BoundedCycleTimerEventDefinition(CycleTimerEventDefinition):
    """timeCycle: bounded, at least a second apart, and missed occurrences fire once, not once each.

    An ISO cycle is stored as SpiffWorkflow stores it (`cycles`, `next`, `duration`). A cron cycle also
    keeps its text under `cron` and repeats until it has no fire time left within the horizon; before each
    due occurrence fires, `duration` is set to the gap up to the cron's next fire time after now, so
    SpiffWorkflow's own `next + duration` lands on it (and a cron that fell behind fires once).

    As in Camunda 7, a cycle repeats only where the element stays: a non-interrupting boundary event (and
    a start event). On an intermediate catch event or an interrupting boundary event it fires once, at its
    first occurrence, and the element completes (SpiffWorkflow would spawn a path per occurrence instead
    and never interrupt).
    """

    def has_fired(self, my_task):
        if _repeats(my_task):
            return super().has_fired(my_task)
        value = my_task._get_internal_data("event_value")
        if value is None:
            value = {**_due_value(self, my_task, _first_cycle), "cycles": 1}
            my_task._set_internal_data(event_value=value)
        if datetime.fromisoformat(value["next"]) < _now():
            my_task._set_internal_data(event_fired=True)
            # SpiffWorkflow predicts no outputs for a cycle timer (it adds one per occurrence): add them once
            my_task._sync_children(my_task.task_spec.outputs, TaskState.FUTURE)
        return my_task._get_internal_data("event_fired", False)

    def update_task(self, my_task):
        if _repeats(my_task):
            super().update_task(my_task)

    def cycle_complete(self, my_task):
        value = my_task._get_internal_data("event_value")
        if value is None:
            value = _due_value(self, my_task, _first_cycle)
        if value["cycles"] != 0:
            try:
                value = _next_cycle(value, _now())
            except TimerValueError as exc:
                raise WorkflowTaskException(f"timer value {exc.message}", task=my_task) from None
        my_task._set_internal_data(event_value=value)
        return super().cycle_complete(my_task)


def _repeats(my_task) -> bool:
    """False where Camunda fires a cycle once: an intermediate catch event, an interrupting boundary event."""
    spec = my_task.task_spec
    if isinstance(spec, IntermediateCatchEvent):
        return False
    return not (isinstance(spec, BoundaryEvent) and spec.cancel_activity)


def _first_cycle(text, now: datetime) -> dict:
    """The stored state of a cycle entered `now`: an ISO repeating interval or a cron expression."""
    if is_cron(text):
        return {"cycles": -1, "next": cron_first(text, now).isoformat(), "duration": 0.0, "cron": text.strip()}
    cycle = parse_cycle(text, now)
    return {"cycles": cycle.repetitions, "next": cycle.start.isoformat(), "duration": cycle.interval.total_seconds()}


def _next_cycle(value: dict, now: datetime) -> dict:
    """A cycle that is due, made ready for SpiffWorkflow to fire it once and move `next` by `duration`."""
    next_at = datetime.fromisoformat(value["next"])
    if "cron" not in value:
        next_at, repetitions = skip_missed(next_at, value["duration"], value["cycles"], now)
        return {**value, "next": next_at.isoformat(), "cycles": repetitions}
    if next_at >= now:
        return value
    following = cron_next(value["cron"], now)
    if following is None:  # no fire time left within the horizon: this occurrence is the last
        return {**value, "cycles": 1, "duration": 0.0}
    return {**value, "duration": (following - next_at).total_seconds()}


BOUNDED_TIMERS = {
    TimeDateEventDefinition: BoundedDateTimerEventDefinition,
    DurationTimerEventDefinition: BoundedDurationTimerEventDefinition,
    CycleTimerEventDefinition: BoundedCycleTimerEventDefinition,
}

# for a serializer that embeds specs: the bounded timers are written and read like SpiffWorkflow's own
TIMER_CONVERTERS = {cls: TimerConditionalEventDefinitionConverter for cls in BOUNDED_TIMERS.values()}


def bounded(definition):
    """The Loopline counterpart of a SpiffWorkflow timer definition (other definitions are returned as they are)."""
    cls = BOUNDED_TIMERS.get(type(definition))
    if cls is None:
        return definition
    return cls(definition.name, definition.expression, description=definition.description)
