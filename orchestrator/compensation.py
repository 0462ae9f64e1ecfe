"""Compensation as Camunda 7 runs it: a compensation throw event undoes the completed activities of its scope
that have a compensation handler, the most recently completed first, each once, and then the flow goes on.

SpiffWorkflow does not run compensation, so it is built from what it does run:
- at parse, each compensation throw event becomes an embedded subprocess with the throw's id that loops: an
  exclusive gateway asks which activity is to be undone next (`loopline_compensation` names it), runs that
  activity's handler and asks again; with none left the subprocess ends. Compensation boundary events and
  their associations are removed, and each handler moves into every throw that may need it;
- at run time the engine logs each completion of a compensable activity (in the instance's data, under a key
  no script or reader sees) and marks the entry undone when its handler completes.
A throw with `activityRef` undoes only that activity. A throw undoes activities of its own scope (process or
subprocess). An embedded subprocess with a handler of its own is undone by it; one without passes the throw
on to the activities inside it: when it completes (not when an interrupting boundary event left it), their
entries move to the scope around it, where that scope's throws undo them. A compensation event subprocess
drawn in an embedded subprocess is that subprocess's handler (moved beside it before the rest is rewritten).
A cancel end event of a transaction subprocess throws compensation in the transaction before it cancels it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.task import TaskState

from orchestrator.completeness import BPMN_NS, ElementIds
from orchestrator.completeness import bpmn_element as _bpmn
from orchestrator.effects import all_tasks
from orchestrator.translation import ModelProblem

LOG_KEY = "_loopline_compensation"  # in the top workflow's data; names starting with "_" reach no script
DUE_NAME = "loopline_compensation"  # what the rewritten gateways read: the activity to undo next, or None
SPEC_ATTRIBUTE = "loopline_compensation_plan"  # on each parsed spec of a bundle with compensation
HANDLER_OF = "loopline_compensates"  # a moved handler's marker: the activity it undoes
ONLY = "loopline_compensates_only"  # on a throw's loop: the activities its activityRef names (space-separated)
THROW_LOOP = "loopline_compensation_throw"  # marks the subprocess a throw became
PASSES_ON = "loopline_compensation_passes_on"  # on a subprocess whose inner activities a throw outside undoes
_B = f"{{{BPMN_NS}}}"
THROWS = ("intermediateThrowEvent", "endEvent")


def _local(element) -> str | None:
    return etree.QName(element).localname if isinstance(element.tag, str) else None


def _compensate_definition(element) -> etree._Element | None:
    return element.find(f"{_B}compensateEventDefinition")


def compile_compensation(root: etree._Element, ids: ElementIds) -> list[ModelProblem]:
    """Rewrite every compensation in the model (see the module's docstring); return what cannot run."""
    problems: list[ModelProblem] = []
    _cancel_compensates(root, ids)
    associations = {a.get("sourceRef"): a for a in root.iter(f"{_B}association")}
    from_event_subprocesses = _event_subprocess_handlers(root, problems)
    containers = list(root.iter(f"{_B}process", f"{_B}subProcess", f"{_B}transaction"))
    handled: dict[etree._Element, dict[str, etree._Element]] = {}
    for container in containers:
        handled[container] = {**from_event_subprocesses.get(container, {}),
                              **_handlers(container, associations, problems)}
    for container in containers:
        throws = [e for e in container if _local(e) in THROWS and _compensate_definition(e) is not None]
        for throw in throws:
            own = handled[container]
            target = _compensate_definition(throw).get("activityRef")
            if not target:
                _replace_throw(container, throw, {**own, **_nested_handlers(container, handled)}, ids, only=None)
                continue
            subprocess = next((e for e in _subprocesses(container) if e.get("id") == target), None)
            nested = ({**handled.get(subprocess, {}), **_nested_handlers(subprocess, handled)}
                      if subprocess is not None else {})
            if nested:
                subprocess.set(PASSES_ON, "true")
            if target in own:
                pairs = {target: own[target]}
            elif nested:  # a subprocess without a handler of its own: the activities inside it
                pairs = nested
            else:
                problems.append(ModelProblem(throw.get("id"), f"activityRef '{target}' names no activity of this "
                                                              "scope with a compensation handler, nor a subprocess "
                                                              "holding such activities"))
                continue
            _replace_throw(container, throw, pairs, ids, only=" ".join(pairs))
    for handlers in handled.values():
        for handler in handlers.values():
            if handler.getparent() is not None:
                handler.getparent().remove(handler)
    for association in associations.values():
        if association.get("loopline_compensation") == "used" and association.getparent() is not None:
            association.getparent().remove(association)
    return problems


def _cancel_compensates(root, ids: ElementIds) -> None:
    """A cancel end event in a transaction first undoes the transaction's completed activities, as in Camunda 7:
    a compensation throw of the transaction's scope (`<cancel>__compensate`) is put before it."""
    for transaction in root.iter(f"{_B}transaction"):
        for end in [e for e in transaction if _local(e) == "endEvent"
                    and e.find(f"{_B}cancelEventDefinition") is not None]:
            throw_id = ids.new(f"{end.get('id')}__compensate")
            throw = _bpmn("intermediateThrowEvent", id=throw_id)
            throw.append(_bpmn("compensateEventDefinition"))
            for flow in transaction.findall(f"{_B}sequenceFlow"):
                if flow.get("targetRef") == end.get("id"):
                    flow.set("targetRef", throw_id)
            end.addprevious(throw)
            transaction.append(_flow(ids, throw_id, end.get("id")))


def _event_subprocess_handlers(root, problems) -> dict[etree._Element, dict[str, etree._Element]]:
    """A compensation event subprocess inside an embedded subprocess is that subprocess's handler, as in
    Camunda 7: it moves out beside the subprocess as an ordinary handler (its start made a plain start), and a
    throw outside runs it when it undoes the subprocess. scope → {subprocess id: handler}."""
    found: dict[etree._Element, dict[str, etree._Element]] = {}
    for start in list(root.iter(f"{_B}startEvent")):
        definition = _compensate_definition(start)
        if definition is None:
            continue
        event_subprocess = start.getparent()
        owner = event_subprocess.getparent()
        if (_local(owner) not in ("subProcess", "transaction") or owner.get("triggeredByEvent") == "true"
                or event_subprocess.get("triggeredByEvent") != "true"):
            problems.append(ModelProblem(start.get("id"), "a compensation event subprocess undoes the embedded "
                                                          "subprocess it is drawn in; here there is none (attach a "
                                                          "compensation boundary event to the activity instead)"))
            continue
        inner_throws = [e for e in event_subprocess.iter(*(f"{_B}{local}" for local in THROWS))
                        if _compensate_definition(e) is not None]
        if inner_throws:
            problems.extend(ModelProblem(e.get("id"), "a compensation throw inside a compensation event subprocess "
                                                      "is not supported; give the inner activities' undoing to "
                                                      "the event subprocess itself") for e in inner_throws)
            continue
        start.remove(definition)
        del event_subprocess.attrib["triggeredByEvent"]
        event_subprocess.set("isForCompensation", "true")
        owner.remove(event_subprocess)
        owner.getparent().append(event_subprocess)
        found.setdefault(owner.getparent(), {})[owner.get("id")] = event_subprocess
    return found


def _subprocesses(container) -> list[etree._Element]:
    """The embedded subprocesses drawn directly in a scope (not event subprocesses, handlers or rewritten
    throws)."""
    return [e for e in container if _local(e) in ("subProcess", "transaction")
            and e.get("triggeredByEvent") != "true" and e.get("isForCompensation") != "true"
            and not e.get(THROW_LOOP)]


def _nested_handlers(container, handled) -> dict[str, etree._Element]:
    """activity id → handler for the activities inside the scope's subprocesses that have no handler of their
    own, at any depth: a throw undoes them when their subprocess has completed (Camunda 7's propagation)."""
    pairs: dict[str, etree._Element] = {}
    for subprocess in _subprocesses(container):
        if subprocess.get("id") not in handled.get(container, {}):
            inner = {**handled.get(subprocess, {}), **_nested_handlers(subprocess, handled)}
            if inner:
                subprocess.set(PASSES_ON, "true")
            pairs.update(inner)
    return pairs


def _handlers(container, associations, problems) -> dict[str, etree._Element]:
    """activity id → its handler, for the compensation boundary events of this container (removed here)."""
    pairs: dict[str, etree._Element] = {}
    children = {e.get("id"): e for e in container if isinstance(e.tag, str)}
    for boundary in [e for e in container if _local(e) == "boundaryEvent"]:
        if _compensate_definition(boundary) is None:
            continue
        activity = boundary.get("attachedToRef")
        association = associations.get(boundary.get("id"))
        handler = children.get(association.get("targetRef")) if association is not None else None
        if handler is None:
            problems.append(ModelProblem(boundary.get("id"), "a compensation boundary event needs an association "
                                                             "to its handler activity in the same scope"))
            continue
        if handler.get("isForCompensation") != "true":
            problems.append(ModelProblem(handler.get("id"), "a compensation handler must be marked "
                                                            "isForCompensation=\"true\""))
            continue
        if any(f.get("sourceRef") == handler.get("id") or f.get("targetRef") == handler.get("id")
               for f in container.findall(f"{_B}sequenceFlow")):
            problems.append(ModelProblem(handler.get("id"), "a compensation handler has no sequence flows"))
            continue
        association.set("loopline_compensation", "used")
        pairs[activity] = handler
        container.remove(boundary)
    return pairs


def _flow(ids: ElementIds, source: str, target: str, condition: str | None = None) -> etree._Element:
    flow = _bpmn("sequenceFlow", id=ids.new(f"{source}__to__{target}"), sourceRef=source, targetRef=target)
    if condition is not None:
        expression = _bpmn("conditionExpression")
        expression.set("{http://www.w3.org/2001/XMLSchema-instance}type", "bpmn:tFormalExpression")
        expression.text = condition
        flow.append(expression)
    return flow


def _replace_throw(container, throw, pairs: dict[str, etree._Element], ids: ElementIds, only: str | None) -> None:
    """The throw becomes a looping subprocess with its id; an end event throw is followed by a plain end."""
    throw_id = throw.get("id")
    loop = _bpmn("subProcess", id=throw_id, name=throw.get("name"), **{ONLY: only, THROW_LOOP: "true"})
    start, choose, done = ids.new(f"{throw_id}__start"), ids.new(f"{throw_id}__next"), ids.new(f"{throw_id}__done")
    loop.append(_bpmn("startEvent", id=start))
    gateway = _bpmn("exclusiveGateway", id=choose)
    loop.append(gateway)
    loop.append(_bpmn("endEvent", id=done))
    loop.append(_flow(ids, start, choose))
    finished = _flow(ids, choose, done)
    loop.append(finished)
    gateway.set("default", finished.get("id"))
    for activity, handler in pairs.items():
        moved = copy.deepcopy(handler)
        moved.attrib.pop("isForCompensation", None)
        if handler.get("loopline_moved"):  # a second throw runs the same handler: a copy with an id of its own
            moved.set("id", ids.new(f"{handler.get('id')}__{throw_id}"))
        handler.set("loopline_moved", "true")
        moved.attrib.pop("loopline_moved", None)
        moved.set(HANDLER_OF, activity)
        loop.append(moved)
        loop.append(_flow(ids, choose, moved.get("id"), f"${{{DUE_NAME} == '{activity}'}}"))
        loop.append(_flow(ids, moved.get("id"), choose))
    throw.addprevious(loop)
    container.remove(throw)
    if _local(throw) == "endEvent":
        end = ids.new(f"{throw_id}__end")
        container.append(_bpmn("endEvent", id=end))
        container.append(_flow(ids, throw_id, end))


# -- at run time ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompensationPlan:
    """What the rewrite left for the run: the activities that have handlers, each moved handler's element id →
    the activity it undoes, and the throws that name one activity. Kept on every parsed spec of a bundle
    (`mark_specs`), so a called process, deployed with the caller or on its own, brings its own plan."""

    compensable: frozenset[str] = frozenset()
    handlers: dict[str, str] = field(default_factory=dict)
    only: dict[str, str] = field(default_factory=dict)  # throw id → the activities it undoes (activityRef)
    passes_on: frozenset[str] = frozenset()  # subprocesses whose completed inner activities a throw outside undoes

    def __bool__(self) -> bool:
        return bool(self.compensable)

    def __or__(self, other: CompensationPlan) -> CompensationPlan:
        return CompensationPlan(self.compensable | other.compensable, {**self.handlers, **other.handlers},
                                {**self.only, **other.only}, self.passes_on | other.passes_on)


def plan_of(root: etree._Element) -> CompensationPlan:
    handlers = {e.get("id"): e.get(HANDLER_OF) for e in root.iter() if isinstance(e.tag, str) and e.get(HANDLER_OF)}
    only = {e.get("id"): e.get(ONLY) for e in root.iter(f"{_B}subProcess") if e.get(ONLY)}
    passes_on = frozenset(e.get("id") for e in root.iter(f"{_B}subProcess", f"{_B}transaction") if e.get(PASSES_ON))
    return CompensationPlan(frozenset(handlers.values()), handlers, only, passes_on)


def mark_specs(specs, plan: CompensationPlan) -> None:
    """Give each spec the bundle's plan (nothing for a bundle without compensation)."""
    if plan:
        for spec in specs:
            setattr(spec, SPEC_ATTRIBUTE, plan)


def _plan(workflow) -> CompensationPlan | None:
    return getattr(workflow.spec, SPEC_ATTRIBUTE, None)


def has_compensation(workflow) -> bool:
    """Whether the instance runs any spec with compensation (checked before a prune: a few attribute reads)."""
    top = workflow.top_workflow
    return bool(_plan(top)) or any(_plan(sub) for sub in top.subprocesses.values())


def _log(workflow) -> dict[str, Any]:
    return workflow.top_workflow.data.setdefault(LOG_KEY, {"next": 1, "open": [], "done": {}})


def _scope(workflow) -> str:
    return "" if workflow is workflow.top_workflow else str(workflow.parent_task_id)


def settle(workflow) -> None:
    """Bring the log up to date with the task tree, in completion order: each completed compensable
    activity logged once, each completed handler marking the latest open entry of its activity in its
    throw's scope. Called before finished tasks are pruned and before a rewritten gateway decides."""
    top = workflow.top_workflow
    if not has_compensation(top):
        return
    log = _log(top)
    logged = {e["task"] for e in log["open"]} | set(log["done"])
    handled = set(log["done"].values())
    finished = sorted((t for t in all_tasks(top) if t.state == TaskState.COMPLETED),
                      key=lambda t: t.last_state_change or 0)
    for task in finished:
        plan = _plan(task.workflow)
        if not plan:
            continue
        bpmn_id, key = getattr(task.task_spec, "bpmn_id", None), str(task.id)
        if (bpmn_id in plan.compensable and key not in logged and not isinstance(task.task_spec, MultiInstanceTask)
                and not _interrupted(task)):
            log["open"].append({"task": key, "activity": bpmn_id, "scope": _scope(task.workflow),
                                "at": task.last_state_change or 0, "seq": log["next"]})
            log["next"] += 1
            logged.add(key)
        elif bpmn_id in plan.handlers and key not in handled:
            entry = _latest_open(log, _throw_scope(task.workflow), plan.handlers[bpmn_id])
            if entry is not None:
                log["open"].remove(entry)
                log["done"][entry["task"]] = key
            handled.add(key)
    _close_completed_subprocesses(log, finished)


def _close_completed_subprocesses(log: dict[str, Any], finished) -> None:
    """What a completed embedded subprocess without a handler of its own leaves to undo moves to the scope
    around it, where a throw undoes it (a cancelled or still running subprocess keeps it: Camunda 7 undoes
    only completed ones; a called process keeps its own)."""
    waiting = {e["scope"] for e in log["open"]}
    for task in finished:
        key, plan = str(task.id), _plan(task.workflow)
        if (key not in waiting or not plan or getattr(task.task_spec, "bpmn_id", None) not in plan.passes_on
                or _interrupted(task)):
            continue
        outer = _scope(task.workflow)
        for entry in log["open"]:
            if entry["scope"] == key:
                entry["scope"] = outer
        waiting.add(outer)


def _interrupted(task) -> bool:
    """Whether an interrupting boundary event of the activity fired: SpiffWorkflow still marks the activity
    completed (e.g. a subprocess left by an error end event), but it did not complete successfully."""
    split = task.parent
    if split is None or not isinstance(split.task_spec, BoundaryEventSplit):
        return False
    return any(isinstance(other.task_spec, BoundaryEvent) and other.task_spec.cancel_activity
               and other.state == TaskState.COMPLETED for other in split.children)


def _throw_scope(loop_workflow) -> str:
    """The scope a rewritten throw undoes: the one holding the throw's subprocess task."""
    parent = getattr(loop_workflow, "parent_workflow", None)
    return _scope(parent) if parent is not None else ""


def _latest_open(log: dict[str, Any], scope: str, activity: str | None = None) -> dict[str, Any] | None:
    wanted = None if activity is None else activity.split()
    due = [e for e in log["open"] if e["scope"] == scope and (wanted is None or e["activity"] in wanted)]
    return max(due, key=lambda e: (e.get("at", 0), e["seq"])) if due else None


def gateway_names(task) -> dict[str, Any]:
    """The name a rewritten gateway reads: the activity its throw undoes next (most recently completed first;
    only the one its activityRef names, if it names one), or None when nothing is left to undo."""
    settle(task.workflow)
    plan = _plan(task.workflow) or CompensationPlan()
    latest = _latest_open(_log(task.workflow), _throw_scope(task.workflow), plan.only.get(task.workflow.spec.name))
    return {DUE_NAME: latest["activity"] if latest else None}
