"""History events across cases, filtered, as rows and as CSV or XLSX files: for auditors and others who read
every case (Permission.READ_ALL).

An export holds at most MAX_EXPORT_ROWS events, oldest first; one that matched more says so (`capped`). Text
that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a carriage return) is
neutralised: in CSV it gets a leading apostrophe, in XLSX it is stored as text marked "quoted" (the value
kept as recorded, never a formula)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from sqlalchemy import Select, func, select

from orchestrator.models import HistoryEvent, ProcessDefinition, ProcessInstance
from orchestrator.spreadsheet_files import (  # noqa: F401  (the names this module's readers import from it)
    CSV_MEDIA_TYPE,
    FORMULA_STARTS,
    XLSX_MAX_CELL,
    XLSX_MEDIA_TYPE,
    ExportFile,
    Table,
    csv_chunks,
    neutralised,
    xlsx_text_cell,
)

MAX_EXPORT_ROWS = 100_000
COLUMNS = ("case id", "business key", "process", "process version", "seq", "at", "type", "actor", "element id",
           "task id", "payload", "hash")


@dataclass(frozen=True)
class EventFilter:
    """Which events: every condition given must hold. `after` ≤ event time < `before`."""

    process_key: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    types: tuple[str, ...] = ()
    business_key: str | None = None
    instance_id: str | None = None
    actor: str | None = None

    def describe(self) -> list[tuple[str, str]]:
        """The conditions given, as (name, value), for the file's notes."""
        values = [("process", self.process_key), ("event time from", _iso(self.after)),
                  ("event time before", _iso(self.before)), ("types", ", ".join(self.types) or None),
                  ("business key", self.business_key), ("case id", self.instance_id), ("actor", self.actor)]
        return [(name, value) for name, value in values if value]


@dataclass(frozen=True)
class EventRow:
    instance_id: str
    business_key: str | None
    process_key: str | None
    process_version: int | None
    seq: int
    at: datetime
    type: str
    actor: str
    element_id: str | None
    task_id: str | None
    payload: dict[str, Any]
    hash: str

    def cells(self) -> tuple[Any, ...]:
        """The row in COLUMNS order: `at` as ISO 8601 in UTC, the payload as JSON."""
        return (self.instance_id, self.business_key, self.process_key, self.process_version, self.seq,
                self.at.isoformat(), self.type, self.actor, self.element_id, self.task_id,
                json.dumps(self.payload, ensure_ascii=False, sort_keys=True, default=str), self.hash)


@dataclass(frozen=True)
class EventExport:
    criteria: EventFilter
    rows: tuple[EventRow, ...]
    capped: bool  # more events matched than `limit`: only the oldest `limit` are here
    limit: int
    exported_at: datetime
    exported_by: str


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def events_query(criteria: EventFilter) -> Select:
    """The matching events with their case's business key and process, oldest first (by seq). Events whose
    case row is gone are kept unless a process or business key is asked for."""
    query = (select(HistoryEvent.instance_id, ProcessInstance.business_key, ProcessDefinition.key,
                    ProcessDefinition.version, HistoryEvent.seq, HistoryEvent.at, HistoryEvent.type,
                    HistoryEvent.actor, HistoryEvent.element_id, HistoryEvent.task_id, HistoryEvent.payload,
                    HistoryEvent.hash)
             .outerjoin(ProcessInstance, ProcessInstance.id == HistoryEvent.instance_id)
             .outerjoin(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .order_by(HistoryEvent.seq))
    conditions = [
        ProcessDefinition.key == criteria.process_key if criteria.process_key else None,
        HistoryEvent.at >= criteria.after if criteria.after else None,
        HistoryEvent.at < criteria.before if criteria.before else None,
        HistoryEvent.type.in_(sorted(set(criteria.types))) if criteria.types else None,
        ProcessInstance.business_key == criteria.business_key if criteria.business_key else None,
        HistoryEvent.instance_id == criteria.instance_id if criteria.instance_id else None,
        HistoryEvent.actor == criteria.actor if criteria.actor else None,
    ]
    return query.where(*[c for c in conditions if c is not None])


def read_events(session, criteria: EventFilter, limit: int) -> tuple[list[EventRow], bool]:
    """At most `limit` rows, and whether more matched."""
    rows = [EventRow(*row) for row in session.execute(events_query(criteria).limit(limit + 1))]
    return rows[:limit], len(rows) > limit


def count_events(session, criteria: EventFilter, up_to: int) -> int:
    """How many events match, counting no further than `up_to` (a count of a huge table stays cheap)."""
    matching = events_query(criteria).with_only_columns(HistoryEvent.seq).order_by(None).limit(up_to).subquery()
    return session.scalar(select(func.count()).select_from(matching))


def _file_stem(export: EventExport) -> str:
    return f"events-{export.exported_at:%Y%m%dT%H%M%SZ}"


def events_csv(export: EventExport) -> ExportFile:
    """UTF-8 with a byte-order mark (so spreadsheets read non-ASCII right), a header row, one row per event."""
    content = b"".join(csv_chunks(Table("Events", COLUMNS, (row.cells() for row in export.rows))))
    return ExportFile(f"{_file_stem(export)}.csv", CSV_MEDIA_TYPE, content, len(export.rows), export.capped)


def events_xlsx(export: EventExport) -> ExportFile:
    """A sheet "Events" (header row frozen) and a sheet "Export" naming the filter, who exported when, and
    whether the rows were capped. Every text is stored as text, never as a formula."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Events")
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDEFGHIJKL", (38, 18, 18, 8, 10, 34, 20, 18, 22, 38, 60, 66), strict=True):
        sheet.column_dimensions[letter].width = width
    bold = Font(bold=True)
    header = []
    for name in COLUMNS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)

    def text_cell(value: str) -> WriteOnlyCell | str:
        return xlsx_text_cell(sheet, value)

    for row in export.rows:
        sheet.append([text_cell(cell) if isinstance(cell, str) else cell for cell in row.cells()])
    notes = workbook.create_sheet("Export")
    notes.append([WriteOnlyCell(notes, value="Loopline history events")])
    for name, value in [("exported at", _iso(export.exported_at)), ("exported by", export.exported_by),
                        ("rows", str(len(export.rows))), *export.criteria.describe()]:
        notes.append([name, text_cell(value) if isinstance(value, str) else value])
    if export.capped:
        notes.append(["capped", text_cell(f"more events matched; these are the oldest {export.limit:,}. "
                                          "Narrow the filter (a shorter time range) to get the rest.")])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return ExportFile(f"{_file_stem(export)}.xlsx", XLSX_MEDIA_TYPE, buffer.getvalue(), len(export.rows),
                      export.capped)
