"""Camunda 7 meaning for what SpiffWorkflow reads differently, applied to the XML before parsing:
each rewrite is small, named, and keeps the element ids, so history and diagrams still match the file."""

from __future__ import annotations

import re

from lxml import etree

from orchestrator.completeness import BPMN_NS
from orchestrator.parser import CAMUNDA_MODEL_NS
from orchestrator.translation import ModelProblem

PLAIN_VARIABLE = re.compile(r"^\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")
REFERENCES = ("messageRef", "errorRef", "signalRef", "escalationRef")


def apply_camunda_semantics(root: etree._Element) -> list[ModelProblem]:
    """Rewrite in place; return what cannot be given a meaning (named by element)."""
    _collection_expressions(root)
    _prefixed_references(root)
    return _unnamed_messages(root)


def _collection_expressions(root: etree._Element) -> None:
    """`camunda:collection="${items}"` (the Modeler's usual form) names the variable `items`, which is how
    SpiffWorkflow reads a collection; other expressions are left for the expression checks."""
    attribute = f"{{{CAMUNDA_MODEL_NS}}}collection"
    for loop in root.iter(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics"):
        match = PLAIN_VARIABLE.match(loop.get(attribute) or "")
        if match:
            loop.set(attribute, match.group(1))


def _prefixed_references(root: etree._Element) -> None:
    """`messageRef="tns:orderReceived"` is a QName: the prefix names the definitions' own namespace, so
    the reference is the id after the colon."""
    ids = {element.get("id") for element in root.iter() if isinstance(element.tag, str) and element.get("id")}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name in REFERENCES:
            value = element.get(name)
            if value and ":" in value and value not in ids and value.split(":", 1)[1] in ids:
                element.set(name, value.split(":", 1)[1])


def _unnamed_messages(root: etree._Element) -> list[ModelProblem]:
    """A message without a name can never be correlated: refuse it where it is used."""
    unnamed = {m.get("id") for m in root.iter(f"{{{BPMN_NS}}}message") if not (m.get("name") or "").strip()}
    problems = []
    for definition in root.iter(f"{{{BPMN_NS}}}messageEventDefinition", f"{{{BPMN_NS}}}receiveTask",
                                f"{{{BPMN_NS}}}sendTask"):
        if definition.get("messageRef") in unnamed:
            owner = definition if definition.get("id") and etree.QName(definition).localname != \
                "messageEventDefinition" else definition.getparent()
            problems.append(ModelProblem(owner.get("id"), f"message '{definition.get('messageRef')}' has no name; "
                                                          "give it the name senders correlate with"))
    return problems
