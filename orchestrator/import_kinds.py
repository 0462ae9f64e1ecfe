"""What each spreadsheet import reads and writes: its columns, the check of one row (the same check as the door
it stands for: the start form, the trace-events API, the sales volume rules), and the write of a round of rows.

A row check takes the row's cells by column id (texts, "" when empty) and returns the values to store, or
raises RowProblems naming each bad column. The trace-event check is the API's own schema, which lives in the
web layer: it hands its checker in (`TRACE_EVENT_COLUMNS` and `trace_event_values` are the parts shared here).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.traceability.models import TraceEvent
from orchestrator.authorization import Permission
from orchestrator.forms import FormValidationError, coerce_form
from orchestrator.import_models import ImportKind
from orchestrator.metric_models import SalesVolume
from orchestrator.models import HistoryEvent, ProcessDefinition, ProcessInstance


class RowProblems(ValueError):
    """A row that cannot be imported: column id → reason."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class ImportColumn:
    id: str
    label: str
    required: bool = False


@dataclass(frozen=True)
class RowChecker:
    """The columns a kind knows, the check of one row, and the column whose value must not repeat in a file (the
    business key of a returns case, the event id of a trace event), if any."""

    columns: list[ImportColumn]
    check: Callable[[dict[str, str]], dict[str, Any]]
    unique: Callable[[dict[str, Any]], Any] | None = None
    unique_column: str | None = None


# what each kind needs; sales volumes feed every return rate, so they are changed by those who set the system up
PERMISSIONS: dict[str, tuple[Permission, ...]] = {
    ImportKind.RETURNS: (Permission.START,),
    ImportKind.TRACE_EVENTS: (Permission.RECORD_TRACE,),
    ImportKind.SALES_VOLUMES: (Permission.READ_REPORTS, Permission.DEPLOY),
}


def header_key(text: str) -> str:
    """A header compared without case, spaces, or punctuation: "Purchase date" matches "purchase_date"."""
    return re.sub(r"[\s_\-.]+", "", text).casefold()


