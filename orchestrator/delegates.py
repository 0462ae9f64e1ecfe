"""Java delegates, mapped: a Camunda 7 service task that names Java code (`camunda:class`,
`camunda:delegateExpression`, `camunda:expression`) runs the Python connector that declares that name,
so a model from the Camunda Modeler runs unchanged once its delegates have Python implementations.

The mapping is applied to the XML before parsing — the task becomes `camunda:type="external"` with the
connector's topic — so everything after (jobs, retries, incidents, history) is the ordinary service-task
path. A name no connector declares is refused at deploy, naming the element."""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from orchestrator.completeness import BPMN_NS
from orchestrator.parser import CAMUNDA_MODEL_NS
from orchestrator.translation import ModelProblem

JAVA_ATTRIBUTES = ("class", "delegateExpression", "expression")
# elements whose Java delegate does the work of a service task
DELEGATING = frozenset({"serviceTask", "sendTask"})


def delegate_keys(value: str) -> tuple[str, ...]:
    """The names a connector may declare for this attribute value: the text itself and, for `${bean}` (or
    `#{bean}`, which Camunda 7 reads alike), the bean name."""
    value = value.strip()
    if value.startswith(("${", "#{")) and value.endswith("}"):
        return value, value[2:-1].strip()
    return (value,)


def bind_delegates(root: etree._Element, delegates: Mapping[str, str]) -> list[ModelProblem]:
    """Rewrite each mapped Java delegate into the connector's topic; list the unmapped ones."""
    problems = []
    for element in root.iter(*(f"{{{BPMN_NS}}}{local}" for local in DELEGATING)):
        for attribute in JAVA_ATTRIBUTES:
            name = f"{{{CAMUNDA_MODEL_NS}}}{attribute}"
            value = element.get(name)
            if value is None:
                continue
            topic = next((delegates[key] for key in delegate_keys(value) if key in delegates), None)
            if topic is None:
                problems.append(ModelProblem(element.get("id"), (
                    f"camunda:{attribute} '{value}' names Java code; no connector declares it — give a connector "
                    f"this name in its `delegates`, or use camunda:type=\"external\" with a topic")))
                continue
            del element.attrib[name]
            element.set(f"{{{CAMUNDA_MODEL_NS}}}type", "external")
            element.set(f"{{{CAMUNDA_MODEL_NS}}}topic", topic)
    return problems
