"""A model's texts in other languages: a translation file beside each BPMN file, read and checked at deploy.

`returns.bpmn` is translated by `returns.zh.json` (one file per language, named `<model>.<language>.json`):

    {"elements": {"review_return": {"name": "客服审核", "documentation": "…"}},
     "fields": {"returnReason": {"label": "退货原因", "help": "…", "options": {"no_reason": "7 天无理由"}}}}

Elements are keyed by their BPMN id (process, lanes, tasks, events, gateways, flows), form fields by their
id, enum options by their value id; "variables" translates the labels a task gives variables
(`label.<variable>` properties, e.g. {"partnerCount": {"label": "…"}}). A key the model does not have is
refused naming it, so a renamed id cannot leave a translation behind silently. A text with no translation is
shown in English. A DMN file is translated the same way (orchestrator.decision_texts); a process reads the
texts of the decisions it calls with its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from orchestrator.decision_texts import decision_outputs, decision_source_texts, read_decision_texts_file
from orchestrator.translation_files import Key, TranslationFile

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
SOURCE_LANGUAGE = "en"
TEXTS_FILE = re.compile(r"^(?P<model>.+)\.(?P<language>[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?)\.json$")
# names that are identifiers (correlation, error codes), not words a reader sees
UNTRANSLATED_ELEMENTS = {"message", "error", "signal", "escalation", "definitions", "dataStore"}
ELEMENT_ATTRIBUTES = ("name", "documentation")
FIELD_PROPERTIES = ("help", "description", "placeholder")
FIELD_ATTRIBUTES = ("label", *FIELD_PROPERTIES)
LABEL_PREFIX = "label."  # a task's camunda property naming a variable for the decision facts
SECTIONS = ("elements", "fields", "variables")

# ("element", id, "name"), ("field", id, "label"), ("option", field id, option id), ("variable", name, "label");
# from decision files also ("decision", id, "name"), ("value", output name, text)


def language_of(locale: Any) -> str:
    """The texts language of a Babel locale or language tag: zh_Hans_CN → zh, en_GB → en."""
    text = str(locale or SOURCE_LANGUAGE).replace("_", "-")
    return text.split("-")[0].lower() or SOURCE_LANGUAGE


def texts_file_model(file_name: str) -> tuple[str, str] | None:
    """(model file stem, language) of a translation file name, or None when the name is not one."""
    match = TEXTS_FILE.match(file_name)
    return (match["model"], match["language"]) if match else None


def translates(file_name: str, model_file: str) -> bool:
    """Whether `file_name` is a translation file of the model file `model_file` (returns.zh.json → returns.bpmn)."""
    parts = texts_file_model(file_name)
    return parts is not None and parts[0] == model_stem(model_file)


def model_stem(file_name: str) -> str:
    """`returns.bpmn` and `returns.bpmn20.xml` → `returns`; `returns_routing.dmn` → `returns_routing`."""
    for suffix in (".bpmn20.xml", ".bpmn", ".dmn11.xml", ".dmn"):
        if file_name.lower().endswith(suffix):
            return file_name[: -len(suffix)]
    return file_name


def source_texts(root: etree._Element) -> dict[Key, str]:
    """Every text of a BPMN model a reader sees, in the model's own (English) words."""
    texts: dict[Key, str] = {}
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        local = etree.QName(element).localname
        element_id = element.get("id")
        if not element_id or local in UNTRANSLATED_ELEMENTS:
            continue
        if (element.get("name") or "").strip():
            texts[("element", element_id, "name")] = element.get("name").strip()
        documentation = element.find(f"{{{BPMN_NS}}}documentation")
        if documentation is not None and (documentation.text or "").strip():
            texts[("element", element_id, "documentation")] = documentation.text.strip()
    for form_field in root.iter(f"{{{CAMUNDA_NS}}}formField"):
        field_id = form_field.get("id")
        if not field_id:
            continue
        if (form_field.get("label") or "").strip():
            texts.setdefault(("field", field_id, "label"), form_field.get("label").strip())
        for prop in form_field.iter(f"{{{CAMUNDA_NS}}}property"):
            name = prop.get("id") or prop.get("name")
            if name in FIELD_PROPERTIES and (prop.get("value") or "").strip():
                texts.setdefault(("field", field_id, name), prop.get("value").strip())
        for option in form_field.iter(f"{{{CAMUNDA_NS}}}value"):
            if option.get("id") and (option.get("name") or "").strip():
                texts.setdefault(("option", field_id, option.get("id")), option.get("name").strip())
    for prop in root.iter(f"{{{CAMUNDA_NS}}}property"):
        name = prop.get("name") or ""
        if name.startswith(LABEL_PREFIX) and len(name) > len(LABEL_PREFIX) and (prop.get("value") or "").strip():
            texts.setdefault(("variable", name[len(LABEL_PREFIX):], "label"), prop.get("value").strip())
    return texts


