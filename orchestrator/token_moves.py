"""Moving a case's token (Camunda Cockpit's "modify"): skip the step a case waits in, or go back to a step it did.

Two moves, each one command through the engine's write path (which then derives the inbox, jobs, timers and
message subscriptions from the new task tree and records the new state):

- **skip**: the case waits in `from_element` (a READY user task, a service task whose job is not done, a timer or
  message catch); the step is completed without running it — a user task with no form values, a service task
  with no result (its open job is cancelled, no connector is called), a catch event as if it fired — and the
  token goes on along the normal flow. `to_element`, if given, must be a direct successor (over a sequence flow,
  or a target of the gateway that follows) and the flow must have led there, or the move is refused.
- **back**: the case goes back to `to_element`, an element it already completed in the same scope (process or
  embedded subprocess) as the step it waits in. The waiting step's token (with its boundary events) is taken
  away and a new token is placed at `to_element`. The stored task tree is pruned (orchestrator/pruning.py), so
  the completed task is usually no longer there for SpiffWorkflow's `reset_from_task_id`: the new token is
  added after the last finished task the waiting one hangs from. As in Camunda, the case keeps its current
  variables (those of the waiting step), not the data it had before the earlier step ran.

Going back is refused while the case holds another token in the same scope (a parallel branch), and to
gateways, start, end and boundary events. The history gets a `token_moved` event {from, to, kind, comment}.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, ServiceTask
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.task import TaskState
from sqlalchemy import select

from orchestrator.effects import all_tasks, is_human
from orchestrator.engine import CommandContext
from orchestrator.errors import Conflict, InvalidInput
from orchestrator.event_specs import cancel_rivals
from orchestrator.models import HistoryEvent, Incident, InstanceStatus, Job, JobStatus

TOKEN_MOVED = "token_moved"
BACK, SKIP = "back", "skip"
KINDS = (BACK, SKIP)
MAX_COMMENT = 4000
_LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
_BACK_KINDS = {"userTask", "manualTask", "task", "serviceTask", "sendTask", "receiveTask", "scriptTask",
               "businessRuleTask", "intermediateCatchEvent", "intermediateThrowEvent"}


@dataclass(frozen=True)
class TokenMove:
    """Where the token goes: from the step the case waits in to `to_element`, and why (`comment`, required).
    `kind` is "skip" or "back"; left out, it is "back" when `to_element` is given and not a successor."""

    from_element: str
    to_element: str | None
    comment: str
    kind: str | None = None


@dataclass(frozen=True)
class Step:
    element_id: str
    name: str


def checked_move(move: TokenMove) -> TokenMove:
    """The move with its fields trimmed; InvalidInput naming every field at fault, before anything is read."""
    errors: dict[str, str] = {}
    comment = (move.comment or "").strip()
    if not comment:
        errors["comment"] = "is required: say why the case's token is moved"
    elif len(comment) > MAX_COMMENT or "\x00" in comment:
        errors["comment"] = f"at most {MAX_COMMENT} characters, no NUL"
    source = (move.from_element or "").strip() if isinstance(move.from_element, str) else ""
    if not source:
        errors["fromElement"] = "is required: the step the case waits in"
    target = move.to_element.strip() if isinstance(move.to_element, str) and move.to_element.strip() else None
    if move.kind is not None and move.kind not in KINDS:
        errors["kind"] = "is 'skip' or 'back'"
    if move.kind == BACK and target is None:
        errors["toElement"] = "is required to go back: the completed step to go back to"
    if errors:
        raise InvalidInput("the case's token was not moved", errors)
    return TokenMove(source, target, comment, move.kind)


def _element(task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _name(spec) -> str:
    return getattr(spec, "bpmn_name", None) or spec.bpmn_id


def is_skippable(task) -> bool:
    """A step the case waits in that can be skipped: an open user task, a service task waiting for its job,
    an intermediate timer or message catch (not a boundary event: it is left with its activity); a catch in a
    race after an event-based gateway wins it."""
    spec = task.task_spec
    if not _element(task):
        return False
    if task.state == TaskState.READY:
        return is_human(task)
    if task.state == TaskState.STARTED:
        return isinstance(spec, ServiceTask) and not isinstance(spec, SubWorkflowTask)
    if task.state == TaskState.WAITING:
        return isinstance(spec, CatchingEvent) and not isinstance(spec, BoundaryEvent | Join)
    return False


def completed_elements(session, instance_id: str) -> list[str]:
    """Elements the case completed, per its history, most recent first, each once."""
    rows = session.scalars(select(HistoryEvent.element_id).where(
        HistoryEvent.instance_id == instance_id, HistoryEvent.type == "element_completed",
        HistoryEvent.element_id.is_not(None)).order_by(HistoryEvent.seq.desc()))
    return list(dict.fromkeys(rows))


@dataclass(frozen=True)
class MoveChoice:
    """A step the case waits in and the completed steps of its scope it can go back to (most recent first)."""

    step: Step
    back_to: list[Step]


def move_choices(workflow, definition, completed: list[str]) -> list[MoveChoice]:
    """For each step the case waits in (once), where a move can take it."""
    choices: dict[str, MoveChoice] = {}
    for task in all_tasks(workflow):
        element = _element(task)
        if not is_skippable(task) or element in choices:
            continue
        specs = _specs_by_element(task.workflow.spec)
        choices[element] = MoveChoice(Step(element, _name(task.task_spec)), [
            Step(e, _name(specs[e])) for e in completed if e in specs and definition.element_kinds.get(e) in _BACK_KINDS])
    return list(choices.values())


def _specs_by_element(graph_spec) -> dict:
    return {spec.bpmn_id: spec for spec in graph_spec.task_specs.values() if getattr(spec, "bpmn_id", None)}


def _token(ctx: CommandContext, element: str):
    tokens = [t for t in all_tasks(ctx.workflow) if _element(t) == element and t.state & _LIVE]
    skippable = [t for t in tokens if is_skippable(t)]
    if not skippable:
        if ctx.definition.element_kinds.get(element) is None:
            raise InvalidInput("the case's token was not moved",
                               {"fromElement": f"'{element}' is not an element of this process"})
        raise Conflict(f"the case does not wait in '{element}'" + (
            " in a step that can be moved (an open user task, a pending job or a timer or message catch)"
            if tokens else ""))
    if len(skippable) > 1:
        raise Conflict(f"the case waits in '{element}' more than once (a loop or parallel branch): move it "
                       "from the case's history instead")
    return skippable[0]


def move_token(ctx: CommandContext, move: TokenMove, completed: list[str]) -> str:
    """Apply a checked move inside a command; returns its kind. Raises (nothing changed) when it cannot."""
    token = _token(ctx, move.from_element)
    kind = move.kind or (SKIP if move.to_element is None or move.to_element in successors(token.task_spec)
                         else BACK)
    if kind == SKIP:
        _skip(ctx, token, move.to_element)
    else:
        _back(ctx, token, move.to_element, completed)
    ctx.record(TOKEN_MOVED, element_id=move.from_element, **{"from": move.from_element, "to": move.to_element,
               "kind": kind, "comment": move.comment})
    moved = ctx.events[-1]
    if ctx.instance.status == InstanceStatus.RUNNING:
        ctx.run_engine()
    resolved = _settle_incidents(ctx, move.from_element)
    if resolved:
        moved.payload["incidents_resolved"] = resolved
    if kind == SKIP and move.to_element is not None and not _reached(ctx, move.to_element):
        raise Conflict(f"skipping '{move.from_element}' leads elsewhere than '{move.to_element}' (its gateway "
                       "decided otherwise): nothing was changed")
    return kind


def successors(spec) -> set[str]:
    """Elements reachable from `spec` over one sequence flow, through structural specs and through the gateway
    that follows it (its targets too)."""
    found: set[str] = set()
    seen: set[str] = set()
    stack = [(output, False) for output in spec.outputs]  # (spec, reached through a gateway)
    while stack:
        nxt, through_gateway = stack.pop()
        if nxt.name in seen:
            continue
        seen.add(nxt.name)
        element = getattr(nxt, "bpmn_id", None)
        if element is None:
            stack.extend((output, through_gateway) for output in nxt.outputs)
            continue
        found.add(element)
        if "Gateway" in type(nxt).__name__ and not through_gateway:
            stack.extend((output, True) for output in nxt.outputs)
    return found


def _skip(ctx: CommandContext, token, target: str | None) -> None:
    if target is not None and target not in successors(token.task_spec):
        raise InvalidInput("the case's token was not moved", {"toElement": (
            f"'{target}' does not follow '{_element(token)}' directly: a skip goes on along the flow")})
    if token.state == TaskState.WAITING:
        events = token.workflow.top_workflow.event_manager
        events.remove_task(token)
        for rival in cancel_rivals(token):  # a race after an event-based gateway: this event wins it
            events.remove_task(rival)
    token.complete()  # not run: no form values, no job result, no event payload


def _back(ctx: CommandContext, token, target: str, completed: list[str]) -> None:
    graph = token.workflow
    specs = _specs_by_element(graph.spec)
    if target not in specs:
        where = "this process" if ctx.definition.element_kinds.get(target) is None else f"the scope of '{_element(token)}'"
        raise InvalidInput("the case's token was not moved", {"toElement": f"'{target}' is not an element of {where}"})
    if target not in completed:
        raise Conflict(f"the case has not completed '{target}': it can only go back to a step it did")
    if ctx.definition.element_kinds.get(target) not in _BACK_KINDS:
        raise InvalidInput("the case's token was not moved", {"toElement": (
            f"'{target}' is a {ctx.definition.element_kinds.get(target)}: go back to a task or catch event")})
    top = token.parent if token.parent is not None and "BoundaryEventSplit" in type(token.parent.task_spec).__name__ \
        else token
    inside = {t.id for t in top}
    others = [t for t in graph.tasks.values() if t.state & _LIVE and t.id not in inside]
    if others:
        raise Conflict(f"the case also waits in '{_element(others[0]) or others[0].task_spec.name}' beside "
                       f"'{_element(token)}': going back is only possible with one token in its scope")
    anchor = top.parent
    data = deepcopy(token.data)  # the case keeps its current variables
    events = ctx.workflow.event_manager
    for task in list(top):
        if task.id in ctx.workflow.subprocesses:
            for inner in ctx.workflow.delete_subprocess(task):
                events.remove_task(inner)
        events.remove_task(task)
    graph._remove_task(top.id)
    if graph.last_task is not None and graph.last_task.id not in graph.tasks:
        graph.last_task = anchor
    spec = specs[target]
    child = anchor._add_child(spec, TaskState.FUTURE)
    child.data = data
    spec._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)
    spec._update(child)


def _reached(ctx: CommandContext, element: str) -> bool:
    if any(_element(t) == element and t.state & _LIVE for t in all_tasks(ctx.workflow)):
        return True
    return any(event.element_id == element and event.type == "element_completed" for event in ctx.events)


def _settle_incidents(ctx: CommandContext, element: str) -> list[int]:
    """A job stopped at an incident whose step the case left is cancelled and its incident resolved (the write
    path cancels only pending and running jobs); so is a failed timer of the element the token left. Returns
    the resolved incidents' ids."""
    live = {str(t.id) for t in all_tasks(ctx.workflow) if t.state & _LIVE}
    jobs = ctx.session.scalars(select(Job).where(Job.instance_id == ctx.instance.id,
                                                 Job.status == JobStatus.INCIDENT)).all()
    left = [job for job in jobs if job.task_id not in live]
    for job in left:
        job.status = JobStatus.CANCELLED
        job.finished_at = ctx.now
        ctx.record("job_cancelled", element_id=job.element_id, task_id=job.task_id, job_id=job.id)
    waiting = {_element(t) for t in all_tasks(ctx.workflow) if t.state & _LIVE}
    incidents = ctx.session.scalars(select(Incident).where(Incident.instance_id == ctx.instance.id,
                                                           Incident.resolved_at.is_(None))).all()
    left_ids = {job.id for job in left}
    resolved = []
    for incident in incidents:
        if incident.job_id in left_ids or (incident.job_id is None and incident.element_id == element
                                           and element not in waiting):
            incident.resolved_at = ctx.now
            incident.resolved_by = ctx.actor.name
            resolved.append(incident.id)
    return resolved
