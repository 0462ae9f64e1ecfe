"""Translate a parsed model's expressions to sandboxed Python and reject what cannot run, at deploy time.

The same pass runs when a deployment is loaded into the cache, so the engine only ever evaluates
translated text. Every problem names the BPMN element it belongs to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from SpiffWorkflow.bpmn.specs.defaults import ScriptTask, ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.camunda.specs.user_task import UserTask

from orchestrator import listeners
from orchestrator.expressions import (
    ExpressionError,
    check_script,
    translate_expression,
    translate_timer,
)
from orchestrator.expressions.javascript import JAVASCRIPT_FORMATS, check_javascript
from orchestrator.parser import extensions_of

FORM_FIELD_TYPES = {"string", "long", "double", "boolean", "date", "enum", "textarea", "file"}


@dataclass(frozen=True)
class ModelProblem:
    """Something in a model that Loopline refuses to run, pinned to its element."""

    element_id: str
    message: str
    process_id: str = ""

    def __str__(self) -> str:
        where = f"process '{self.process_id}', " if self.process_id else ""
        return f"{where}element '{self.element_id}': {self.message}"


class SpecTranslator:
    """Rewrite expressions in place; collect a ModelProblem for each one that cannot be translated."""

    def __init__(self, known_topics: Callable[[], Iterable[str]] | None = None):
        self.known_topics = known_topics
        self.problems: list[ModelProblem] = []
        self._process_id = ""

    def translate(self, spec, subprocess_specs: dict) -> list[ModelProblem]:
        for process in [spec, *subprocess_specs.values()]:
            self._process_id = process.name
            for task_spec in process.task_specs.values():
                element_id = getattr(task_spec, "bpmn_id", None)
                if element_id:
                    self._translate_task(task_spec, element_id)
                elif listeners.of(task_spec):  # the process's own listeners, on its Start and end join
                    self._translate_listeners(task_spec, process.name)
        return self.problems

    def _problem(self, element_id: str, message: str) -> None:
        self.problems.append(ModelProblem(element_id, message, self._process_id))

    def _rewrite(self, element_id: str, what: str, text, translate: Callable[[str], str]):
        """Return the translated text, or the original after recording the problem."""
        if text is None:
            return None
        try:
            return translate(str(text))
        except ExpressionError as exc:
            self._problem(element_id, f"{what} {str(text)!r}: {exc}")
            return text

    def _translate_task(self, task_spec, element_id: str) -> None:
        for index, (condition, target) in enumerate(getattr(task_spec, "cond_task_specs", []) or []):
            if condition is not None:
                translated = self._rewrite(
                    element_id, f"condition of the flow to '{target}'", condition.args[0], translate_expression
                )
                condition.args = [translated]
                task_spec.cond_task_specs[index] = (condition, target)
        event_definition = getattr(task_spec, "event_definition", None)
        if event_definition is not None:
            self._translate_event(event_definition, element_id)
        for attribute in ("cardinality", "condition"):
            if isinstance(getattr(task_spec, attribute, None), str):
                setattr(
                    task_spec,
                    attribute,
                    self._rewrite(element_id, f"loop {attribute}", getattr(task_spec, attribute), translate_expression),
                )
        if isinstance(task_spec, ScriptTask):
            self._check_script(task_spec, element_id)
        if isinstance(task_spec, ServiceTask):
            self._check_service_task(task_spec, element_id)
        if isinstance(task_spec, UserTask) or getattr(task_spec, "form", None) is not None:
            self._check_form(task_spec, element_id)
        self._translate_extensions(task_spec, element_id)
        self._translate_listeners(task_spec, element_id)

    def _translate_listeners(self, task_spec, element_id: str) -> None:
        for found in listeners.of(task_spec).values():
            for listener in found:
                if listener["kind"] != "script":
                    listener["text"] = self._rewrite(element_id, "listener expression", listener["text"],
                                                     translate_expression)
                    continue
                javascript = listener["language"] in JAVASCRIPT_FORMATS
                try:
                    (check_javascript if javascript else check_script)(listener["text"])
                except ExpressionError as exc:
                    self._problem(element_id, f"listener script: {exc}")

    def _translate_event(self, event_definition, element_id: str) -> None:
        if isinstance(event_definition, MultipleEventDefinition):
            for inner in event_definition.event_definitions:
                self._translate_event(inner, element_id)
        elif isinstance(event_definition, TimerEventDefinition):
            cycle = isinstance(event_definition, CycleTimerEventDefinition)  # only a cycle may be a cron
            event_definition.expression = self._rewrite(
                element_id, "timer", event_definition.expression, partial(translate_timer, cron=cycle)
            )
        elif isinstance(event_definition, ConditionalEventDefinition):
            event_definition.expression = self._rewrite(
                element_id, "condition", event_definition.expression, translate_expression
            )

    def _check_script(self, task_spec, element_id: str) -> None:
        javascript = extensions_of(task_spec).get("scriptFormat") in JAVASCRIPT_FORMATS
        try:
            (check_javascript if javascript else check_script)(task_spec.script or "")
        except ExpressionError as exc:
            self._problem(element_id, f"script: {exc}")

    def _check_service_task(self, task_spec, element_id: str) -> None:
        ext = extensions_of(task_spec)
        for java in ("class", "expression", "delegateExpression"):
            if java in ext:
                self._problem(element_id, f"camunda:{java} is not supported; use camunda:type=\"external\" with a topic")
                return
        if ext.get("type") != "external" or not ext.get("topic"):
            self._problem(element_id, 'service task needs camunda:type="external" and camunda:topic')
            return
        if self.known_topics is not None and ext["topic"] not in set(self.known_topics()):
            self._problem(element_id, f"no connector is registered for topic '{ext['topic']}'; if an outside "
                                      "external-task client serves it, list it in LOOPLINE_EXTERNAL_TOPICS")

    def _check_form(self, task_spec, element_id: str) -> None:
        for field in getattr(task_spec.form, "fields", []) or []:
            if field.type not in FORM_FIELD_TYPES:
                self._problem(
                    element_id,
                    f"form field '{field.id}' has type '{field.type}'; supported: {', '.join(sorted(FORM_FIELD_TYPES))}",
                )

    def _translate_extensions(self, task_spec, element_id: str) -> None:
        ext = extensions_of(task_spec)
        if not ext:
            return
        for construct in ext.get("unsupported", []):
            self._problem(element_id, f"{construct} is not supported")
        for attribute in ("dueDate", "followUpDate"):
            if attribute in ext:
                ext[attribute] = self._rewrite(element_id, f"camunda:{attribute}", ext[attribute],
                                               partial(translate_timer, cron=False))
        for attribute in ("priority", "assignee", "candidateGroups", "candidateUsers"):
            value = ext.get(attribute)
            if value and "${" in value:
                ext[attribute] = self._rewrite(element_id, f"camunda:{attribute}", value, translate_expression)
                ext[f"{attribute}IsExpression"] = True
        for direction in ("inputParameters", "outputParameters"):
            for parameter in ext.get(direction, []):
                if parameter["kind"] == "script" and direction == "outputParameters" and isinstance(task_spec,
                                                                                                     ServiceTask):
                    self._problem(element_id, f"parameter '{parameter['name']}': a script output parameter of a "
                                              "service task is not supported; map the result with an expression")
                    continue
                self._translate_parameter(parameter, element_id)

    def _translate_parameter(self, parameter: dict, element_id: str) -> None:
        kind = parameter["kind"]
        what = f"parameter '{parameter['name']}'"
        if kind == "text":
            parameter["expression"] = _value_expression(self, element_id, what, parameter["value"])
        elif kind == "list":
            parameter["expression"] = [_value_expression(self, element_id, what, v) for v in parameter["value"]]
        elif kind == "map":
            parameter["expression"] = {
                k: _value_expression(self, element_id, what, v) for k, v in parameter["value"].items()
            }
        elif kind == "script":
            self._translate_script_parameter(parameter, element_id, what)
        else:
            self._problem(element_id, f"{what}: camunda:{kind} values are not supported (use text, list or map)")

    def _translate_script_parameter(self, parameter: dict, element_id: str, what: str) -> None:
        """A JavaScript parameter's value is the script's value (it runs when the value is needed); a Python one
        must be a single expression, which is then evaluated like any other."""
        language, text = parameter["language"], parameter["value"]
        if parameter.get("resource"):
            self._problem(element_id, f"{what}: a script loaded from a resource is not supported; put it in the model")
        elif language in JAVASCRIPT_FORMATS:
            try:
                check_javascript(text)
            except ExpressionError as exc:
                self._problem(element_id, f"{what}: {exc}")
            parameter["script"] = text
            parameter["expression"] = None
        elif language in ("python", "python3"):
            parameter["expression"] = self._rewrite(element_id, what, text.strip(), translate_expression)
        else:
            self._problem(element_id, f"{what}: scriptFormat '{language}' is not supported; write the value as an "
                                      "expression or a JavaScript script")


def _value_expression(translator: SpecTranslator, element_id: str, what: str, text: str) -> str:
    """`${…}` becomes an expression; anything else is a string constant, as in Camunda."""
    if _is_expression(text):
        return translator._rewrite(element_id, what, text.strip(), translate_expression)
    return repr(text)


def authored_parameters(parameters: list[dict]) -> dict[str, Any]:
    """Input parameters as the model author wrote them, None where a `${…}` expression computes the value."""

    def literal(text: str | None) -> str | None:
        return None if text is None or _is_expression(text) else text

    authored: dict[str, Any] = {}
    for parameter in parameters:
        value = parameter["value"]
        if parameter["kind"] == "script":
            authored[parameter["name"]] = None
        elif isinstance(value, list):
            authored[parameter["name"]] = [literal(item) for item in value]
        elif isinstance(value, dict):
            authored[parameter["name"]] = {key: literal(item) for key, item in value.items()}
        else:
            authored[parameter["name"]] = literal(value)
    return authored


def _is_expression(text: str) -> bool:
    return "${" in text or "#{" in text
