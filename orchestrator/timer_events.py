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

from orchestrator.timer_values import TimerValueError, date_due, duration_due, parse_cycle, skip_missed


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
    """timeCycle: bounded, at least a second apart, and missed occurrences fire once, not once each."""

    def cycle_complete(self, my_task):
        value = my_task._get_internal_data("event_value")
        if value is None:
            cycle = _due_value(self, my_task, parse_cycle)
            value = {"cycles": cycle.repetitions, "next": cycle.start.isoformat(),
                     "duration": cycle.interval.total_seconds()}
        if value["cycles"] != 0:
            try:
                next_at, repetitions = skip_missed(datetime.fromisoformat(value["next"]), value["duration"],
                                                   value["cycles"], _now())
            except TimerValueError as exc:
                raise WorkflowTaskException(f"timer value {exc.message}", task=my_task) from None
            value = {**value, "next": next_at.isoformat(), "cycles": repetitions}
        my_task._set_internal_data(event_value=value)
        return super().cycle_complete(my_task)


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
