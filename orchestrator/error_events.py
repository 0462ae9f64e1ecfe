"""BPMN errors caught as Camunda 7 catches them, error event subprocesses included.

An error thrown by an error end event or by a service task (`bpmnError`) is looked for outward from where it
was thrown: the error boundary events of the activity, then scope by scope the error start events of the
scope's event subprocesses and the error boundary events of the subprocess or call activity that is the
scope. At each level one naming the error's code wins over one without errorRef (which catches any error).
SpiffWorkflow walks to boundary events only: an event subprocess waits at its start in a workflow of its own
(see event_specs), where that walk never looks. An error nothing catches ends its path like a none end
event, as in Camunda.
"""

from __future__ import annotations

from copy import deepcopy

from SpiffWorkflow.bpmn.serializer.default.event_definition import ErrorEscalationEventDefinitionConverter
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.util.task import TaskState

from orchestrator.event_specs import TRIGGERED, EventSubprocessStart, EventSubprocessTask

CAUGHT = "loopline_caught_error"


class PropagatedErrorEventDefinition(ErrorEventDefinition):
    """The error of an error end event, thrown to the catcher `error_catcher` finds."""

    def throw(self, my_task):
        event = BpmnEvent(ErrorEventDefinition(self.name, self.code), payload=deepcopy(my_task.data),
                          target=my_task.workflow)
        catcher = error_catcher(my_task, self.code)
        if catcher is None:
            return  # uncaught (SpiffWorkflow would wake any waiting error catcher of the process)
        if isinstance(catcher.task_spec, EventSubprocessStart):
            _interrupt_towards(my_task, catcher)
        catcher.task_spec.catch(catcher, event)
        catcher.task_spec._update(catcher)


class CaughtErrorEventDefinition(ErrorEventDefinition):
    """The error of an error boundary or start event. As in Camunda, `camunda:errorCodeVariable` and
    `camunda:errorMessageVariable` name the variables that receive the caught error's code and message."""

    def __init__(self, name, code=None, code_variable=None, message_variable=None, **kwargs):
        super().__init__(name, code, **kwargs)
        self.code_variable = code_variable
        self.message_variable = message_variable

    def catches(self, my_task, event):
        thrown = event.event_definition
        return isinstance(thrown, ErrorEventDefinition) and self.code in (None, thrown.code)

    def catch(self, my_task, event=None):
        super().catch(my_task, event)
        payload = event.payload if isinstance(event.payload, dict) else {}
        my_task.internal_data[CAUGHT] = {"code": event.event_definition.code, "message": payload.get("errorMessage")}

    def update_task_data(self, my_task):
        super().update_task_data(my_task)
        caught = my_task.internal_data.get(CAUGHT) or {}
        if self.code_variable:
            my_task.data[self.code_variable] = caught.get("code")
        if self.message_variable:
            my_task.data[self.message_variable] = caught.get("message")


class CaughtErrorConverter(ErrorEscalationEventDefinitionConverter):
    """Keeps the variable names in exports."""

    def to_dict(self, event_definition):
        dct = super().to_dict(event_definition)
        dct["code_variable"] = event_definition.code_variable
        dct["message_variable"] = event_definition.message_variable
        return dct


def error_catcher(task, code: str | None):
    """The waiting event that catches error `code` thrown at `task` (see the module), or None."""
    event = BpmnEvent(ErrorEventDefinition(code, code=code))
    for level in _levels(task):
        catching = [catcher for catcher in level if catcher.task_spec.catches(catcher, event)]
        if catching:
            return min(catching, key=lambda catcher: catcher.task_spec.event_definition.code is None)
    return None


def _levels(task):
    """The catchers an error thrown at `task` may reach, innermost level first."""
    top = task.workflow.top_workflow
    yield _boundary_events(task)
    scope = task.workflow
    while scope is not None:
        holder = top.get_task_from_id(scope.parent_task_id) if scope.parent_task_id is not None else None
        yield _error_starts(scope) + (_boundary_events(holder) if holder is not None else [])
        scope = holder.workflow if holder is not None else None


def _boundary_events(activity) -> list:
    """The waiting error boundary events attached to `activity` (to the multi-instance it is an instance of)."""
    if activity.parent is not None and isinstance(activity.parent.task_spec, LoopTask):
        activity = activity.parent
    siblings = activity.parent.children if activity.parent is not None else []
    return [task for task in siblings if isinstance(task.task_spec, BoundaryEvent) and task.state == TaskState.WAITING
            and isinstance(task.task_spec.event_definition, ErrorEventDefinition)]


def _error_starts(scope) -> list:
    """The waiting error start events of the event subprocesses of `scope`."""
    starts = []
    for holder in list(scope.tasks.values()):
        subworkflow = scope.top_workflow.subprocesses.get(holder.id)
        if not isinstance(holder.task_spec, EventSubprocessTask) or subworkflow is None \
                or holder.internal_data.get(TRIGGERED) or not holder.has_state(TaskState.STARTED | TaskState.WAITING):
            continue
        starts.extend(task for task in subworkflow.tasks.values() if isinstance(task.task_spec, EventSubprocessStart)
                      and task.state == TaskState.WAITING
                      and isinstance(task.task_spec.event_definition, ErrorEventDefinition))
    return starts


def _interrupt_towards(thrower, start) -> None:
    """The subprocesses between an error end event and the event subprocess that catches the error end with
    the error: each is marked cancelled now, so finishing its path cannot resume the flow after it; their
    remaining work is cancelled with the rest of the scope when the handler starts (EventSubprocessStart)."""
    top = thrower.workflow.top_workflow
    event_subprocess = top.get_task_from_id(start.workflow.parent_task_id)
    event_subprocess.internal_data[TRIGGERED] = True  # the scope's end waits for the handler from now on
    scope = thrower.workflow
    while scope is not event_subprocess.workflow:
        holder = top.get_task_from_id(scope.parent_task_id)
        scope.completed_event.disconnect_all()
        holder._set_state(TaskState.CANCELLED)
        holder._drop_children()
        scope = holder.workflow


# for serializers that embed the spec (exports)
ERROR_CONVERTERS = {PropagatedErrorEventDefinition: ErrorEscalationEventDefinitionConverter,
                    CaughtErrorEventDefinition: CaughtErrorConverter}
