"""camunda:inputOutput on tasks, events, subprocesses and call activities, as Camunda 7 maps it.

Input parameters are local variables of the activity: evaluated when it is entered, they are seen by its form,
script or decision, by everything inside a subprocess and by a call activity's `camunda:in` mappings, and are
gone when it completes (a process variable of the same name they hid comes back). Output parameters are
evaluated when the activity completes, with its local variables in sight (a caught message's variables, a
subprocess's results, a call's `camunda:out` variables), and set in the process. Everything else the activity
sets reaches the process as without a mapping, as Camunda's variables do when no local one has their name.

SpiffWorkflow has no activity scopes, so this is done in the hooks every BPMN task passes through
(`activity_hooks`), for the specs the parser marked (`LOCAL_IO` in their extensions). Service and send tasks
map their parameters onto the job instead (effects.job_input, jobs._map_output). Refused at deploy, as Camunda 7
refuses them (camunda_compat): the mapping on gateways and event subprocesses, output parameters on end events;
and, here only, on multi-instance activities.
"""

from __future__ import annotations

from typing import Any

LOCAL_IO = "localInputOutput"  # the extensions flag the parser sets
# where Camunda 7 applies the mapping as the activity's own variables (service and send tasks map onto the job)
ELEMENTS = frozenset({"userTask", "manualTask", "scriptTask", "businessRuleTask", "task", "receiveTask", "subProcess",
                      "transaction", "callActivity", "startEvent", "endEvent", "intermediateCatchEvent",
                      "intermediateThrowEvent", "boundaryEvent"})
_HIDDEN = "loopline_local_io"  # task.internal_data: {"inputs": [...], "hidden": {name: value}}


def marked(spec) -> bool:
    return bool(_extensions(spec).get(LOCAL_IO))


def _extensions(spec) -> dict[str, Any]:
    return getattr(spec, "extensions", None) or {}


def parameter_value(my_task, parameter: dict[str, Any]) -> Any:
    """A parameter's value, computed with the task's variables: a JavaScript script's value, or its expression's
    (text, list or map of expressions)."""
    if parameter.get("script") is not None:
        return my_task.workflow.script_engine.run_javascript(my_task, parameter["script"])["value"]
    return _value(my_task, parameter.get("expression"))


def _value(my_task, expression) -> Any:
    evaluate = my_task.workflow.script_engine.evaluate
    if isinstance(expression, list):
        return [evaluate(my_task, item) for item in expression]
    if isinstance(expression, dict):
        return {key: evaluate(my_task, item) for key, item in expression.items()}
    return evaluate(my_task, expression)


def open_scope(my_task) -> None:
    """Set the input parameters as the activity's local variables (once, however often the task updates)."""
    if _HIDDEN in my_task.internal_data:
        return
    parameters = _extensions(my_task.task_spec).get("inputParameters") or []
    values = {p["name"]: parameter_value(my_task, p) for p in parameters if p.get("name")}
    my_task.internal_data[_HIDDEN] = {"inputs": list(values),
                                      "hidden": {name: my_task.data[name] for name in values if name in my_task.data}}
    my_task.data.update(values)


def close_scope(my_task) -> None:
    """Evaluate the output parameters, drop the local variables (giving back what they hid), set the outputs."""
    parameters = _extensions(my_task.task_spec).get("outputParameters") or []
    outputs = {p["name"]: parameter_value(my_task, p) for p in parameters if p.get("name")}
    scope = my_task.internal_data.pop(_HIDDEN, {"inputs": [], "hidden": {}})
    for name in scope["inputs"]:
        my_task.data.pop(name, None)
    my_task.data.update(scope["hidden"])
    my_task.data.update(outputs)
