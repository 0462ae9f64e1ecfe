"""A DMN file's texts in other languages: a translation file beside the decision file, like a BPMN model's.

`returns_routing.dmn` is translated by `returns_routing.zh.json`:

    {"decisions": {"return_routing": {"name": "确定退货路径", "description": "…",
        "outputs": {"routingRule": {"label": "依据", "values": {"quality defect": "质量缺陷"}}}}}}

Decisions are keyed by id, outputs by their name (the variable the process receives), output values by the
text the decision returns: the declared output values and the string literals of the rules' output entries.
The case page labels a decision's results by the output labels and shows their values, so these are the words
a reader sees; input labels and rule notes are for the table's author and stay as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lxml import etree

from orchestrator.translation_files import Key, TranslationFile

# keys: ("decision", id, "name"), ("variable", output name, "label"), ("value", output name, text)
DECISION_ATTRIBUTES = ("name", "description")
_STRING_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
_LITERAL_LIST = re.compile(r'^\s*"(?:[^"\\]|\\.)*"(?:\s*,\s*"(?:[^"\\]|\\.)*")*\s*$')


def _children(element: etree._Element, local: str) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str) and etree.QName(child).localname == local]


def _text_of(element: etree._Element | None) -> str:
    """The `<text>` of an output entry or output values (any DMN version's namespace)."""
    if element is None:
        return ""
    text = next(iter(_children(element, "text")), None)
    return (text.text or "") if text is not None else ""


def _literals(text: str) -> list[str]:
    """The strings of `"a","b"` (a literal or a list of them); nothing when the text is an expression."""
    if not _LITERAL_LIST.match(text or ""):
        return []
    return [value.replace('\\"', '"') for value in _STRING_LITERAL.findall(text) if value.strip()]


def decision_outputs(root: etree._Element) -> dict[str, list[str]]:
    """Each decision table's output names, by decision id."""
    outputs: dict[str, list[str]] = {}
    for decision in root.iter("{*}decision"):
        if decision.get("id"):
            outputs[decision.get("id")] = [output.get("name") for output in decision.iter("{*}output")
                                           if output.get("name")]
    return outputs


def decision_source_texts(root: etree._Element) -> dict[Key, str]:
    """Every text of a DMN file a reader sees, in the file's own (English) words."""
    texts: dict[Key, str] = {}
    for decision in root.iter("{*}decision"):
        decision_id = decision.get("id")
        if not decision_id:
            continue
        if (decision.get("name") or "").strip():
            texts[("decision", decision_id, "name")] = decision.get("name").strip()
        description = next(iter(_children(decision, "description")), None)
        if description is not None and (description.text or "").strip():
            texts[("decision", decision_id, "description")] = description.text.strip()
        for table in decision.iter("{*}decisionTable"):
            outputs = _children(table, "output")
            for output in outputs:
                name, label = output.get("name"), (output.get("label") or "").strip()
                if name and label and label != name:
                    texts.setdefault(("variable", name, "label"), label)
                for value in _literals(_text_of(next(iter(_children(output, "outputValues")), None))):
                    texts.setdefault(("value", name, value), value)
            for rule in _children(table, "rule"):
                for output, entry in zip(outputs, _children(rule, "outputEntry"), strict=False):
                    for value in _literals(_text_of(entry)) if output.get("name") else ():
                        texts.setdefault(("value", output.get("name"), value), value)
    return texts


def read_decision_texts_file(file_name: str, content: str, source: Mapping[Key, str],
                             outputs: Mapping[str, list[str]]) -> tuple[dict[Key, str], list[str]]:
    """The translations of a DMN file's translation file, checked against the file's decisions (`outputs`:
    each decision's output names); problems name the file and key."""
    try:
        data = json.loads(content)
    except ValueError as exc:
        return {}, [f"{file_name}: not valid JSON ({exc})"]
    if not isinstance(data, dict) or not isinstance(data.get("decisions", {}), dict):
        return {}, [f"{file_name}: must be an object with \"decisions\" keyed by decision id"]
    found = TranslationFile(file_name, source, "decision")
    for name in data:
        if name != "decisions":
            found.problem(f"unknown section '{name}' (a decision file's translation has \"decisions\")")
    for decision_id, entry in data.get("decisions", {}).items():
        if decision_id not in outputs:
            found.problem(f"decision '{decision_id}' is not in the file")
            continue
        if not isinstance(entry, dict):
            found.problem(f"decision '{decision_id}': must be an object of name / description / outputs")
            continue
        for attribute, value in entry.items():
            where = f"decision '{decision_id}' {attribute}"
            if attribute in DECISION_ATTRIBUTES:
                found.take(("decision", decision_id, attribute), value, where)
            elif attribute == "outputs" and isinstance(value, dict):
                for name, output in value.items():
                    _take_output(found, decision_id, name, output, outputs)
            else:
                found.problem(f"{where}: unknown text (use name, description, outputs)")
    return found.translated, found.problems


def _take_output(found: TranslationFile, decision_id: str, name: str, output: Any,
                 outputs: Mapping[str, list[str]]) -> None:
    where = f"decision '{decision_id}' output '{name}'"
    if name not in outputs[decision_id]:
        found.problem(f"{where} is not in the decision")
        return
    if not isinstance(output, dict):
        found.problem(f"{where}: must be an object of label / values")
        return
    for attribute, value in output.items():
        if attribute == "label":
            found.take(("variable", name, "label"), value, f"{where} label")
        elif attribute == "values" and isinstance(value, dict):
            for text, translation in value.items():
                found.take(("value", name, text), translation, f"{where} value '{text}'")
        else:
            found.problem(f"{where} {attribute}: unknown text (use label, values of text → translation)")
