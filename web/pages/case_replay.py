"""The case page's replay, as the data its script steps through: each recorded command with its time in the
reader's zone, who acted, the steps it passed and the values entered, in the reader's language."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.case_facts import variable_labels
from orchestrator.case_view import CaseView
from orchestrator.definitions import ParsedProcess
from orchestrator.replay import replay_steps
from web.model_texts import step_name
from web.pages.case_data import entered_values, shown
from web.pages.labels import label
from web.time_display import absolute_text, as_utc, duration, reader_zone


def replay_data(case: CaseView, model: ParsedProcess) -> dict[str, Any]:
    """{"steps": [...], "names": {element id: name}}: variables only as changes (the script folds them), so a
    long case does not repeat its whole data at every step."""
    zone = reader_zone()
    steps, named = [], set()
    for step in replay_steps(case.history):
        local = as_utc(step.at).astimezone(zone)
        named.update(step.passed, step.cancelled, step.failed, step.waiting or ())
        steps.append({
            "n": step.number,
            "at": absolute_text(step.at, zone, "second"),
            "local": local.strftime("%Y-%m-%dT%H:%M:%S"),  # compared as text with a datetime-local value
            "actor": step.actor,
            "what": [label("event", kind) for kind in step.types],
            "passed": list(step.passed), "cancelled": list(step.cancelled), "failed": list(step.failed),
            "waiting": None if step.waiting is None else list(step.waiting),
            # values as the case page shows them (option names, decision texts in the reader's language)
            "set": {name: _text(shown(model, name, value)) for name, value in step.set.items()},
            "unset": list(step.unset),
            "values": [[shown_label, _text(value)] for shown_label, value in entered_values(model, step.values)],
            "spent": duration(step.seconds_since_previous) if step.number > 1 else "",
        })
    definition_id = case.definition.id
    return {"steps": steps, "names": {element: step_name(definition_id, element) for element in sorted(named)},
            "labels": variable_labels(model)}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
