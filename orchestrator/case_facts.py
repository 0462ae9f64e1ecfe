"""What a decision needs to see: the facts a user task declares, and a label for each variable a model names.

A user task declares its facts with the camunda property ``facts`` (Modeler: task → Extensions), a
comma-separated list of:

- ``grade`` — a case variable;
- ``partnersAcknowledged/partnerCount`` — progress, read "3 of 5";
- ``countersign_root_cause.countersignVerdict`` — each value that task captured since this task was last
  completed (one per parallel countersignature), from the case's history.

Labels come from the form fields (start form first), then the task properties ``label.<variable>``, then
the outputs of the model's decision tables, each in the model's translation when read in a language. A
variable without a label is technical."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.definitions import ParsedProcess
from orchestrator.parser import extensions_of
from orchestrator.views import HistoryEventView

FACTS_PROPERTY = "facts"
LABEL_PREFIX = "label."


@dataclass(frozen=True)
class FactSpec:
    variable: str
    total: str | None = None  # "done/total": progress
    element_id: str | None = None  # "task.variable": what that task captured


@dataclass(frozen=True)
class Captured:
    """One completion of an earlier task: who (its groups, its person) and the value they gave."""

    groups: tuple[str, ...]
    actor: str
    value: Any


@dataclass(frozen=True)
class Fact:
    variable: str
    label: str
    value: Any = None  # the variable's value ("value"), or the done count ("progress")
    total: Any = None
    captured: tuple[Captured, ...] = ()

    @property
    def kind(self) -> str:
        if self.captured:
            return "captured"
        return "progress" if self.total is not None else "value"


def parse_facts(text: str | None) -> list[FactSpec]:
    """The entries of a ``facts`` property, in order; blanks are skipped."""
    specs = []
    for entry in (text or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        if "/" in entry:
            done, total = (part.strip() for part in entry.split("/", 1))
            specs.append(FactSpec(done, total=total))
        elif "." in entry:
            element_id, variable = (part.strip() for part in entry.rsplit(".", 1))
            specs.append(FactSpec(variable, element_id=element_id))
        else:
            specs.append(FactSpec(entry))
    return specs


def _task_specs(model: ParsedProcess) -> Iterable[Any]:
    for process in (model.spec, *model.subprocess_specs.values()):
        yield from process.task_specs.values()


def _properties(spec) -> dict[str, str]:
    return extensions_of(spec).get("properties") or {}


def declared_facts(model: ParsedProcess, element_id: str) -> list[FactSpec]:
    """The facts the user task `element_id` declares (none when it declares none)."""
    for spec in _task_specs(model):
        if getattr(spec, "bpmn_id", None) == element_id:
            return parse_facts(_properties(spec).get(FACTS_PROPERTY))
    return []


def _labels(model: ParsedProcess) -> dict[str, str]:
    labels: dict[str, str] = {}
    for spec in _task_specs(model):
        table = getattr(getattr(spec, "dmnEngine", None), "table", None)
        if table is not None and not getattr(spec.dmnEngine, "result_variable", None):
            for output in getattr(table, "outputs", ()):
                if output.label and output.label != output.name:
                    labels[output.name] = output.label
    for spec in _task_specs(model):
        for name, value in _properties(spec).items():
            if name.startswith(LABEL_PREFIX) and value:
                labels[name[len(LABEL_PREFIX):]] = value
    # a LocalizedProcess reads them in its language (orchestrator.model_texts); form labels come translated
    texts, language = getattr(model, "texts", None), getattr(model, "language", None)
    if texts is not None:
        labels = {name: texts.variable_label(name, language, label) for name, label in labels.items()}
    for name, field_ in model.form_fields.items():
        if field_.get("label"):
            labels[name] = field_["label"]
    return labels


def variable_labels(model: ParsedProcess) -> dict[str, str]:
    """The label of every variable the model names; a variable missing here is technical. Kept on the
    (cached, per deployed definition) model."""
    if "_variable_labels" not in model.__dict__:
        model.__dict__["_variable_labels"] = _labels(model)
    return model.__dict__["_variable_labels"]


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _captured_since(history: Iterable[HistoryEventView], source: str, current: str) -> list[tuple[HistoryEventView,
                                                                                                  tuple[str, ...]]]:
    """task_completed events of `source` after the last completion of `current`, with their task's groups."""
    groups: dict[str, tuple[str, ...]] = {}
    found: list[tuple[HistoryEventView, tuple[str, ...]]] = []
    for event in history:
        if event.type == "task_created" and event.task_id:
            groups[event.task_id] = tuple(event.payload.get("candidate_groups") or ())
        elif event.type == "task_completed" and event.element_id == current:
            found = []
        elif event.type == "task_completed" and event.element_id == source:
            found.append((event, groups.get(event.task_id or "", ())))
    return found


def resolve_facts(model: ParsedProcess, element_id: str, variables: dict[str, Any],
                  history: Iterable[HistoryEventView] = ()) -> list[Fact]:
    """The declared facts of the task with their values; facts without a value are left out."""
    labels = variable_labels(model)
    history = list(history)
    facts = []
    for spec in declared_facts(model, element_id):
        label = labels.get(spec.variable, spec.variable)
        if spec.element_id is not None:
            captured = tuple(Captured(groups, event.actor, event.payload["values"][spec.variable])
                             for event, groups in _captured_since(history, spec.element_id, element_id)
                             if not _blank((event.payload.get("values") or {}).get(spec.variable)))
            if captured:
                facts.append(Fact(spec.variable, label, captured=captured))
        elif spec.total is not None:
            done, total = variables.get(spec.variable), variables.get(spec.total)
            if not _blank(total):
                facts.append(Fact(spec.variable, label, value=0 if _blank(done) else done, total=total))
        elif not _blank(variables.get(spec.variable)):
            facts.append(Fact(spec.variable, label, value=variables[spec.variable]))
    return facts
