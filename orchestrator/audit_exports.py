"""Audit exports: a case's audit bundle, and history events across cases as CSV or XLSX. Exports read only:
they change nothing and record nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.actors import Actor
from orchestrator.audit_bundle import AuditBundle, CaseAudit, build_bundle, read_case_audit
from orchestrator.authorization import Permission, require
from orchestrator.engine import CommandGroup
from orchestrator.errors import InvalidInput
from orchestrator.event_export import (
    MAX_EXPORT_ROWS,
    EventExport,
    EventFilter,
    EventRow,
    ExportFile,
    count_events,
    events_csv,
    events_xlsx,
    read_events,
)

FORMATS = {"csv": events_csv, "xlsx": events_xlsx}


@dataclass(frozen=True)
class EventPreview:
    """The first matching events and how many match (counted up to the export's cap, then `more`)."""

    rows: tuple[EventRow, ...]
    matching: int
    more: bool
    cap: int


class AuditExports(CommandGroup):
    def case_audit(self, actor: Actor, instance_id: str) -> CaseAudit:
        """What a case's bundle holds, read at one moment; NotFound unless the actor may read the case."""
        return read_case_audit(self.core, actor, instance_id)

    def case_bundle(self, actor: Actor, instance_id: str,
                    render_report: Callable[[CaseAudit], bytes]) -> AuditBundle:
        """The case's audit bundle as a zip; `render_report` draws case.pdf (the caller knows the reader's
        language). NotFound unless the actor may read the case."""
        return build_bundle(self.core, actor, instance_id, render_report)

    def export_events(self, actor: Actor, criteria: EventFilter, limit: int | None = None) -> EventExport:
        """The oldest `limit` (at most MAX_EXPORT_ROWS) matching events of every case (Permission.READ_ALL)."""
        require(actor, Permission.READ_ALL)
        limit = MAX_EXPORT_ROWS if limit is None else limit
        if not 1 <= limit <= MAX_EXPORT_ROWS:
            raise InvalidInput("invalid limit", {"limit": f"must be 1..{MAX_EXPORT_ROWS}"})
        with self.core.db.reading() as session:
            rows, capped = read_events(session, criteria, limit)
        return EventExport(criteria, tuple(rows), capped, limit, self.core.now(), actor.name)

    def events_file(self, actor: Actor, criteria: EventFilter, file_format: str) -> ExportFile:
        """The matching events as a CSV or XLSX file (Permission.READ_ALL)."""
        writer = FORMATS.get(file_format)
        if writer is None:
            raise InvalidInput("unknown format", {"format": f"must be one of {', '.join(FORMATS)}"})
        return writer(self.export_events(actor, criteria))

    def preview_events(self, actor: Actor, criteria: EventFilter, first: int = 20) -> EventPreview:
        """The first matching events and their count, for the export page (Permission.READ_ALL)."""
        require(actor, Permission.READ_ALL)
        with self.core.db.reading() as session:
            rows, _more = read_events(session, criteria, first)
            matching = count_events(session, criteria, MAX_EXPORT_ROWS + 1)
        return EventPreview(tuple(rows), min(matching, MAX_EXPORT_ROWS), matching > MAX_EXPORT_ROWS,
                            MAX_EXPORT_ROWS)