# -- returns --------------------------------------------------------------------------------------------------
def importable_fields(form: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The start form's fields a cell can fill (files cannot)."""
    return [f for f in form if f.get("type") != "file"]


def returns_checker(form: list[dict[str, Any]], business_key_field: str | None, now: datetime) -> RowChecker:
    """A row checked exactly as the start form checks a submission (types, required, options, rules); an option
    may be given by id or by its English name; an empty cell takes the field's default; the intake source is
    "spreadsheet" unless the file says otherwise."""
    fields = importable_fields(form)
    filled = {"intakeSource"} | {f["id"] for f in fields if f.get("default") not in (None, "")}
    columns = [ImportColumn(f["id"], f.get("label") or f["id"],
                            "required" in (f.get("validation") or {}) and f["id"] not in filled) for f in fields]

    def check(cells: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for spec in fields:
            text = (cells.get(spec["id"]) or "").strip()
            if not text and spec.get("default") not in (None, ""):
                text = str(spec["default"])
            if not text and spec["id"] == "intakeSource":
                text = "spreadsheet"
            if spec.get("type") == "enum" and text:
                text = _option_id(spec, text)
            values[spec["id"]] = text
        try:
            clean = coerce_form(fields, values, now=now)
        except FormValidationError as exc:
            raise RowProblems(dict(exc.errors)) from exc
        return {name: value for name, value in clean.items() if value is not None}

    unique = (lambda values: values.get(business_key_field)) if business_key_field else None
    return RowChecker(columns, check, unique, business_key_field)


def _option_id(spec: dict[str, Any], text: str) -> str:
    for option in spec.get("options") or []:
        if text == option["id"] or text.casefold() in (str(option["id"]).casefold(),
                                                       str(option.get("name") or "").casefold()):
            return option["id"]
    return text  # the form's check names the allowed options


def returns_start_rows(session: Session, fields: list[dict[str, Any]], process_key: str = "returns",
                       limit: int = 100_000) -> list[list[Any]]:
    """Each case's start data in the import's layout (one cell per importable field), oldest first: a file that
    imports again into cases started alike."""
    query = (select(HistoryEvent.payload).join(ProcessInstance, ProcessInstance.id == HistoryEvent.instance_id)
             .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .where(ProcessDefinition.key == process_key, HistoryEvent.type == "instance_started")
             .order_by(HistoryEvent.seq).limit(limit))
    rows = []
    for payload in session.scalars(query):
        variables = (payload or {}).get("variables") or {}
        rows.append([_plain_cell(variables.get(spec["id"])) for spec in importable_fields(fields)])
    return rows


def _plain_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return value
    return json.dumps(value, ensure_ascii=False)


# -- sales volumes ----------------------------------------------------------------------------------------------
SALES_VOLUME_COLUMNS = [ImportColumn("sku", "SKU", True), ImportColumn("month", "Month", True),
                        ImportColumn("region", "Region"), ImportColumn("units", "Units", True)]
_MONTH = re.compile(r"(\d{4})-(\d{1,2})(?:-\d{1,2}(?:[T ].*)?)?")


def sales_volume_checker() -> RowChecker:
    """SKU (at most 200 characters), month as YYYY-MM (a date in it is taken for its month), region (empty:
    all regions), units ≥ 0."""

    def check(cells: dict[str, str]) -> dict[str, Any]:
        problems: dict[str, str] = {}
        sku, region = (cells.get("sku") or "").strip(), (cells.get("region") or "").strip()
        month_text, units_text = (cells.get("month") or "").strip(), (cells.get("units") or "").strip()
        if not sku:
            problems["sku"] = "is required"
        elif len(sku) > 200:
            problems["sku"] = "must be at most 200 characters"
        if len(region) > 200:
            problems["region"] = "must be at most 200 characters"
        match = _MONTH.fullmatch(month_text)
        month = None
        if not month_text:
            problems["month"] = "is required"
        elif match is None or not 1 <= int(match.group(2)) <= 12:
            problems["month"] = f"must be a month as YYYY-MM, not {month_text!r}"
        else:
            month = f"{int(match.group(1)):04d}-{int(match.group(2)):02d}"
        units = None
        try:
            units = float(units_text)
        except ValueError:
            problems["units"] = "is required" if not units_text else f"must be a number, not {units_text!r}"
        if units is not None and not (0 <= units < 1e15):
            problems["units"] = "must be a number of at least 0"
        if problems:
            raise RowProblems(problems)
        return {"sku": sku, "month": month, "region": region, "units": units}

    return RowChecker(SALES_VOLUME_COLUMNS, check, lambda v: (v["sku"], v["month"], v["region"]), "month")


def month_start(month: str) -> date:
    year, number = month.split("-")
    return date(int(year), int(number), 1)


def write_sales_volumes(session: Session, rows: list[dict[str, Any]]) -> None:
    """Upsert: a (SKU, month, region) already known gets the file's units."""
    for values in rows:
        key = (values["sku"], month_start(values["month"]), values["region"])
        row = session.get(SalesVolume, key)
        if row is None:
            session.add(SalesVolume(sku=key[0], month=key[1], region=key[2], units=values["units"]))
        else:
            row.units = values["units"]
        session.flush()


def sales_volume_rows(session: Session) -> list[list[Any]]:
    """Every sales volume in the import's layout (SKU, month, region, units), ordered."""
    query = select(SalesVolume).order_by(SalesVolume.sku, SalesVolume.month, SalesVolume.region)
    return [[row.sku, f"{row.month:%Y-%m}", row.region, row.units] for row in session.scalars(query)]


# -- trace events -----------------------------------------------------------------------------------------------
TRACE_EVENT_COLUMNS = [
    ImportColumn("eventId", "Event id"), ImportColumn("kind", "Kind", True), ImportColumn("action", "Action"),
    ImportColumn("eventTime", "Event time", True), ImportColumn("bizStep", "Business step"),
    ImportColumn("disposition", "Disposition"), ImportColumn("bizLocation", "Business location"),
    ImportColumn("sku", "SKU"), ImportColumn("lot", "Lot"), ImportColumn("quantity", "Quantity"),
    ImportColumn("epcs", "EPCs"), ImportColumn("parent", "Parent"), ImportColumn("inputs", "Inputs"),
    ImportColumn("outputs", "Outputs"), ImportColumn("destination", "Destination"),
    ImportColumn("destinationName", "Destination name"), ImportColumn("destinationKind", "Destination kind"),
    ImportColumn("contact", "Contact"), ImportColumn("source", "Source"), ImportColumn("sourceName", "Source name"),
]
_JSON_COLUMNS = ("inputs", "outputs", "contact")
# the event's attributes as the API's schema loads them (attribute name → column id)
TRACE_EVENT_ATTRIBUTES = {"event_id": "eventId", "kind": "kind", "action": "action", "event_time": "eventTime",
                          "biz_step": "bizStep", "disposition": "disposition", "biz_location": "bizLocation",
                          "sku": "sku", "lot": "lot", "quantity": "quantity", "epcs": "epcs", "parent": "parent",
                          "inputs": "inputs", "outputs": "outputs", "destination": "destination",
                          "destination_name": "destinationName", "destination_kind": "destinationKind",
                          "contact": "contact", "source": "source", "source_name": "sourceName"}


def trace_event_body(cells: dict[str, str]) -> dict[str, Any]:
    """The cells as the trace-events API's body of one event: empty cells left out, EPCs split on spaces,
    commas or semicolons, inputs / outputs / contact read as JSON. RowProblems for JSON that is not."""
    body: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for column in TRACE_EVENT_COLUMNS:
        text = (cells.get(column.id) or "").strip()
        if not text:
            continue
        if column.id == "epcs":
            body["epcs"] = [epc for epc in re.split(r"[\s,;]+", text) if epc]
        elif column.id in _JSON_COLUMNS:
            try:
                body[column.id] = json.loads(text)
            except ValueError:
                problems[column.id] = "must be JSON (a list of {sku, lot, quantity}, or an object for contact)"
        else:
            body[column.id] = text
    if problems:
        raise RowProblems(problems)
    return body


def trace_event_values(loaded: dict[str, Any]) -> dict[str, Any]:
    """The schema's loaded event as JSON to store: the time as ISO 8601."""
    return {name: (value.isoformat() if isinstance(value, datetime) else value) for name, value in loaded.items()}


def write_trace_events(session: Session, rows: list[dict[str, Any]]) -> int:
    """Record the events as the API does: an event id seen before is ignored. Returns how many were new."""
    ids = [values["event_id"] for values in rows if values.get("event_id")]
    seen = set(session.scalars(select(TraceEvent.event_id).where(TraceEvent.event_id.in_(ids)))) if ids else set()
    fresh = []
    for values in rows:
        event_id = values.get("event_id")
        if event_id and event_id in seen:
            continue
        seen.add(event_id)
        fresh.append(TraceEvent(**{**values, "event_time": datetime.fromisoformat(values["event_time"])}))
    session.add_all(fresh)
    session.flush()
    return len(fresh)


def trace_event_rows(session: Session, limit: int = 100_000) -> list[list[Any]]:
    """Recorded events in the import's layout (TRACE_EVENT_COLUMNS), oldest first."""
    query = select(TraceEvent).order_by(TraceEvent.event_time, TraceEvent.id).limit(limit)
    return [trace_event_cells(event) for event in session.scalars(query)]


def trace_event_cells(event: TraceEvent) -> list[Any]:
    cells: list[Any] = []
    for attribute in TRACE_EVENT_ATTRIBUTES:
        value = getattr(event, attribute)
        if attribute == "epcs":
            value = " ".join(value or [])
        elif attribute in ("inputs", "outputs", "contact"):
            value = json.dumps(value, ensure_ascii=False) if value else ""
        elif attribute == "event_time":
            value = value.isoformat()
        elif attribute == "quantity" and value is not None:
            value = float(value)
        cells.append("" if value is None else value)
    return cells
