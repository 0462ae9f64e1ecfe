"""Run a DMN decision for a business rule task and shape its result the Camunda way; find the
decisions a bundle's business rule tasks name but do not bring."""

from __future__ import annotations

from typing import Any

from lxml import etree

from orchestrator.dmn import Decision, evaluate_decision
from orchestrator.xml_safety import UnsafeXmlError, parse_model_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_DECISION_REF = "{http://camunda.org/schema/1.0/bpmn}decisionRef"

SINGLE_HIT = {"UNIQUE", "FIRST", "ANY", "PRIORITY"}


class DecisionEngine:
    """Plugged into SpiffWorkflow's BusinessRuleTask in place of its own DMN engine."""

    def __init__(self, table: Decision, result_variable: str | None, map_decision_result: str):
        self.table = table
        self.result_variable = result_variable
        self.map_decision_result = map_decision_result

    def result(self, task) -> dict[str, Any]:
        """The variables the task adds: the outputs themselves, or one `resultVariable`."""
        outputs = evaluate_decision(self.table, task.data, task.workflow.script_engine.evaluator)
        if not self.result_variable:
            return outputs
        return {self.result_variable: self._mapped(outputs)}

    def _mapped(self, outputs: dict[str, Any]) -> Any:
        rows = self._rows(outputs)
        mapping = self.map_decision_result
        if mapping == "singleEntry":
            return next(iter(rows[0].values())) if rows else None
        if mapping == "singleResult":
            return rows[0] if rows else None
        if mapping == "collectEntries":
            return [next(iter(row.values())) for row in rows]
        return rows

    def _rows(self, outputs: dict[str, Any]) -> list[dict[str, Any]]:
        """One dict per matched rule, whatever the hit policy's result shape."""
        if self.table.hit_policy in SINGLE_HIT or self.table.aggregation:
            return [outputs] if any(value is not None for value in outputs.values()) else []
        names = list(outputs)
        columns = [outputs[name] for name in names]
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _root(content: str, max_bytes: int) -> etree._Element | None:
    try:
        return parse_model_xml(content, "model", max_bytes)
    except (UnsafeXmlError, etree.XMLSyntaxError, ValueError):
        return None  # the bundle parse reports it, naming the file


def decision_refs(content: str, max_bytes: int) -> set[str]:
    """The decisions a BPMN document's business rule tasks name (`camunda:decisionRef`)."""
    root = _root(content, max_bytes)
    if root is None:
        return set()
    return {task.get(CAMUNDA_DECISION_REF).strip() for task in root.iter(f"{{{BPMN_NS}}}businessRuleTask")
            if (task.get(CAMUNDA_DECISION_REF) or "").strip()}


def decision_ids(content: str, max_bytes: int) -> set[str]:
    """The ids of the decisions a DMN document defines (any DMN version)."""
    root = _root(content, max_bytes)
    if root is None:
        return set()
    return {element.get("id") for element in root.iter("{*}decision") if element.get("id")}
