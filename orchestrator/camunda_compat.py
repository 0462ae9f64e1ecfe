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
    return _unnamed_messages(root) + _ignored_extensions(root)


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


PYTHON_SCRIPTS = {"", "python", "python3", "text/x-python"}
# where camunda:inputOutput is applied: the job's input and the result's output mapping
MAPPED_IO = {"serviceTask", "sendTask"}


def _ignored_extensions(root: etree._Element) -> list[ModelProblem]:
    """Camunda settings this engine would otherwise skip without a word: listeners, input/output
    mappings outside service tasks, call-activity variable mappings, non-Python scripts and script
    results. Each is refused on its element until it is supported."""
    problems = []
    camunda = f"{{{CAMUNDA_MODEL_NS}}}"
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        local = etree.QName(element).localname
        extensions = element.find(f"{{{BPMN_NS}}}extensionElements")
        where = element.get("id") or local
        if extensions is not None:
            for listener in ("executionListener", "taskListener"):
                if extensions.find(camunda + listener) is not None:
                    problems.append(ModelProblem(where, f"camunda:{listener} is not supported (listeners run Java or "
                                                        "script code); model the work as a service or script task"))
            if extensions.find(camunda + "inputOutput") is not None and local not in MAPPED_IO:
                problems.append(ModelProblem(where, f"camunda:inputOutput on a {local} is not applied by this engine "
                                                    "(only on service and send tasks); set the values in a script "
                                                    "task or a form instead"))
            mappings = [m for m in extensions if isinstance(m.tag, str) and m.tag in (camunda + "in", camunda + "out")]
            if any(m.get("variables") != "all" or len(m.attrib) > 1 for m in mappings):
                problems.append(ModelProblem(where, "camunda:in/camunda:out with single variables are not supported "
                                                    "yet: a called process sees all variables and returns all of "
                                                    "them; use variables=\"all\" or remove the mapping"))
        if local == "scriptTask":
            script_format = (element.get("scriptFormat") or "").strip().lower()
            if script_format not in PYTHON_SCRIPTS:
                problems.append(ModelProblem(where, f"scriptFormat '{element.get('scriptFormat')}' is not supported; "
                                                    "scripts run as restricted Python (scriptFormat=\"python\")"))
            if element.get(camunda + "resultVariable"):
                problems.append(ModelProblem(where, "camunda:resultVariable on a script task is not supported; "
                                                    "assign the variable inside the script"))
    return problems
