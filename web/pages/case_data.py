"""A case's data as people read it: labelled by the model, grouped by the step that captured it, values shown
by their option names and dates in the reader's language; the facts a task's decision needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import format_date, format_decimal
from flask_babel import gettext as _

from orchestrator.case_facts import Fact, resolve_facts, variable_labels
from orchestrator.definitions import ParsedProcess
from orchestrator.views import HistoryEventView, InstanceView
from web.pages.labels import group_names

START_STEP = "__start__"


@dataclass
class DataGroup:
    title: str
    rows: list[tuple[str, Any]] = field(default_factory=list)


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _is_attachment(value: Any) -> bool:
    if isinstance(value, dict):
        return "attachmentId" in value
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and "attachmentId" in v for v in value)


def shown(model: ParsedProcess, name: str, value: Any) -> Any:
    """A value as a person reads it: option names, dates in their language, lists joined, records as
    "key: value" pairs. Files and yes/no stay as they are (the template links and translates them)."""
    if isinstance(value, bool) or _is_attachment(value):
        return value
    field_ = model.form_fields.get(name) or {}
    if field_.get("type") == "enum" or field_.get("options"):
        return model.display_value(name, value)
    if field_.get("type") == "date" and isinstance(value, str):
        try:
            return format_date(date.fromisoformat(value[:10]), "medium")
        except ValueError:
            return value
    if isinstance(value, datetime | date):
        return format_date(value, "medium")
    if isinstance(value, float):
        return format_decimal(value)
    if isinstance(value, list):
        return ", ".join(str(shown(model, name, v)) for v in value if not _blank(v))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {shown(model, k, v)}" for k, v in value.items() if not _blank(v))
    return model.display_value(name, value)  # a text a decision returns, in the reader's language


def fact_rows(model: ParsedProcess, facts: list[Fact]) -> list[dict[str, Any]]:
    """Each fact as label and shown value; progress as "3 of 5 (60 %)", captured values one line each."""
    rows = []
    for fact in facts:
        if fact.kind == "captured":
            entries = [(group_names(c.groups) or c.actor, c.actor, shown(model, fact.variable, c.value))
                       for c in fact.captured]
            rows.append({"label": fact.label, "entries": entries})
        elif fact.kind == "progress":
            text = _("%(done)s of %(total)s", done=fact.value, total=fact.total)
            if isinstance(fact.value, int | float) and isinstance(fact.total, int | float) and fact.total > 0:
                text += f" ({round(100 * fact.value / fact.total)} %)"
            rows.append({"label": fact.label, "value": text})
        else:
            rows.append({"label": fact.label, "value": shown(model, fact.variable, fact.value)})
    return rows


def entered_values(model: ParsedProcess, values: dict[str, Any]) -> list[tuple[str, Any]]:
    """What a step captured, for the timeline: each value by its label and as shown on the case page."""
    labels = variable_labels(model)
    return [(labels.get(name, name), shown(model, name, value)) for name, value in values.items()]


def task_facts(model: ParsedProcess, element_id: str, variables: dict[str, Any],
               history: list[HistoryEventView]) -> list[dict[str, Any]]:
    return fact_rows(model, resolve_facts(model, element_id, variables, history))


def _step_names(model: ParsedProcess, history: list[HistoryEventView]) -> dict[str, str]:
    names = {}
    for process in (model.spec, *model.subprocess_specs.values()):
        for spec in process.task_specs.values():
            if getattr(spec, "bpmn_id", None) and getattr(spec, "bpmn_name", None):
                names.setdefault(spec.bpmn_id, spec.bpmn_name)
    for event in history:
        if event.type == "task_created" and event.element_id and event.payload.get("name"):
            names[event.element_id] = event.payload["name"]
    step_name = getattr(model, "step_name", None)  # a LocalizedProcess names the steps in the reader's language
    return {element_id: step_name(element_id, name) for element_id, name in names.items()} if step_name else names


def case_data(model: ParsedProcess, instance: InstanceView, history: list[HistoryEventView]) -> dict[str, Any]:
    """The case's summary fields, then every other labelled variable grouped by the step that last captured
    it (in the order of the steps), then the unlabelled ones as technical data. Empty values are left out."""
    labels = variable_labels(model)
    variables = {n: v for n, v in (instance.variables or {}).items() if not n.startswith("_") and not _blank(v)}
    captured_by: dict[str, tuple[int, str]] = {}  # variable → (seq, element id) of its last capture
    for event in history:
        if event.type == "instance_started":
            for name in event.payload.get("variables") or {}:
                captured_by[name] = (event.seq, START_STEP)
        elif event.type == "task_completed" and event.element_id:
            for name in event.payload.get("values") or {}:
                captured_by[name] = (event.seq, event.element_id)
    steps = _step_names(model, history)
    summary = [(labels.get(n, n), shown(model, n, variables[n])) for n in model.summary_fields if n in variables]
    grouped: dict[str, tuple[int, DataGroup]] = {}
    computed = DataGroup(_("Worked out by the process"))
    technical = DataGroup(_("Technical"))
    for name in sorted(variables, key=lambda n: (captured_by.get(n, (0, ""))[0], n)):
        if name in model.summary_fields:
            continue
        row_label = labels.get(name)
        value = shown(model, name, variables[name])
        if row_label is None:
            technical.rows.append((name, value))
            continue
        if name not in captured_by:
            computed.rows.append((row_label, value))
            continue
        seq, element_id = captured_by[name]
        if element_id not in grouped:
            name_of = getattr(model, "step_name", None)  # the model's words in the reader's language
            step = steps.get(element_id, element_id)
            title = (_("When the case was opened") if element_id == START_STEP
                     else (name_of(element_id, step) if name_of else step) or step)
            grouped[element_id] = (seq, DataGroup(title))
        grouped[element_id][1].rows.append((row_label, value))
    groups = [group for _seq, group in sorted(grouped.values(), key=lambda item: item[0])]
    if computed.rows:
        groups.append(computed)
    count = sum(len(g.rows) for g in groups)
    return {"summary": summary, "groups": groups, "technical": technical.rows, "count": count}
