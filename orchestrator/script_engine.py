"""SpiffWorkflow script engine that only runs translated, sandboxed expressions and restricted scripts."""

from __future__ import annotations

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

from orchestrator.expressions import ExpressionError, SafeEvaluator, run_script


class SandboxedScriptEngine(PythonScriptEngine):
    """Never `eval`/`exec` model text: expressions go to SafeEvaluator, scripts to RestrictedPython."""

    def __init__(self, script_time_limit: float = 1.0, evaluator: SafeEvaluator | None = None):
        super().__init__(environment=None)
        self.evaluator = evaluator or SafeEvaluator()
        self.script_time_limit = script_time_limit

    def validate(self, expression):
        self.evaluator.check(expression)

    def evaluate(self, task, expression, external_context=None):
        names = dict(external_context or {})
        names.update(task.data)
        try:
            return self.evaluator.evaluate(expression, names)
        except ExpressionError as exc:
            raise WorkflowTaskException(f"expression {expression!r}: {exc}", task=task, exception=exc) from exc

    def execute(self, task, script, external_context=None):
        try:
            run_script(script, task.data, time_limit=self.script_time_limit)
        except ExpressionError as exc:
            raise WorkflowTaskException(f"script failed: {exc}", task=task, exception=exc) from exc
        return True

    def call_service(self, task, **kwargs):
        raise WorkflowTaskException("service tasks run as external jobs, never inline", task=task)
