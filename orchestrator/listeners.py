"""Camunda 7 execution and task listeners written as an expression or a script, run where Camunda runs them.

- `camunda:executionListener event="start"` runs when the element starts its work, `event="end"` when it
  completes; on the process, when the instance starts and ends; `event="take"` on a sequence flow runs as the
  flow is taken (camunda_compat puts a pass-through event named `<flow>__take` on the flow to carry it).
- `camunda:taskListener` on a user task: `create` when the task opens (after the start listeners), `complete`
  when it is completed (the form's values in sight, before the end listeners).
- A listener is an expression (`${…}`, sandboxed like every expression; `${execution.setVariable("x", …)}`
  and `${task.setVariable(…)}` set a variable) or a script (restricted Python, or JavaScript with `execution`
  and `task` as in Camunda). Listeners calling Java (`class`, `delegateExpression`) are refused at deploy
  (camunda_compat), naming the element.
- On a multi-instance activity they run for each instance.

A listener that fails stops the command naming its element, as a failing script task does.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import IntermediateCatchEvent, ReceiveTask
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS

from orchestrator.event_specs import EventGateway
from orchestrator.expressions.javascript import JAVASCRIPT_FORMATS

ATTRIBUTE = "loopline_listeners"  # on a task spec: {event: [listener, ...]}
TASK_EVENTS = ("create", "complete")
_STARTED = "loopline_listeners_started"  # task.internal_data: the start listeners ran
_SET_VARIABLE = re.compile(r"^\s*\$\{\s*(?:execution|task)\.setVariable(?:Local)?\(\s*(['\"])([^'\"]+)\1\s*,(.*)\)\s*\}\s*$",
                           re.DOTALL)
_CAMUNDA = "{" + CAMUNDA_MODEL_NS + "}"


def read(element: etree._Element) -> dict[str, list[dict[str, Any]]]:
    """The listeners an element declares, by event (task listeners as `task:<event>`); Java ones are left out
    (they are refused before parsing)."""
    found: dict[str, list[dict[str, Any]]] = {}
    extensions = next((child for child in element if isinstance(child.tag, str)
                       and etree.QName(child).localname == "extensionElements"), None)
    if extensions is None:
        return found
    flow = etree.QName(element).localname == "sequenceFlow"
    for node in extensions:
        if node.tag not in (_CAMUNDA + "executionListener", _CAMUNDA + "taskListener"):
            continue
        listener = _listener(node)
        if listener is None:
            continue
        event = (node.get("event") or ("take" if flow else "")).strip()
        key = event if node.tag == _CAMUNDA + "executionListener" else f"task:{event}"
        found.setdefault(key, []).append(listener)
    return found


def _listener(node: etree._Element) -> dict[str, Any] | None:
    expression = node.get("expression")
    if expression is not None:
        assignment = _SET_VARIABLE.match(expression)
        if assignment:
            return {"kind": "assign", "name": assignment.group(2), "text": "${" + assignment.group(3).strip() + "}"}
        return {"kind": "expression", "text": expression}
    script = node.find(_CAMUNDA + "script")
    if script is not None and script.get("resource") is None:
        return {"kind": "script", "language": (script.get("scriptFormat") or "").strip().lower(),
                "text": script.text or ""}
    return None


def attach(container: etree._Element, spec) -> None:
    """Give each task spec of a parsed process (or embedded subprocess) the listeners its element declares; a
    multi-instance activity's go to its instances, which Camunda 7 calls them for. A process's own listeners run
    on its Start (`start`) and its end join (`end`), as each completes."""
    for element in container:
        if isinstance(element.tag, str) and element.get("id") in spec.task_specs:
            found = read(element)
            task_spec = spec.task_specs[element.get("id")]
            if isinstance(task_spec, LoopTask):
                task_spec = spec.task_specs[task_spec.task_spec]
            if found:
                setattr(task_spec, ATTRIBUTE, found)
    if etree.QName(container).localname != "process":
        return
    own = read(container)
    for event, task_spec in (("start", spec.start), ("end", spec.end)):
        if own.get(event):
            setattr(task_spec, ATTRIBUTE, {"end": [dict(listener, eventName=event) for listener in own[event]]})


def of(spec) -> dict[str, list[dict[str, Any]]]:
    return getattr(spec, ATTRIBUTE, None) or {}


def notify(my_task, event: str) -> None:
    """Run the listeners of ``my_task``'s element for ``event`` (`start`, `end`, `task:create`, ...)."""
    listeners = of(my_task.task_spec)
    for listener in listeners.get(event, ()):
        _run(my_task, listener, listener.get("eventName") or event.removeprefix("task:"))
    if event == "start":  # a `take` listener sits on the pass-through event of its flow
        for listener in listeners.get("take", ()):
            _run(my_task, listener, "take")


def _run(my_task, listener: dict[str, Any], event: str) -> None:
    engine = my_task.workflow.script_engine
    if listener["kind"] == "assign":
        my_task.data[listener["name"]] = engine.evaluate(my_task, listener["text"])
    elif listener["kind"] == "expression":
        engine.evaluate(my_task, listener["text"])
    elif listener["language"] in JAVASCRIPT_FORMATS:
        engine.run_javascript(my_task, listener["text"], eventName=event)
    else:
        engine.run_python(my_task, listener["text"])


def waits_when_entered(spec) -> bool:
    """A catch event or receive task entered on its own (not one of an event-based gateway's choices) starts
    when the token arrives, before its event: Camunda runs its start listeners then, not when the event comes."""
    if not isinstance(spec, IntermediateCatchEvent | ReceiveTask):
        return False
    return not any(isinstance(parent, EventGateway) for parent in spec.inputs)


def start_once(my_task, ready: bool) -> None:
    """Run the start listeners (and a user task's create listeners) once per activity instance: when the task
    becomes ready, or already when it is entered if it waits for an event (``waits_when_entered``)."""
    if _STARTED in my_task.internal_data or not (ready or waits_when_entered(my_task.task_spec)):
        return
    my_task.internal_data[_STARTED] = True
    notify(my_task, "start")
    notify(my_task, "task:create")


def finish(my_task) -> None:
    """Run a user task's complete listeners, then the element's end listeners."""
    notify(my_task, "task:complete")
    notify(my_task, "end")

