"""Call activities with Camunda 7's variable passing: `camunda:in` / `camunda:out` choose what the called
process sees and what comes back; without any mapping nothing is passed either way (SpiffWorkflow would
copy every variable in and replace the caller's variables with the child's on return).

A call to a process of the same bundle runs the bundle's spec, as SpiffWorkflow does. Any other call (a process
deployed separately, `calledElementBinding="version"`, a `${expression}` calledElement) is resolved when the
call starts, as Camunda 7 does, by the resolver the engine attaches to the top workflow for the running command;
the called spec is registered under a version-pinned name (`child@3`) that the stored state keeps, so a
running call keeps its version when the called process is deployed again."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.defaults import CallActivity
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask

from orchestrator.expressions import ExpressionError, translate_expression

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

# The attribute of a (top) workflow holding the running command's resolver: (key, version or None for the
# latest) → (pinned spec name, {name: spec} to register), raising CalledProcessMissing.
RESOLVER_ATTRIBUTE = "loopline_called_processes"
# The attribute of a called subworkflow holding the pinned spec name it runs (stored with the state).
CALLED_SPEC_ATTRIBUTE = "loopline_called_spec"
BINDINGS = ("latest", "deployment", "version")


class CalledProcessMissing(LookupError):
    """The called process (or version) is not deployed."""


def pinned_name(key: str, version: int) -> str:
    """The spec name of one deployed version; '@' and '/' cannot occur in a BPMN id, so it never clashes."""
    return f"{key}@{version}"


@dataclass(frozen=True)
class VariableMapping:
    """One `camunda:in`/`camunda:out`: every variable, or one target from a source variable or expression."""

    all: bool = False
    source: str | None = None
    expression: str | None = None  # translated, ready for the script engine
    target: str | None = None


def read_mappings(node: etree._Element, direction: str) -> list[VariableMapping]:
    """The element's mappings in one direction ('in' or 'out'); ExpressionError for a bad sourceExpression,
    ValueError for a mapping that names no target."""
    mappings = []
    for mapping in node.findall(f"./{{*}}extensionElements/{{{CAMUNDA_NS}}}{direction}"):
        if mapping.get("variables") == "all":
            mappings.append(VariableMapping(all=True))
        elif mapping.get("businessKey") is not None:
            continue  # the called process runs inside the caller's instance: it has the caller's business key
        elif mapping.get("source") or mapping.get("sourceExpression"):
            target = mapping.get("target") or mapping.get("source")
            expression = mapping.get("sourceExpression")
            mappings.append(VariableMapping(source=mapping.get("source"), target=target,
                                            expression=translate_expression(expression) if expression else None))
        else:
            raise ValueError(f"camunda:{direction} needs variables=\"all\", source or sourceExpression")
    return mappings


def mapped(mappings: list[VariableMapping], task, data: dict[str, Any]) -> dict[str, Any]:
    """The variables `mappings` select from `data` (the variables of `task`); a missing source is null,
    as in Camunda."""
    values: dict[str, Any] = {}
    for mapping in mappings:
        if mapping.all:
            values.update(deepcopy(data))
        elif mapping.expression is not None:
            values[mapping.target] = task.workflow.script_engine.evaluate(task, mapping.expression)
        else:
            values[mapping.target] = deepcopy(data.get(mapping.source))
    return values


def is_expression(text: str) -> bool:
    return "${" in text or "#{" in text


class MappedCallActivity(CallActivity):
    """A call activity that passes only the mapped variables, both ways, and calls a deployed process when
    its called element is not in the bundle (or its binding asks for a fixed version)."""

    def __init__(self, wf_spec, bpmn_id, subworkflow_spec, variables_in=(), variables_out=(), binding="latest",
                 called_version=None, in_bundle=True, **kwargs):
        super().__init__(wf_spec, bpmn_id, subworkflow_spec, **kwargs)
        self.variables_in = list(variables_in)
        self.variables_out = list(variables_out)
        self.called_element = subworkflow_spec  # `spec` is renamed when a called version is namespaced
        self.binding = binding
        self.called_version = called_version  # calledElementVersion as written (binding "version")
        self.in_bundle = in_bundle

    @property
    def calls_deployed(self) -> bool:
        """Whether the called spec is resolved against deployed definitions when the call starts."""
        return not self.in_bundle or self.binding == "version"

    def start_workflow(self, my_task):
        if not self.calls_deployed:
            return super().start_workflow(my_task)
        key = self._evaluated(my_task, self.called_element)
        version = None
        if self.binding == "version":
            written = self._evaluated(my_task, self.called_version)
            try:
                version = int(written)
            except (TypeError, ValueError):
                raise WorkflowTaskException(f"calledElementVersion {written!r} is not a version number",
                                            task=my_task) from None
        top = my_task.workflow.top_workflow
        resolve = getattr(top, RESOLVER_ATTRIBUTE, None)
        if resolve is None:
            raise WorkflowTaskException(f"the called process '{key}' can only be resolved inside a command",
                                        task=my_task)
        try:
            name, specs = resolve(str(key), version)
        except CalledProcessMissing as exc:
            raise WorkflowTaskException(str(exc), task=my_task) from exc
        # a new dict: the workflow may share the deployment cache's subprocess specs
        top.subprocess_specs = {**top.subprocess_specs, **specs}
        subworkflow = top.create_subprocess(my_task, name)
        setattr(subworkflow, CALLED_SPEC_ATTRIBUTE, name)
        subworkflow.completed_event.connect(self._on_subworkflow_completed, my_task)
        self.copy_data(my_task, subworkflow)
        subworkflow.get_next_task(spec_name="Start").run()

    def _evaluated(self, my_task, text: str | None):
        if text and is_expression(text):
            try:
                return my_task.workflow.script_engine.evaluate(my_task, translate_expression(text))
            except ExpressionError as exc:
                raise WorkflowTaskException(f"expression {text!r}: {exc}", task=my_task) from exc
        return text

    def copy_data(self, my_task, subworkflow):
        start = subworkflow.get_next_task(subworkflow.task_tree, skip_subprocesses=True, spec_name="Start")
        start.set_data(**mapped(self.variables_in, my_task, my_task.data))

    def update_data(self, my_task, subworkflow):
        last = subworkflow.last_task
        my_task.data.update(mapped(self.variables_out, last, last.data))


def bundle_subprocess_specs(parser, process_id: str) -> dict:
    """The specs of the embedded subprocesses and in-bundle called processes `process_id` runs, at any depth
    (SpiffWorkflow's own walk refuses a call to a process outside the bundle)."""
    specs: dict = {}
    pending = [parser.get_spec(process_id)]
    while pending:
        for task_spec in pending.pop().task_specs.values():
            if not isinstance(task_spec, SubWorkflowTask) or task_spec.spec in specs:
                continue
            if isinstance(task_spec, MappedCallActivity) and task_spec.calls_deployed:
                continue
            specs[task_spec.spec] = parser.get_spec(task_spec.spec)
            pending.append(specs[task_spec.spec])
    return specs


def deployed_calls(specs) -> list[MappedCallActivity]:
    """The call activities among `specs` (process specs) resolved against deployed definitions."""
    return [task_spec for process in specs for task_spec in process.task_specs.values()
            if isinstance(task_spec, MappedCallActivity) and task_spec.calls_deployed]


def namespaced(name: str, spec, subprocess_specs: dict) -> dict:
    """A called version's specs keyed for the caller's workflow: `name` for the process, `name/<id>` for its
    subprocesses, so two versions (or the caller) never share a subprocess name. Renames the task specs'
    references in place: pass specs parsed for this purpose only."""
    renamed = {f"{name}/{sub}": sub_spec for sub, sub_spec in subprocess_specs.items()}
    for process in (spec, *subprocess_specs.values()):
        for task_spec in process.task_specs.values():
            if isinstance(task_spec, SubWorkflowTask) and task_spec.spec in subprocess_specs \
                    and not (isinstance(task_spec, MappedCallActivity) and task_spec.calls_deployed):
                task_spec.spec = f"{name}/{task_spec.spec}"
    return {name: spec, **renamed}


__all__ = ["ExpressionError", "MappedCallActivity", "VariableMapping", "mapped", "read_mappings"]
