"""The row checks of spreadsheet imports that live in the web layer: a trace event is checked by the trace-events
API's own schema, so a file and the API accept exactly the same events."""

from __future__ import annotations

from flask import current_app
from marshmallow import ValidationError

from orchestrator.import_kinds import (
    TRACE_EVENT_COLUMNS,
    RowChecker,
    RowProblems,
    trace_event_body,
    trace_event_values,
)
from orchestrator.import_models import ImportKind
from orchestrator.spreadsheet_imports import SpreadsheetImports
from web.extensions import ENGINE_KEY


def check_trace_event(cells: dict[str, str]) -> dict:
    from web.api.traceability import TraceEventSchema  # here: the API package imports this module

    try:
        loaded = TraceEventSchema().load(trace_event_body(cells))
    except ValidationError as exc:
        raise RowProblems({name: _first(messages) for name, messages in exc.messages.items()}) from exc
    return trace_event_values(loaded)


def _first(messages) -> str:
    """The first message of a field (nested fields: the first one found, as text)."""
    while isinstance(messages, list | dict) and messages:
        messages = messages[0] if isinstance(messages, list) else next(iter(messages.values()))
    return str(messages)


def trace_event_checker() -> RowChecker:
    return RowChecker(TRACE_EVENT_COLUMNS, check_trace_event, lambda values: values.get("event_id"), "eventId")


def checker_for(kind: str) -> RowChecker | None:
    """The web layer's checker of the kind, or None: the orchestrator has its own."""
    return trace_event_checker() if kind == ImportKind.TRACE_EVENTS else None


def spreadsheet_imports() -> SpreadsheetImports:
    """The import commands on the app's engine."""
    built = current_app.extensions[ENGINE_KEY]  # not web.pages.common: the pages package imports this module
    return SpreadsheetImports(built, built.start_forms)
