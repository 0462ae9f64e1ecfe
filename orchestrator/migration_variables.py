"""Which variables a target version needs that a case may lack: a sound-enough approximation for a dry run.

A variable is needed when it is named in a condition, expression or timer of an element reachable from the
elements the case waits in (in the target), is named nowhere in the source version, is not set by the target
itself (a form field, a DMN output, a script assignment, an output mapping), and is not a variable of the case.
A variable the source version already named is taken to come from where it came from before; a service task's
result is not known in advance, so a variable only a connector returns may be reported needed (a false alarm,
never a missed one among those the model names).
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Iterator

from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask

from orchestrator.definitions import ParsedProcess
from orchestrator.parser import extensions_of

_NAMES_NOT_VARIABLES = frozenset(dir(builtins)) | {
    "true", "false", "null", "None", "True", "False", "datetime", "timedelta", "date", "time", "math", "decimal",
}


def specs_of(parsed: ParsedProcess) -> Iterator:
    """Every task spec of the process and its subprocesses."""
    for process in (parsed.spec, *parsed.subprocess_specs.values()):
        yield from process.task_specs.values()


def _names_in(expression) -> set[str]:
    if not isinstance(expression, str) or not expression.strip():
        return set()
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} - _NAMES_NOT_VARIABLES


def _expressions_of(spec) -> Iterator[str]:
    for condition, _target in getattr(spec, "cond_task_specs", None) or []:
        if condition is not None and getattr(condition, "args", None):
            yield condition.args[0]
    definition = getattr(spec, "event_definition", None)
    for inner in [definition, *getattr(definition, "event_definitions", [])]:
        if isinstance(getattr(inner, "expression", None), str):
            yield inner.expression
    for attribute in ("cardinality", "condition"):
        if isinstance(getattr(spec, attribute, None), str):
            yield getattr(spec, attribute)
    ext = extensions_of(spec)
    for attribute in ("dueDate", "followUpDate"):
        if isinstance(ext.get(attribute), str):
            yield ext[attribute]
    for attribute in ("priority", "assignee", "candidateGroups", "candidateUsers"):
        if ext.get(f"{attribute}IsExpression"):
            yield ext[attribute]
    for parameter in ext.get("inputParameters", []):
        expression = parameter.get("expression")
        values = expression.values() if isinstance(expression, dict) else (
            expression if isinstance(expression, list) else [expression])
        yield from (value for value in values if isinstance(value, str))


def _produced_by(spec) -> set[str]:
    """Variables an element sets itself: its form fields, DMN outputs, script assignments, output mappings."""
    names = {f.id for f in getattr(getattr(spec, "form", None), "fields", None) or []}
    names |= {p["name"] for p in extensions_of(spec).get("outputParameters", []) if p.get("name")}
    result = extensions_of(spec).get("resultVariable")
    if isinstance(result, str):
        names.add(result)
    decision = getattr(spec, "decision_table", None)
    for output in getattr(decision, "outputs", None) or []:
        names.add(getattr(output, "name", None) or "")
    if isinstance(spec, ScriptTask):
        try:
            tree = ast.parse(spec.script or "")
        except SyntaxError:
            tree = None
        if tree is not None:
            names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
                      and isinstance(node.ctx, ast.Store)}
    data_output = getattr(spec, "data_output", None)
    if data_output is not None:
        names.add(getattr(data_output, "bpmn_id", "") or "")
    return names - {""}


def _reachable(parsed: ParsedProcess, element_ids: Iterable[str]) -> list:
    """The target's task specs reachable from these elements (themselves included), across subprocesses."""
    by_element: dict[str, list] = {}
    for spec in specs_of(parsed):
        if getattr(spec, "bpmn_id", None):
            by_element.setdefault(spec.bpmn_id, []).append(spec)
    todo = [spec for element in element_ids for spec in by_element.get(element, [])]
    seen: dict[int, object] = {}
    while todo:
        spec = todo.pop()
        if id(spec) in seen:
            continue
        seen[id(spec)] = spec
        todo.extend(spec.outputs)
        if isinstance(spec, SubWorkflowTask):
            sub = parsed.subprocess_specs.get(spec.spec)
            if sub is not None:
                todo.append(sub.start)
    return list(seen.values())


def needed_variables(new: ParsedProcess, old: ParsedProcess, waiting: Iterable[str]) -> set[str]:
    """Variables named after the waiting elements in the target that the source version never named and the
    target does not produce itself (see the module's note: an approximation)."""
    named_before: set[str] = set()
    for spec in specs_of(old):
        for expression in _expressions_of(spec):
            named_before |= _names_in(expression)
        named_before |= _produced_by(spec)
    produced = set().union(*(_produced_by(spec) for spec in specs_of(new)))
    named = set().union(*(_names_in(e) for spec in _reachable(new, waiting) for e in _expressions_of(spec)))
    return named - named_before - produced - set(new.form_fields)


def expected_after(parsed: ParsedProcess, element_ids: Iterable[str], have: Iterable[str]) -> list[str]:
    """Variables named after these elements (a message catch) that nothing in the process sets and the case
    lacks: what a message delivered there is expected to bring (the same approximation, for a message form)."""
    produced = set().union(*(_produced_by(spec) for spec in specs_of(parsed))) | set(parsed.form_fields)
    named = set().union(*(_names_in(e) for spec in _reachable(parsed, element_ids) for e in _expressions_of(spec)))
    return sorted(named - produced - set(have))