@dataclass(frozen=True)
class ModelTexts:
    """A model's texts: the English source and each translation, looked up by element, field or option."""

    source: Mapping[Key, str] = field(default_factory=dict)
    translations: Mapping[str, Mapping[Key, str]] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        return sorted({SOURCE_LANGUAGE, *self.translations})

    def text(self, key: Key, language: str | None, fallback: str | None = None) -> str | None:
        """The text in the language, else the model's own text, else `fallback`."""
        translated = self.translations.get(language_of(language), {}).get(key)
        return translated or self.source.get(key) or fallback

    def name(self, element_id: str | None, language: str | None, fallback: str | None = None) -> str | None:
        if not element_id:
            return fallback
        return self.text(("element", element_id, "name"), language, fallback)

    def documentation(self, element_id: str, language: str | None) -> str | None:
        return self.text(("element", element_id, "documentation"), language)

    def field_label(self, field_id: str, language: str | None, fallback: str | None = None) -> str | None:
        return self.text(("field", field_id, "label"), language, fallback)

    def option_name(self, field_id: str, option_id: Any, language: str | None, fallback: Any = None) -> Any:
        if not isinstance(option_id, str):
            return fallback
        return self.text(("option", field_id, option_id), language, fallback)

    def variable_label(self, name: str, language: str | None, fallback: str | None = None) -> str | None:
        """A label a task property or a decision output gives the variable."""
        return self.text(("variable", name, "label"), language, fallback)

    def value_text(self, name: str, value: Any, language: str | None) -> Any:
        """A text value a decision returns for the variable, in the language; other values unchanged."""
        if not isinstance(value, str):
            return value
        return self.text(("value", name, value), language, value)

    def form(self, fields: Iterable[Mapping[str, Any]], language: str | None) -> list[dict[str, Any]]:
        """A copy of a described form (see orchestrator.forms.describe_form) with its words translated."""
        shown = []
        for form_field in fields:
            field_id = form_field["id"]
            copy = dict(form_field)
            copy["label"] = self.field_label(field_id, language, form_field.get("label"))
            copy["options"] = [
                {**option, "name": self.option_name(field_id, option["id"], language, option.get("name"))}
                for option in form_field.get("options") or []
            ]
            properties = dict(form_field.get("properties") or {})
            for name in FIELD_PROPERTIES:
                if name in properties:
                    properties[name] = self.text(("field", field_id, name), language, properties[name])
            copy["properties"] = properties
            shown.append(copy)
        return shown

    def diagram(self, xml: str, language: str | None) -> str:
        """The BPMN file with element names in the language, for the diagram on the case page."""
        wanted = self.translations.get(language_of(language))
        if not wanted or not xml:
            return xml
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        try:
            root = etree.fromstring(xml.encode("utf-8"), parser)
        except etree.XMLSyntaxError:
            return xml
        for element in root.iter(f"{{{BPMN_NS}}}*"):
            translated = wanted.get(("element", element.get("id") or "", "name"))
            if translated and element.get("name"):
                element.set("name", translated)
        return etree.tostring(root, encoding="unicode")


EMPTY = ModelTexts()


