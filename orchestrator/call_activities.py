"""Call activities with Camunda 7's variable passing: `camunda:in` / `camunda:out` choose what the called
process sees and what comes back; without any mapping nothing is passed either way (SpiffWorkflow would
copy every variable in and replace the caller's variables with the child's on return)."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.specs.defaults import CallActivity

from orchestrator.expressions import ExpressionError, translate_expression

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"


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


class MappedCallActivity(CallActivity):
    """A call activity that passes only the mapped variables, both ways."""

    def __init__(self, wf_spec, bpmn_id, subworkflow_spec, variables_in=(), variables_out=(), **kwargs):
        super().__init__(wf_spec, bpmn_id, subworkflow_spec, **kwargs)
        self.variables_in = list(variables_in)
        self.variables_out = list(variables_out)

    def copy_data(self, my_task, subworkflow):
        start = subworkflow.get_next_task(subworkflow.task_tree, skip_subprocesses=True, spec_name="Start")
        start.set_data(**mapped(self.variables_in, my_task, my_task.data))

    def update_data(self, my_task, subworkflow):
        last = subworkflow.last_task
        my_task.data.update(mapped(self.variables_out, last, last.data))


__all__ = ["ExpressionError", "MappedCallActivity", "VariableMapping", "mapped", "read_mappings"]
