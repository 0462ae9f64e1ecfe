"""Camunda 7 semantics for event-based gateways and event subprocesses, as SpiffWorkflow task specs.

Each event an instance waits for stays a WAITING catch task of its own, so the effects a command derives
from the task tree (message subscriptions, `next_timer_at`, inbox rows, jobs) follow without special cases:

- an event-based gateway activates every catch event after it; the first to fire cancels the others;
- an event subprocess waits from the moment its scope (process or embedded subprocess) starts; a
  non-interrupting one starts a handler each time its event arrives and keeps waiting, an interrupting
  one (an error start always is) cancels everything else in its scope and its completion completes the
  scope; when only waiting event subprocesses remain in a scope, the scope completes and their waits are
  removed. Errors reach error starts through error_events.
"""

from __future__ import annotations

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.default.task_spec import (
    BpmnTaskSpecConverter,
    EventConverter,
    SubWorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.defaults import BpmnSpecMixin, IntermediateCatchEvent, StartEvent
from SpiffWorkflow.bpmn.specs.defaults import EventSubprocess as SpiffEventSubprocess
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskIterator, TaskState

TRIGGERED = "loopline_event_subprocess_triggered"
ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR


class EventGateway(BpmnSpecMixin):
    """SpiffWorkflow moves the events of the catch events after the gateway into the gateway (one
    MultipleEventDefinition, which Loopline cannot subscribe or time). As in Camunda, this gateway activates
    every following catch event instead; the first that fires cancels the others (see RacingCatchEvent)."""

    def connect(self, taskspec):
        if not isinstance(taskspec, RacingCatchEvent):
            raise ValidationException(
                f"event-based gateway '{self.bpmn_id}' may only lead to intermediate catch events "
                f"('{getattr(taskspec, 'bpmn_id', taskspec.name)}' is not one)")
        super().connect(taskspec)


class RacingCatchEvent(IntermediateCatchEvent):
    """An intermediate catch event; after an event-based gateway, the first of its siblings to fire wins.

    SpiffWorkflow re-arms a catch task whenever it is updated (`_update_hook` sets it WAITING again), also one
    cancelled earlier in the same timer refresh or message delivery: a finished task is left alone here."""

    def _update_hook(self, my_task):
        if my_task.has_state(TaskState.FINISHED_MASK):
            return False
        return super()._update_hook(my_task)

    def _on_ready_hook(self, my_task):
        super()._on_ready_hook(my_task)
        cancel_rivals(my_task)


def cancel_rivals(my_task) -> list:
    """After an event-based gateway, the other catch events of the race are cancelled (returned)."""
    gateway = my_task.parent
    if gateway is None or not isinstance(gateway.task_spec, EventGateway):
        return []
    rivals = [sibling for sibling in gateway.children
              if sibling is not my_task and not sibling.has_state(TaskState.FINISHED_MASK)]
    for sibling in rivals:
        sibling.cancel()
    return rivals


class EventSubprocessTask(SpiffEventSubprocess):
    """An event subprocess (`triggeredByEvent`): started with its scope, it waits at its start event
    (an EventSubprocessStart) in a subworkflow of its own; the scope's end join ignores it while it waits."""


class EventSubprocessStart(StartEvent):
    """The start event of an event subprocess. SpiffWorkflow starts an event subprocess by message only at
    the top of a process, only once per wait, and never interrupts (`isInterrupting` is not read). Here, when
    the event arrives: a non-interrupting message start arms a fresh copy of its event subprocess for the next
    message (a timer start fires once);
    an interrupting start cancels everything else in the scope, which completes when the handler does."""

    interrupting = True

    def _run_hook(self, my_task):
        workflow = my_task.workflow
        holder = workflow.top_workflow.get_task_from_id(workflow.parent_task_id)
        holder.internal_data[TRIGGERED] = True
        # the handler sees the scope's current variables (a subworkflow starts with those of its start)
        for task in holder.workflow.tasks.values():
            if task.has_state(ACTIVE) and task is not holder and getattr(task.task_spec, "bpmn_id", None):
                my_task.data = {**task.data, **my_task.data}
        if self.interrupting:
            _cancel_scope(holder)
            _cancel_left_subprocesses(holder.workflow.top_workflow)
        elif isinstance(self.event_definition, MessageEventDefinition):  # a timer start fires once
            _arm_again(holder)
        return super()._run_hook(my_task)


def _arm_again(holder) -> None:
    """Add a new waiting instance of the event subprocess `holder` runs, under the task that started it."""
    child = holder.parent._add_child(holder.task_spec, TaskState.FUTURE)
    child.triggered = True  # kept when SpiffWorkflow syncs the start task's children
    child.task_spec._update(child)


def _cancel_scope(holder) -> None:
    """Cancel every active task of the scope `holder` sits in, except `holder` and what it leads to. Later
    tasks go first: a task cancelled before its children drops them unfinished (the instances of a
    multi-instance), leaving their subprocesses running without an activity."""
    keep = {task.id for task in holder}  # holder and its descendants (the scope's end)
    for task in reversed(list(holder.workflow.tasks.values())):
        if task.id in keep or task.id not in holder.workflow.tasks or not task.has_state(ACTIVE):
            continue
        task.cancel()


def _cancel_left_subprocesses(top) -> None:
    """Cancel what still runs in subprocesses whose activity is cancelled (an error thrown towards an event
    subprocess marks the activities it leaves so: see error_events) or gone."""
    for task_id, subworkflow in list(top.subprocesses.items()):
        try:
            holder = top.get_task_from_id(task_id)
        except TaskNotFoundException:
            holder = None
        if not subworkflow.completed and (holder is None or holder.state == TaskState.CANCELLED):
            subworkflow.cancel()


def is_waiting_event_subprocess(task) -> bool:
    """An event subprocess still waiting for its event: it does not keep its scope from completing."""
    return isinstance(task.task_spec, EventSubprocessTask) and not task.internal_data.get(TRIGGERED)


class ScopeEndJoin(_EndJoin):
    """SpiffWorkflow's end join waits for every unfinished task of the scope, including event subprocesses
    that only wait for their event, so a process with one never completes. In Camunda the scope completes
    when nothing else is active and the waits of its event subprocesses are removed."""

    def _check_threshold_unstructured(self, my_task):
        waiting = []
        for task in TaskIterator(my_task.workflow.task_tree, state=TaskState.NOT_FINISHED_MASK,
                                 end_at_spec=self.name):
            if task == my_task:
                continue
            if is_waiting_event_subprocess(task):
                waiting.append(task)
                continue
            if task.parent is not None and is_waiting_event_subprocess(task.parent):
                continue  # this join's own branch out of a waiting event subprocess
            return False
        for task in waiting:
            task.cancel()
        return True


def check_event_subprocess_start(node) -> None:
    """Refuse, naming the start event, the event subprocess starts this engine cannot run as Camunda does."""
    definitions = [child for child in node if isinstance(child.tag, str)
                   and etree.QName(child).localname.endswith("EventDefinition")]
    kind = etree.QName(definitions[0]).localname if len(definitions) == 1 else None
    if kind == "timerEventDefinition" and definitions[0].find("{*}timeCycle") is not None:
        kind = "timeCycle"
    if kind in ("messageEventDefinition", "timerEventDefinition"):
        return
    if kind == "errorEventDefinition":
        if node.get("isInterrupting", "true").lower() == "false":
            raise ValidationException("an event subprocess started by an error always interrupts its scope (as in "
                                      "Camunda): make its start event interrupting", node=node)
        return
    what = {None: "no single event", "timeCycle": "a timer cycle"}.get(
        kind, f"a {kind.removesuffix('EventDefinition')} event" if kind else "")
    raise ValidationException(
        f"an event subprocess started by {what} is not supported: start it with a message, a timer "
        "(timeDuration or timeDate) or an error", node=node)


# for serializers that embed the spec (exports): each spec serialized like the SpiffWorkflow spec it extends
EVENT_CONVERTERS = {
    EventGateway: BpmnTaskSpecConverter,
    RacingCatchEvent: EventConverter,
    EventSubprocessTask: SubWorkflowConverter,
    EventSubprocessStart: EventConverter,
    ScopeEndJoin: BpmnTaskSpecConverter,
}