def read_texts_file(file_name: str, content: str, source: Mapping[Key, str],
                    element_ids: Iterable[str] = ()) -> tuple[dict[Key, str], list[str]]:
    """The translations of one file, checked against the model's texts (and `element_ids`, every id of
    the model); problems name the file and key."""
    try:
        data = json.loads(content)
    except ValueError as exc:
        return {}, [f"{file_name}: not valid JSON ({exc})"]
    if not isinstance(data, dict):
        return {}, [f"{file_name}: must be an object with \"elements\", \"fields\" and \"variables\""]
    found = TranslationFile(file_name, source, "model")
    problems, take = found.problems, found.take
    problems.extend(f"{file_name}: unknown section '{name}' (use \"elements\", \"fields\" and \"variables\")"
                    for name in data if name not in SECTIONS)
    element_ids = {*element_ids, *(key[1] for key in source if key[0] == "element")}
    field_ids = {key[1] for key in source if key[0] in ("field", "option")}

    for element_id, entry in _section(data, "elements", file_name, problems).items():
        if element_id not in element_ids:
            problems.append(f"{file_name}: element '{element_id}' is not in the model")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{file_name}: element '{element_id}': must be an object of name / documentation")
            continue
        for attribute, value in entry.items():
            where = f"element '{element_id}' {attribute}"
            if attribute not in ELEMENT_ATTRIBUTES:
                problems.append(f"{file_name}: {where}: unknown text (use name, documentation)")
                continue
            take(("element", element_id, attribute), value, where)
    for field_id, entry in _section(data, "fields", file_name, problems).items():
        if field_id not in field_ids:
            problems.append(f"{file_name}: form field '{field_id}' is not in the model")
            continue
        if not isinstance(entry, dict):
            problems.append(f"{file_name}: form field '{field_id}': must be an object of label / help / options")
            continue
        for attribute, value in entry.items():
            where = f"form field '{field_id}' {attribute}"
            if attribute == "options":
                if not isinstance(value, dict):
                    problems.append(f"{file_name}: {where}: must be an object of option id → name")
                    continue
                for option_id, name in value.items():
                    key = ("option", field_id, option_id)
                    if key not in source:
                        problems.append(f"{file_name}: form field '{field_id}' option '{option_id}' is not in the model")
                        continue
                    take(key, name, f"form field '{field_id}' option '{option_id}'")
            elif attribute in FIELD_ATTRIBUTES:
                take(("field", field_id, attribute), value, where)
            else:
                problems.append(f"{file_name}: {where}: unknown text (use label, help, description, placeholder, "
                                f"options)")
    for name, entry in _section(data, "variables", file_name, problems).items():
        if not isinstance(entry, dict) or set(entry) != {"label"}:
            problems.append(f"{file_name}: variable '{name}': must be an object with a label")
            continue
        take(("variable", name, "label"), entry["label"], f"variable '{name}' label")
    return found.translated, problems


def _section(data: dict, name: str, file_name: str, problems: list[str]) -> dict:
    section = data.get(name) or {}
    if not isinstance(section, dict):
        problems.append(f"{file_name}: \"{name}\" must be an object keyed by id")
        return {}
    return section


def bundle_texts(files: Iterable[Any], roots: Mapping[str, etree._Element]) -> tuple[dict[str, ModelTexts], list[str]]:
    """Each BPMN file's texts, with those of the decision files it calls, and the translation files of the
    bundle; problems name file and key.

    `files` are the bundle's ModelFiles, `roots` the parsed BPMN and DMN files by name."""
    files = list(files)
    problems: list[str] = []
    decision_files = {f.name for f in files if f.kind == "dmn" and f.name in roots}
    sources = {name: decision_source_texts(root) if name in decision_files else source_texts(root)
               for name, root in roots.items()}
    by_stem = {model_stem(name): name for name in sources}
    translations: dict[str, dict[str, dict[Key, str]]] = {name: {} for name in sources}
    for model in files:
        if not model.name.lower().endswith(".json"):
            continue
        parts = texts_file_model(model.name)
        if parts is None:
            problems.append(f"{model.name}: a translation file is named <model>.<language>.json, e.g. "
                            f"returns.zh.json")
            continue
        stem, language = parts
        if stem not in by_stem:
            problems.append(f"{model.name}: there is no model {stem}.bpmn or {stem}.dmn in the bundle to translate")
            continue
        if language_of(language) == SOURCE_LANGUAGE:
            problems.append(f"{model.name}: the model's own texts are English; translate to another language")
            continue
        model_name = by_stem[stem]
        if model_name in decision_files:
            translated, file_problems = read_decision_texts_file(model.name, model.content, sources[model_name],
                                                                 decision_outputs(roots[model_name]))
        else:
            ids = {element.get("id") for element in roots[model_name].iter(f"{{{BPMN_NS}}}*") if element.get("id")}
            translated, file_problems = read_texts_file(model.name, model.content, sources[model_name], ids)
        problems.extend(file_problems)
        translations[model_name][language_of(language)] = translated
    decisions_in = {name: set(decision_outputs(roots[name])) for name in decision_files}
    texts = {}
    for name in sources.keys() - decision_files:
        called = _called_decisions(roots[name])
        parts = [name, *sorted(d for d in decision_files if decisions_in[d] & called)]
        texts[name] = _merged([ModelTexts(sources[part], translations[part]) for part in parts])
    return texts, problems


