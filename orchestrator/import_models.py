"""The spreadsheet import tables: one upload (its kind, counts, errors and progress) and its valid rows."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime


class ImportKind(enum.StrEnum):
    RETURNS = "returns"  # one returns case per row, started from the start form's fields
    TRACE_EVENTS = "trace_events"  # EPCIS-style events, as the trace-events API records them
    SALES_VOLUMES = "sales_volumes"  # units sold per SKU, month and region, upserted


class ImportStatus(enum.StrEnum):
    PREVIEWED = "previewed"  # read and checked; nothing imported until someone starts it
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # every row failed
    DISCARDED = "discarded"  # dropped after the preview: never imported


class SpreadsheetImport(Base):
    """An uploaded file, checked: counts and the first errors (row, column, reason). Its valid rows wait in
    `spreadsheet_import_row`; `position` is the row number of the last one imported, so a round killed midway
    resumes at the next row."""

    __tablename__ = "spreadsheet_import"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), index=True)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)  # data rows in the file
    valid_rows: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)  # problems found (a row may have several)
    errors: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)  # [row, column, reason], the first 1,000
    columns: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"used": {...}, "ignored": [...]}
    requested_by: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)  # the requester's roles, for the background run
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    position: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)  # [row, reason], the first 1,000
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a sweep's lease on its round


class SpreadsheetImportRow(Base):
    """One valid row, its values as they will be imported (typed by the kind's checks)."""

    __tablename__ = "spreadsheet_import_row"
    import_id: Mapped[int] = mapped_column(ForeignKey("spreadsheet_import.id", ondelete="CASCADE"),
                                           primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)  # as the spreadsheet numbers it
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
