"""SpiffWorkflow script engine that only runs translated, sandboxed expressions and restricted scripts."""

from __future__ import annotations

import json
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.task import TaskState

from orchestrator.compensation import DUE_NAME, gateway_names
from orchestrator.expressions import ExpressionError, SafeEvaluator
from orchestrator.expressions.javascript import JAVASCRIPT_FORMATS
from orchestrator.expressions.script_pool import ScriptPool, shared_pool

# The attribute of a (top) workflow holding {"id", "business_key"} of the instance it belongs to.
INSTANCE_ATTRIBUTE = "loopline_instance"


class SandboxedScriptEngine(PythonScriptEngine):
    """Never `eval`/`exec` model text: expressions go to SafeEvaluator, scripts to a sandbox process."""

    def __init__(self, script_time_limit: float = 1.0, evaluator: SafeEvaluator | None = None,
                 pool: ScriptPool | None = None):
        super().__init__(environment=None)
        self.evaluator = evaluator or SafeEvaluator()
        self.script_time_limit = script_time_limit
        self.pool = pool

    def validate(self, expression):
        self.evaluator.check(expression)

    def evaluate(self, task, expression, external_context=None):
        names = dict(external_context or {})
        names.update(multi_instance_variables(task))
        names.update(task.data)
        if DUE_NAME in expression:  # a rewritten compensation throw's gateway
            names.update(gateway_names(task))
        if "execution" in expression:  # built only for expressions that read it
            names["execution"] = execution_view(task, names)
        try:
            return self.evaluator.evaluate(expression, names)
        except ExpressionError as exc:
            raise WorkflowTaskException(f"expression {expression!r}: {exc}", task=task, exception=exc) from exc

    def execute(self, task, script, external_context=None):
        extensions = getattr(task.task_spec, "extensions", None) or {}
        if extensions.get("scriptFormat") in JAVASCRIPT_FORMATS:
            outcome = self.run_javascript(task, script)
            if extensions.get("resultVariable"):
                task.data[extensions["resultVariable"]] = outcome["value"]
            return True
        self.run_python(task, script)
        return True

    def run_python(self, task, script: str) -> None:
        """Run a restricted Python script for ``task`` in a sandbox process; its variables become the task's."""
        sent = script_variables(task.data)
        try:
            after = (self.pool or shared_pool()).run(script, sent, self.script_time_limit)
        except ExpressionError as exc:
            raise WorkflowTaskException(f"script failed: {exc}", task=task, exception=exc) from exc
        for key in sent.keys() - after.keys():
            del task.data[key]
        task.data.update(after)

    def run_javascript(self, task, script: str, **context: Any) -> dict[str, Any]:
        """Run a JavaScript script (`expressions.javascript`) for ``task``; apply the variables it set or removed
        and return its outcome. ``context`` adds to what `execution` answers (a listener's event name)."""
        view = execution_view(task, {})
        facts = {key: value for key, value in view.items() if key != "variables"}
        facts["activityName"] = getattr(task.task_spec, "bpmn_name", None)
        facts.update(context)
        try:
            outcome = (self.pool or shared_pool()).run_javascript(script, script_variables(task.data), facts,
                                                                  self.script_time_limit)
        except ExpressionError as exc:
            raise WorkflowTaskException(f"script failed: {exc}", task=task, exception=exc) from exc
        for key in outcome["removed"]:
            task.data.pop(key, None)
        task.data.update(outcome["set"])
        return outcome

    def call_service(self, task, **kwargs):
        raise WorkflowTaskException("service tasks run as external jobs, never inline", task=task)


def script_variables(data: dict[str, Any]) -> dict[str, Any]:
    """The task data a script sees: public names with JSON values (anything else stays untouched)."""
    names: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key.startswith("_"):
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            continue
        names[key] = value
    return names


def execution_view(task, variables: dict[str, Any]) -> dict[str, Any]:
    """What JUEL's `execution` reads (`execution.getVariable("x")`, `getBusinessKey()`, ...): a plain map, so
    an expression can never reach the engine. The instance's id and business key are the ones the engine
    attached to the workflow for the running command (`INSTANCE_ATTRIBUTE`); None outside a command."""
    instance = getattr(task.workflow.top_workflow, INSTANCE_ATTRIBUTE, None) or {}
    return {
        "variables": {key: value for key, value in variables.items() if key != "execution"},
        "processInstanceId": instance.get("id"),
        "businessKey": instance.get("business_key"),
        "processBusinessKey": instance.get("business_key"),
        "activityId": getattr(task.task_spec, "bpmn_id", None),
    }


def multi_instance_variables(task) -> dict[str, int]:
    """Camunda's built-in variables of a multi-instance activity, seen by its completion condition and
    by expressions of its instances: nrOfInstances, nrOfCompletedInstances, nrOfActiveInstances and the
    instance's loopCounter (from 0)."""
    parent = task.parent
    spec = getattr(parent, "task_spec", None)
    if not isinstance(spec, MultiInstanceTask) or task.task_spec.name != spec.task_spec:
        return {}
    instances = [child for child in parent.children if child.task_spec.name == spec.task_spec]
    completed = len(parent.internal_data.get("merged", []))
    planned = parent.internal_data.get("cardinality")
    if planned is None:
        planned = len(instances) + len(parent.internal_data.get("remaining") or [])
    return {
        "nrOfInstances": planned,
        "nrOfCompletedInstances": completed,
        "nrOfActiveInstances": len([c for c in instances if not c.has_state(TaskState.FINISHED_MASK)]),
        "loopCounter": next(i for i, child in enumerate(instances) if child is task),
    }