def _called_decisions(root: etree._Element) -> set[str]:
    return {task.get(f"{{{CAMUNDA_NS}}}decisionRef").strip() for task in root.iter(f"{{{BPMN_NS}}}businessRuleTask")
            if (task.get(f"{{{CAMUNDA_NS}}}decisionRef") or "").strip()}


def _merged(parts: list[ModelTexts]) -> ModelTexts:
    """One model's texts from several files; the first file that has a text wins (the process's own first)."""
    source: dict[Key, str] = {}
    translations: dict[str, dict[Key, str]] = {}
    for part in parts:
        for key, text in part.source.items():
            source.setdefault(key, text)
        for language, translated in part.translations.items():
            for key, text in translated.items():
                translations.setdefault(language, {}).setdefault(key, text)
    return ModelTexts(source, translations)


def missing_translations(texts: ModelTexts, language: str) -> list[Key]:
    """The model's texts with no translation in the language."""
    have = texts.translations.get(language_of(language), {})
    return sorted(key for key in texts.source if key not in have)


class LocalizedProcess:
    """A parsed process as read in one language: form labels, option names and step names translated.

    It stands in for the ParsedProcess wherever a page shows the model's words; everything else (specs,
    summary fields, search text) is the process's own."""

    def __init__(self, process: Any, language: str | None):
        self._process = process
        self.language = language_of(language)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._process, name)

    @property
    def texts(self) -> ModelTexts:
        return getattr(self._process, "texts", None) or EMPTY

    @property
    def title(self) -> str:
        """The process's name in the language."""
        return self.texts.name(self._process.key, self.language, self._process.name or self._process.key)

    def step_name(self, element_id: str | None, fallback: str | None = None) -> str | None:
        return self.texts.name(element_id, self.language, fallback)

    def documentation(self, element_id: str) -> str | None:
        return self.texts.documentation(element_id, self.language)

    def form(self, fields: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
        return self.texts.form(fields or [], self.language)

    @property
    def start_form(self) -> list[dict[str, Any]]:
        return self.form(self._process.start_form)

    @property
    def form_fields(self) -> dict[str, dict]:
        if "_form_fields" not in self.__dict__:
            self.__dict__["_form_fields"] = {
                name: self.texts.form([form_field], self.language)[0]
                for name, form_field in self._process.form_fields.items()}
        return self.__dict__["_form_fields"]

    @property
    def field_labels(self) -> dict[str, str]:
        return {name: form_field.get("label") or name for name, form_field in self.form_fields.items()}

    def variable_label(self, name: str, fallback: str | None = None) -> str | None:
        return self.texts.variable_label(name, self.language, fallback)

    def display_value(self, name: str, value: Any) -> Any:
        """An enum value as its option's name in the language, a text a decision returns in the language,
        others unchanged."""
        options = self.form_fields.get(name, {}).get("options") or []
        named = next((o["name"] for o in options if o["id"] == value and o.get("name")), None)
        return named if named is not None else self.texts.value_text(name, value, self.language)
